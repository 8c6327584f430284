"""``TaskVecEnv``: a Gymnasium vector environment that also yields the task's variables.

Every step returns a ``StepResult``: the next observation for the policy (already reset where an
episode ended), and for the transition just taken its variables, the environment's own reward,
the per-step success flag, and per-episode statistics for episodes that ended. Variables of a
transition that ended an episode are computed on the final state, never on the reset state.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from rewardforge.errors import TaskCodeTimeoutError, TaskError, VariableError, did_you_mean
from rewardforge.tasks.envs import build_vector_env
from rewardforge.tasks.limits import task_code_limit
from rewardforge.tasks.spec import Task, Variable
from rewardforge.tasks.success import EpisodeScore, EpisodeSuccess, ScoreProgram, SuccessProgram

logger = logging.getLogger(__name__)

#: Keys a transition carries besides the task's variables; reward programs cannot name them.
ENV_REWARD_KEY = "_env_reward"
SUCCESS_KEY = "_success"


class EpisodeStats(NamedTuple):
    """Per-episode results for the rows where ``done`` is True (other rows are zero)."""

    done: np.ndarray
    success: np.ndarray
    env_return: np.ndarray
    length: np.ndarray
    score: np.ndarray | None


class StepResult(NamedTuple):
    obs: np.ndarray
    env_reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    variables: dict[str, np.ndarray]
    success: np.ndarray
    final_obs: np.ndarray
    episodes: EpisodeStats


def _final_rows(obs: np.ndarray, info: dict[str, Any], done: np.ndarray) -> np.ndarray:
    """``obs`` with the rows of episodes that ended replaced by their final observation."""
    if not done.any() or "final_obs" not in info:
        return obs
    final = obs.copy()
    mask = info.get("_final_obs", done)
    for i in np.flatnonzero(mask):
        final[i] = info["final_obs"][i]
    return final


class _DictObs:
    """Flattens a Dict observation for the policy; variables read it by key: ``obs["goal"]``."""

    def __init__(self, space: gym.spaces.Dict) -> None:
        self.keys = tuple(space.spaces)
        self.space = gym.spaces.flatten_space(space)
        self.slices: dict[str, slice] = {}
        start = 0
        for key in self.keys:
            size = int(gym.spaces.flatdim(space.spaces[key]))
            self.slices[key] = slice(start, start + size)
            start += size

    def flatten(self, obs: dict[str, Any]) -> np.ndarray:
        parts = [np.asarray(obs[k]) for k in self.keys]
        flat = [p.reshape(len(p), -1) for p in parts]
        return np.concatenate(flat, axis=1).astype(self.space.dtype, copy=False)

    def final(self, obs: dict[str, Any], info: dict[str, Any], done: np.ndarray) -> dict[str, Any]:
        if not done.any() or "final_obs" not in info:
            return obs
        final = {k: np.array(obs[k], copy=True) for k in self.keys}
        mask = info.get("_final_obs", done)
        for i in np.flatnonzero(mask):
            for k in self.keys:
                final[k][i] = info["final_obs"][i][k]
        return final


class _Extractor:
    """Computes the task's variables from (obs, action, info, episode_step), batched."""

    def __init__(self, variables: tuple[Variable, ...], task_id: str) -> None:
        self.task_id = task_id
        self.variables = variables
        self._code = [(v, compile(v.source, f"<{task_id}.{v.name}>", "eval")) for v in variables]
        self._limit = task_code_limit(f"task {task_id}: the variables' source expressions")

    def __call__(
        self, obs: Any, action: np.ndarray, info: dict[str, Any], episode_step: np.ndarray
    ) -> dict[str, np.ndarray]:
        num = len(episode_step)
        namespace = {
            "np": np,
            "obs": obs,
            "action": action,
            "info": info,
            "episode_step": episode_step,
            "full": lambda value: np.full(num, value, dtype=np.float64),
        }
        out: dict[str, np.ndarray] = {}
        with self._limit:
            for var, code in self._code:
                out[var.name] = self._one(var, code, namespace, num)
        return out

    def _one(self, var: Variable, code: Any, namespace: dict[str, Any], num: int) -> np.ndarray:
        try:
            value = eval(code, namespace)  # noqa: S307 - task files are the author's own code
        except TaskCodeTimeoutError:
            raise
        except Exception as exc:
            raise VariableError(
                f"task {self.task_id}: variable {var.name!r} (source {var.source!r}) failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        value = np.asarray(value, dtype=var.dtype)
        expected = (num, *var.shape)
        if value.shape != expected:
            if value.size == int(np.prod(expected)):
                return value.reshape(expected)
            raise VariableError(
                f"task {self.task_id}: variable {var.name!r} should have shape {expected} "
                f"(declared shape {list(var.shape)}), but source {var.source!r} gave {value.shape}"
            )
        return value


def _merge_final(info: dict[str, Any], done: np.ndarray) -> dict[str, Any]:
    """Info of the transition: for rows that ended, the final step's info (not the reset's)."""
    final = info.get("final_info")
    if not final or not done.any():
        return {
            k: v
            for k, v in info.items()
            if not k.startswith("_") and k not in ("final_info", "final_obs")
        }
    merged: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_") or key in ("final_info", "final_obs"):
            continue
        if key in final and isinstance(value, np.ndarray):
            value = value.copy()
            value[done] = np.asarray(final[key])[done]
        merged[key] = value
    for key, value in final.items():
        if not key.startswith("_") and key not in merged:
            merged[key] = value
    return merged


def observation_slice(
    slices: dict[str, slice], where: str | tuple[int, int], task_id: str
) -> slice:
    """The part of the flat observation named by ``where`` (a dict-observation key, or
    ``(start, stop)``), e.g. the goal of a goal-conditioned task."""
    if isinstance(where, str):
        if where not in slices:
            raise TaskError(
                f"task {task_id}: the observation has no key {where!r}.{did_you_mean(where, slices)}"
                f" Keys: {', '.join(slices) or 'none (a flat observation: give [start, stop])'}"
            )
        return slices[where]
    return slice(int(where[0]), int(where[1]))


class TaskVecEnv:
    """A vector environment for a task; see the module docstring."""

    def __init__(
        self, task: Task, num_envs: int = 1, seed: int | None = None, render_mode: str | None = None
    ):
        if num_envs < 1:
            raise TaskError(f"num_envs must be at least 1, got {num_envs}")
        self.task = task
        self.num_envs = num_envs
        self.env: Any = build_vector_env(task, num_envs, render_mode)
        space = self.env.single_observation_space
        self._dict_obs = _DictObs(space) if isinstance(space, gym.spaces.Dict) else None
        #: the policy's observation space (a Box, also for a Dict observation: flattened)
        self.single_observation_space: Any = self._dict_obs.space if self._dict_obs else space
        #: where each key of a dict observation sits in the flat observation the policy sees
        self.observation_slices = dict(self._dict_obs.slices) if self._dict_obs else {}
        self.single_action_space: Any = self.env.single_action_space
        self._seed = seed
        self._extract = _Extractor(task.variables, task.id)
        self._success = SuccessProgram.from_task(task)
        self._score = ScoreProgram.from_task(task)
        self._episode_success = EpisodeSuccess(task.success, num_envs, task.max_episode_steps)
        self._episode_score = EpisodeScore(self._score.aggregate, num_envs) if self._score else None
        self._episode_step = np.zeros(num_envs, dtype=np.int64)
        self._episode_return = np.zeros(num_envs, dtype=np.float64)
        self._obs: np.ndarray | None = None

    @property
    def discrete(self) -> bool:
        return isinstance(self.single_action_space, gym.spaces.Discrete)

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._seed if seed is None else seed)
        self._seed = None
        self._episode_step[:] = 0
        self._episode_return[:] = 0.0
        done = np.ones(self.num_envs, dtype=bool)
        self._episode_success.finish(done, self._episode_step)
        if self._episode_score is not None:
            self._episode_score.finish(done, self._episode_step)
        self._obs = self._dict_obs.flatten(obs) if self._dict_obs else np.asarray(obs)
        return self._obs

    def step(self, action: np.ndarray) -> StepResult:
        if self._obs is None:
            raise TaskError("call reset() before step()")
        raw_obs, reward, terminated, truncated, info = self.env.step(action)
        done = np.logical_or(terminated, truncated)
        final_raw: Any  # what variables read as ``obs``: an array, or a dict of arrays
        if self._dict_obs is not None:
            final_raw = self._dict_obs.final(raw_obs, info, done)
            obs, final_obs = self._dict_obs.flatten(raw_obs), self._dict_obs.flatten(final_raw)
        else:
            obs = np.asarray(raw_obs)
            final_obs = final_raw = _final_rows(obs, info, done)
        self._episode_step += 1
        length = self._episode_step.copy()
        variables = self._extract(final_raw, np.asarray(action), _merge_final(info, done), length)
        success = self._success(variables)
        reward = np.asarray(reward, dtype=np.float64)
        variables[ENV_REWARD_KEY] = reward
        variables[SUCCESS_KEY] = success
        self._episode_return += reward
        self._episode_success.update(success, self._episode_step)
        score = None
        if self._episode_score is not None and self._score is not None:
            self._episode_score.update(self._score(variables))
        episodes = EpisodeStats(
            done=done,
            success=self._episode_success.finish(done, length),
            env_return=np.where(done, self._episode_return, 0.0),
            length=np.where(done, length, 0),
            score=self._episode_score.finish(done, length) if self._episode_score else score,
        )
        self._episode_step[done] = 0
        self._episode_return[done] = 0.0
        self._obs = obs
        return StepResult(
            obs,
            reward,
            np.asarray(terminated),
            np.asarray(truncated),
            variables,
            success,
            final_obs,
            episodes,
        )

    def sample_actions(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform random actions drawn with numpy (``action_space.sample()`` is ~30 us a call)."""
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            return rng.integers(space.start, space.start + space.n, size=self.num_envs)
        if isinstance(space, gym.spaces.Box):
            low = np.where(np.isfinite(space.low), space.low, -1.0)
            high = np.where(np.isfinite(space.high), space.high, 1.0)
            return rng.uniform(low, high, size=(self.num_envs, *space.shape)).astype(space.dtype)
        raise TaskError(f"task {self.task.id}: unsupported action space {space}")

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> TaskVecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_env(
    task: Task, num_envs: int = 1, seed: int | None = None, render_mode: str | None = None
) -> TaskVecEnv:
    """A vector environment for ``task`` that also yields its variables at every step."""
    return TaskVecEnv(task, num_envs=num_envs, seed=seed, render_mode=render_mode)
