"""MuJoCo state as task variables: a per-sub-environment wrapper that copies named bodies, joints,
sites, contact forces and environment attributes into ``info`` inside ``step()``.

Autoreset happens in the same step, so the simulator read after a vector step already holds the
reset state of environments that finished. Reading the state inside each sub-environment's
``step()`` (before the reset) puts it in ``info``, and the final step's ``info`` reaches the task's
variables. A task file asks for it::

    env:
      id: Hopper-v5
      wrappers:
        - wrapper: rewardforge.tasks.mujoco:MujocoState
          kwargs: {bodies: [torso], joints: [rooty], attributes: [is_healthy]}
    variables:
      torso_pos: {shape: [3], unit: m, source: 'info["body_pos/torso"]'}

Info keys: ``body_pos/<body>`` (3, world frame), ``body_vel/<body>`` (3, linear velocity, world
frame), ``joint_qpos/<joint>`` and ``joint_qvel/<joint>`` (1 for hinge and slide joints, 7 and 6
for free joints, 4 and 3 for ball joints), ``site_pos/<site>`` (3), ``contact_force/<body>`` (6,
torque then force, ``cfrc_ext``), and ``<attribute>`` for each attribute of the unwrapped env.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from rewardforge.errors import MissingExtraError, TaskError, did_you_mean

_QPOS_SIZE = {0: 7, 1: 4, 2: 1, 3: 1}  # mjtJoint: free, ball, slide, hinge
_QVEL_SIZE = {0: 6, 1: 3, 2: 1, 3: 1}


def _mujoco() -> Any:
    try:
        import mujoco
    except ModuleNotFoundError:
        raise MissingExtraError("mujoco", "mujoco", "MuJoCo variables") from None
    return mujoco


def mujoco_model(env: gym.Env) -> tuple[Any, Any] | None:
    """``(model, data)`` of a MuJoCo environment, or None for any other environment."""
    unwrapped = env.unwrapped
    model, data = getattr(unwrapped, "model", None), getattr(unwrapped, "data", None)
    if model is None or data is None or type(model).__name__ != "MjModel":
        return None
    return model, data


def _names(model: Any, kind: str) -> list[str]:
    count = {"body": model.nbody, "joint": model.njnt, "site": model.nsite}[kind]
    getter = getattr(model, kind)
    return [getter(i).name for i in range(count)]


def model_names(env: gym.Env) -> dict[str, list[str]]:
    """Named bodies (without the world), joints and sites of a MuJoCo environment."""
    found = mujoco_model(env)
    if found is None:
        return {"body": [], "joint": [], "site": []}
    model, _ = found
    names = {kind: [n for n in _names(model, kind) if n] for kind in ("body", "joint", "site")}
    names["body"] = [n for n in names["body"] if n != "world"]
    return names


def _resolve(model: Any, kind: str, wanted: Sequence[str] | str) -> list[tuple[str, int]]:
    """``[(name, id)]``; ``"all"`` takes every named object (bodies without the world)."""
    all_names = _names(model, kind)
    if wanted == "all":
        return [(n, i) for i, n in enumerate(all_names) if n and n != "world"]
    out = []
    for name in wanted:
        if name not in all_names:
            raise TaskError(
                f"MujocoState: the model has no {kind} named {name!r}."
                f"{did_you_mean(name, [n for n in all_names if n])} "
                f"Its {kind}s: {', '.join(n for n in all_names if n)}"
            )
        out.append((name, all_names.index(name)))
    return out


class MujocoState(gym.Wrapper):
    """Copies named MuJoCo state into ``info`` at every step and reset (see the module doc)."""

    def __init__(
        self,
        env: gym.Env,
        bodies: Sequence[str] | str = (),
        body_velocities: Sequence[str] | str = (),
        joints: Sequence[str] | str = (),
        sites: Sequence[str] | str = (),
        contact_forces: Sequence[str] | str = (),
        attributes: Sequence[str] = (),
    ) -> None:
        super().__init__(env)
        mujoco = _mujoco()
        found = mujoco_model(env)
        if found is None:
            raise TaskError(
                f"MujocoState wraps MuJoCo environments; {env.unwrapped!r} has no MjModel"
            )
        self._mj = mujoco
        self._model, _ = found
        model = self._model
        self._bodies = _resolve(model, "body", bodies)
        self._body_vels = _resolve(model, "body", body_velocities)
        self._sites = _resolve(model, "site", sites)
        self._contacts = _resolve(model, "body", contact_forces)
        self._joints = [
            (
                name,
                int(model.jnt_qposadr[i]),
                _QPOS_SIZE[int(model.jnt_type[i])],
                int(model.jnt_dofadr[i]),
                _QVEL_SIZE[int(model.jnt_type[i])],
            )
            for name, i in _resolve(model, "joint", joints)
        ]
        for attr in attributes:
            if not hasattr(env.unwrapped, attr):
                raise TaskError(
                    f"MujocoState: {type(env.unwrapped).__name__} has no attribute {attr!r}"
                )
        self._attributes = tuple(attributes)
        self._vel = np.zeros(6)

    def _state(self) -> dict[str, Any]:
        data = self.env.unwrapped.data  # type: ignore[attr-defined]
        out: dict[str, Any] = {}
        for name, i in self._bodies:
            out[f"body_pos/{name}"] = data.xpos[i].copy()
        for name, i in self._body_vels:
            self._mj.mj_objectVelocity(
                self._model, data, self._mj.mjtObj.mjOBJ_BODY, i, self._vel, 0
            )
            out[f"body_vel/{name}"] = self._vel[3:].copy()
        for name, qadr, nq, vadr, nv in self._joints:
            qpos, qvel = data.qpos[qadr : qadr + nq], data.qvel[vadr : vadr + nv]
            out[f"joint_qpos/{name}"] = float(qpos[0]) if nq == 1 else qpos.copy()
            out[f"joint_qvel/{name}"] = float(qvel[0]) if nv == 1 else qvel.copy()
        for name, i in self._sites:
            out[f"site_pos/{name}"] = data.site_xpos[i].copy()
        for name, i in self._contacts:
            out[f"contact_force/{name}"] = data.cfrc_ext[i].copy()
        for attr in self._attributes:
            out[attr] = getattr(self.env.unwrapped, attr)
        return out

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, **self._state()}

    def step(self, action: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, **self._state()}


def identifier(name: str) -> str:
    """A variable name from a MuJoCo object name: ``"r_shoulder:link 1"`` -> ``r_shoulder_link_1``."""
    ident = re.sub(r"\W+", "_", name).strip("_").lower()
    if not ident or ident[0].isdigit():
        ident = f"n_{ident}"
    return ident


def discover_mujoco_variables(env: gym.Env) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Variables for every named body (position) and joint (qpos, qvel) of a MuJoCo env, and the
    ``MujocoState`` kwargs that provide them."""
    found = mujoco_model(env)
    if found is None:
        return {}, {}
    model, _ = found
    variables: dict[str, dict[str, Any]] = {}
    bodies = _resolve(model, "body", "all")
    joints = _resolve(model, "joint", "all")
    for name, _ in bodies:
        variables[f"{identifier(name)}_pos"] = {
            "shape": [3],
            "unit": "m",
            "description": f"world position of body {name!r}",
            "source": f'info["body_pos/{name}"]',
        }
    for name, i in joints:
        jtype = int(model.jnt_type[i])
        unit = "m" if jtype == 2 else "rad"
        for part, sizes, suffix in (("qpos", _QPOS_SIZE, ""), ("qvel", _QVEL_SIZE, "/s")):
            size = sizes[jtype]
            variables[f"{identifier(name)}_{part}"] = {
                "shape": [] if size == 1 else [size],
                "unit": unit + suffix if jtype in (2, 3) else "",
                "description": f"{'position' if part == 'qpos' else 'velocity'} of joint {name!r}",
                "source": f'info["joint_{part}/{name}"]',
            }
    kwargs = {"bodies": [n for n, _ in bodies], "joints": [n for n, _ in joints]}
    return variables, kwargs
