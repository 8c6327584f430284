"""Finding and building a task's environment: entry points, Gymnasium ids that optional extras
register, wrappers, and the vector environment a ``TaskVecEnv`` steps.

A missing optional package is a ``MissingExtraError`` naming the extra to install; an unknown
id is a ``TaskError`` with a did-you-mean."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import io
import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from rewardforge.errors import MissingExtraError, TaskError, did_you_mean
from rewardforge.tasks.native import NATIVE_VECTOR_ENVS
from rewardforge.tasks.spec import EnvSpec, Task, Wrapper

logger = logging.getLogger(__name__)

#: Modules that optional extras provide, for a clear "install rewardforge[extra]" message.
EXTRA_OF_MODULE = {"mujoco": "mujoco", "gymnasium_robotics": "robotics", "metaworld": "metaworld"}

#: Gymnasium id prefixes registered by an optional extra's package: (prefix, module).
REGISTERING_MODULES = (
    ("Fetch", "gymnasium_robotics"),
    ("HandManipulate", "gymnasium_robotics"),
    ("HandReach", "gymnasium_robotics"),
    ("AdroitHand", "gymnasium_robotics"),
    ("PointMaze", "gymnasium_robotics"),
    ("AntMaze", "gymnasium_robotics"),
    ("FrankaKitchen", "gymnasium_robotics"),
    ("Meta-World/", "metaworld"),
)


def import_object(path: str) -> Any:
    """Import ``'package.module:name'``."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        root = (exc.name or module_name).split(".")[0]
        if root in EXTRA_OF_MODULE:
            raise MissingExtraError(root, EXTRA_OF_MODULE[root], f"{path}") from None
        raise TaskError(f"cannot import {module_name!r} for {path!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise TaskError(
            f"module {module_name!r} has no attribute {attr!r} (from {path!r})"
        ) from None


def import_quietly(module: str) -> Any:
    """Import ``module``; what it prints to stderr on import (gymnasium_robotics prints a notice
    about Adroit environments on every import) goes to the log instead."""
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        imported = importlib.import_module(module)
    if printed.getvalue().strip():
        logger.debug("importing %s printed: %s", module, printed.getvalue().strip())
    return imported


def ensure_registered(env_id: str) -> None:
    """Import the package that registers ``env_id`` when it is an optional extra."""
    if env_id in gym.registry:
        return
    for prefix, module in REGISTERING_MODULES:
        if env_id.startswith(prefix) and importlib.util.find_spec(module) is None:
            raise MissingExtraError(module, EXTRA_OF_MODULE[module], f"environment {env_id}")
    for module in ("gymnasium_robotics", "metaworld"):
        try:
            import_quietly(module)
        except ModuleNotFoundError:
            continue
        if env_id in gym.registry:
            return
    known = list(gym.registry)
    raise TaskError(f"Gymnasium has no environment {env_id!r}.{did_you_mean(env_id, known)}")


def check_mujoco(env_id: str) -> None:
    """A MuJoCo environment needs the ``mujoco`` extra."""
    spec = gym.registry.get(env_id)
    entry = str(getattr(spec, "entry_point", "") or "")
    if "mujoco" in entry:
        try:
            importlib.import_module("mujoco")
        except ModuleNotFoundError:
            raise MissingExtraError("mujoco", "mujoco", f"environment {env_id}") from None


def make_wrapper(spec: Wrapper) -> Callable[[gym.Env], Any]:
    wrapper = import_object(spec.wrapper)
    return functools.partial(wrapper, **spec.kwargs) if spec.kwargs else wrapper


def make_single_env(env: EnvSpec) -> gym.Env:
    """One (unvectorized, unwrapped) instance of an environment."""
    if env.entry_point is not None:
        if env.vectorization == "native":
            raise TaskError(
                "variables: auto needs a single-environment factory; a native vector env "
                "must declare its variables"
            )
        return import_object(env.entry_point)(**env.kwargs)
    assert env.id is not None
    ensure_registered(env.id)
    check_mujoco(env.id)
    return gym.make(env.id, **env.kwargs)


def build_vector_env(task: Task, num_envs: int, render_mode: str | None) -> gym.vector.VectorEnv:
    """``task``'s environment, ``num_envs`` copies, native where one exists, else synchronous
    (episodes reset on the step that ends them), each wrapped and time-limited."""
    env = task.env
    wrappers: list[Callable[[gym.Env], Any]] = [make_wrapper(w) for w in env.wrappers]
    kwargs = dict(env.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if env.entry_point is not None:
        factory = import_object(env.entry_point)
        if env.vectorization == "native":
            return factory(num_envs=num_envs, max_episode_steps=task.max_episode_steps, **kwargs)

        def make_one() -> gym.Env:
            one: gym.Env = gym.wrappers.TimeLimit(factory(**kwargs), task.max_episode_steps)
            for wrap in wrappers:
                one = wrap(one)
            return one

        return gym.vector.SyncVectorEnv(
            [make_one for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP
        )
    assert env.id is not None
    ensure_registered(env.id)
    check_mujoco(env.id)
    native = NATIVE_VECTOR_ENVS.get(env.id)
    if native is not None and env.vectorization in ("auto", "native") and not wrappers:
        return native(num_envs=num_envs, max_episode_steps=task.max_episode_steps, **kwargs)
    if env.vectorization == "native":
        raise TaskError(
            f"task {task.id}: {env.id} has no native vector form; use vectorization: sync"
        )
    return gym.make_vec(
        env.id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        wrappers=wrappers or None,
        max_episode_steps=task.max_episode_steps,
        **kwargs,
    )


__all__ = [
    "EXTRA_OF_MODULE",
    "REGISTERING_MODULES",
    "build_vector_env",
    "check_mujoco",
    "ensure_registered",
    "import_object",
    "make_single_env",
    "make_wrapper",
]
