"""Variables found in an environment, for bring-your-own tasks (``variables: auto``).

Builds one instance of the environment and names what it sees:

- a Dict observation: one variable per key, ``obs["key"]``;
- a Box observation: ``observation``, the whole vector (name slices yourself for more meaning);
- a MuJoCo model: every named body's position and every joint's position and velocity, through
  the ``MujocoState`` wrapper (added to the task automatically);
- always ``action``.

``task_template`` writes the same as an editable task file (what ``variables: auto`` would give),
so a user can start from it and rename, describe and trim.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import yaml

from rewardforge.errors import TaskError, TaskFileError
from rewardforge.tasks.envs import make_single_env
from rewardforge.tasks.mujoco import discover_mujoco_variables
from rewardforge.tasks.mujoco import identifier as ident
from rewardforge.tasks.spec import EnvSpec, Variable, Wrapper

MUJOCO_STATE = "rewardforge.tasks.mujoco:MujocoState"


def _space_variable(space: gym.Space[Any], source: str, description: str) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Discrete):
        return {"shape": [], "dtype": "int64", "description": description, "source": source}
    if isinstance(space, gym.spaces.Box):
        dtype = "bool" if space.dtype == np.bool_ else str(np.dtype(space.dtype))
        if dtype not in ("float32", "float64", "int32", "int64", "bool"):
            dtype = "float64"
        return {
            "shape": list(space.shape),
            "dtype": dtype,
            "description": description,
            "source": source,
        }
    raise TaskError(f"cannot make a variable of a {type(space).__name__} space ({source})")


def discover(env: gym.Env) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``(variables as task-file mappings, wrappers as task-file entries)`` for ``env``."""
    variables: dict[str, dict[str, Any]] = {}
    space = env.observation_space
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            variables[ident(key)] = _space_variable(
                sub, f'obs["{key}"]', f"observation key {key!r}"
            )
    else:
        variables["observation"] = _space_variable(space, "obs", "the observation vector")
    wrappers: list[dict[str, Any]] = []
    found, kwargs = discover_mujoco_variables(env)
    if found:
        variables.update({k: v for k, v in found.items() if k not in variables})
        wrappers.append({"wrapper": MUJOCO_STATE, "kwargs": kwargs})
    if "action" not in variables:
        variables["action"] = _space_variable(env.action_space, "action", "the action taken")
    return variables, wrappers


def discover_variables(
    env: EnvSpec, origin: str
) -> tuple[dict[str, Variable], tuple[Wrapper, ...]]:
    """What ``variables: auto`` in task file ``origin`` resolves to."""
    try:
        instance = make_single_env(env)
    except TaskError as exc:
        raise TaskFileError(
            f"task file {origin}: variables: auto could not build the env: {exc}"
        ) from exc
    try:
        found, wrappers = discover(instance)
    finally:
        instance.close()
    variables = {
        name: Variable.model_validate({**spec, "name": name}) for name, spec in found.items()
    }
    return variables, tuple(Wrapper.model_validate(w) for w in wrappers)


def task_template(env_id: str | None = None, entry_point: str | None = None, **kwargs: Any) -> str:
    """An editable task file for an environment, with its variables written out."""
    env = EnvSpec(id=env_id, entry_point=entry_point, kwargs=kwargs)
    instance = make_single_env(env)
    try:
        variables, wrappers = discover(instance)
        spec = getattr(instance, "spec", None)
        max_steps = getattr(spec, "max_episode_steps", None) or 1000
    finally:
        instance.close()
    name = (env_id or str(entry_point)).split(":")[-1].split("/")[-1].lower()
    env_section: dict[str, Any] = {"id": env_id} if env_id else {"entry_point": entry_point}
    if kwargs:
        env_section["kwargs"] = kwargs
    if wrappers:
        env_section["wrappers"] = wrappers
    first = next(iter(variables))
    data = {
        "id": name,
        "description": f"TODO: describe the goal of {env_id or entry_point} in plain words.",
        "env": env_section,
        "max_episode_steps": int(max_steps),
        "variables": variables,
        "success": {
            "code": f"def is_success({first}):\n    # TODO: the task's goal\n"
            f"    return np.zeros(len({first}), dtype=bool)\n",
            "aggregate": "any",
        },
    }
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=None)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (code) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
