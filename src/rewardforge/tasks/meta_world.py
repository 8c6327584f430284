"""MetaWorld v3 single-task environments, as LaRes and RL-VLM-F use them: the goal is observable
and object and goal positions are drawn anew at every reset.

``make_env("drawer-open")`` builds ``<name>-v3-goal-observable``. MetaWorld seeds through
``env.seed()`` and ignores ``reset(seed=...)``; ``SeededReset`` routes the vector env's per-sub-env
seeds to ``env.seed()``, and positions are drawn from the env's own generator (not numpy's global
one), so runs are reproducible.

Observation (39): tool-centre point (0:3), gripper opening in [0, 1] (3), first object position
(4:7) and quaternion (7:11), second object position (11:14) and quaternion (14:18), the previous
frame of the same 18 values (18:36), goal position (36:39). ``info["success"]`` is the env's own
success flag.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

try:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
    from rewardforge.errors import MissingExtraError

    raise MissingExtraError("metaworld", "metaworld", "MetaWorld tasks") from exc

from rewardforge.errors import TaskError, did_you_mean


class SeededReset(gym.Wrapper):
    """Seeds MetaWorld's own generator when ``reset`` is given a seed; casts the success flag."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        if seed is not None:
            self.env.unwrapped.seed(seed)  # type: ignore[attr-defined]
        return self.env.reset(options=options)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "success": bool(info.get("success", 0.0))}
        return obs, reward, terminated, truncated, info


def make_env(env_name: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """The goal-observable MetaWorld v3 env named ``env_name`` (with or without ``-v3``)."""
    base = env_name.removesuffix("-goal-observable").removesuffix("-v3")
    key = f"{base}-v3-goal-observable"
    if key not in ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE:
        names = [k.removesuffix("-v3-goal-observable") for k in ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE]
        raise TaskError(f"MetaWorld has no v3 task {env_name!r}.{did_you_mean(base, names)}")
    env = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[key](render_mode=render_mode, **kwargs)  # type: ignore[arg-type]
    env._freeze_rand_vec = False  # new object and goal positions at every reset
    env.seeded_rand_vec = True  # drawn from env.np_random, which reset(seed=...) seeds
    return SeededReset(env)
