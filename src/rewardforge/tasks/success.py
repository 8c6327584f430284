"""A task's success criterion: per-step ``is_success`` code, and its aggregation over episodes.

Task files are the task author's own code (like a ``setup.py``): they run in-process, under a
CPU-time limit per call (``limits.py``). Model-written success criteria are reward-like programs
and go through the sandbox instead."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardforge.errors import TaskCodeTimeoutError, TaskError
from rewardforge.tasks.limits import task_code_limit
from rewardforge.tasks.spec import SuccessCriterion, Task


@functools.lru_cache(maxsize=256)
def _limit(what: str) -> task_code_limit:
    return task_code_limit(what)


def compile_function(code: str, name: str, origin: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"np": np, "numpy": np, "math": math}
    try:
        with task_code_limit(origin):
            exec(compile(code, origin, "exec"), namespace)
    except TaskCodeTimeoutError:
        raise
    except Exception as exc:  # the task file's code is broken: say where
        raise TaskError(f"{origin}: {name} failed to load: {type(exc).__name__}: {exc}") from exc
    func = namespace.get(name)
    if not callable(func):
        raise TaskError(f"{origin}: code must define a function named {name!r}")
    return func


@dataclass(frozen=True)
class SuccessProgram:
    """Evaluates ``is_success`` on a batch of variables; returns a bool array (B,)."""

    func: Callable[..., Any]
    params: tuple[str, ...]
    criterion: SuccessCriterion
    task_id: str

    @property
    def limit(self) -> task_code_limit:
        return _limit(f"task {self.task_id}: is_success")

    @classmethod
    def from_task(cls, task: Task) -> SuccessProgram:
        func = compile_function(task.success.code, "is_success", f"task {task.id} success.code")
        params = tuple(inspect.signature(func).parameters)
        return cls(func=func, params=params, criterion=task.success, task_id=task.id)

    def __call__(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        batch = len(next(iter(variables.values())))
        try:
            with self.limit:
                out = self.func(*(variables[p] for p in self.params))
        except TaskCodeTimeoutError:
            raise
        except Exception as exc:
            raise TaskError(
                f"task {self.task_id}: is_success raised {type(exc).__name__}: {exc}"
            ) from exc
        out = np.asarray(out)
        if out.shape == ():
            out = np.full(batch, bool(out))
        if out.shape != (batch,):
            raise TaskError(
                f"task {self.task_id}: is_success must return a bool array of shape ({batch},), "
                f"got shape {out.shape}"
            )
        return out.astype(bool)


class EpisodeSuccess:
    """Aggregates per-step success flags into per-episode success for a vector of environments."""

    def __init__(self, criterion: SuccessCriterion, num_envs: int, max_episode_steps: int) -> None:
        self.criterion = criterion
        self.num_envs = num_envs
        self._any = np.zeros(num_envs, dtype=bool)
        self._last = np.zeros(num_envs, dtype=bool)
        self._flags = (
            np.zeros((num_envs, max_episode_steps + 1), dtype=bool)
            if criterion.aggregate == "fraction"
            else None
        )

    def update(self, step_success: np.ndarray, episode_step: np.ndarray) -> None:
        self._any |= step_success
        self._last[:] = step_success
        if self._flags is not None:
            idx = np.minimum(episode_step - 1, self._flags.shape[1] - 1)
            self._flags[np.arange(self.num_envs), idx] = step_success

    def finish(self, done: np.ndarray, episode_length: np.ndarray) -> np.ndarray:
        """Success of the episodes that ended (rows where ``done``); resets those rows."""
        agg = self.criterion.aggregate
        if agg == "any":
            result = self._any.copy()
        elif agg == "final":
            result = self._last.copy()
        else:
            assert self._flags is not None
            result = np.zeros(self.num_envs, dtype=bool)
            for i in np.flatnonzero(done):
                length = int(episode_length[i])
                start = length - max(1, math.ceil(self.criterion.window * length))
                window = self._flags[i, start:length]
                result[i] = window.size > 0 and window.mean() >= self.criterion.threshold - 1e-9
                self._flags[i] = False
        self._any[done] = False
        self._last[done] = False
        return result & done


@dataclass(frozen=True)
class ScoreProgram:
    """Evaluates a task's per-step ``score`` code; returns a float array (B,)."""

    func: Callable[..., Any]
    params: tuple[str, ...]
    aggregate: str
    task_id: str

    @property
    def limit(self) -> task_code_limit:
        return _limit(f"task {self.task_id}: score")

    @classmethod
    def from_task(cls, task: Task) -> ScoreProgram | None:
        score = task.fitness.score
        if score is None:
            return None
        func = compile_function(score.code, "score", f"task {task.id} fitness.score.code")
        params = tuple(inspect.signature(func).parameters)
        return cls(func=func, params=params, aggregate=score.aggregate, task_id=task.id)

    def __call__(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        batch = len(next(iter(variables.values())))
        with self.limit:
            out = np.asarray(self.func(*(variables[p] for p in self.params)), dtype=np.float64)
        if out.shape == ():
            out = np.full(batch, float(out))
        if out.shape != (batch,):
            raise TaskError(
                f"task {self.task_id}: score must return shape ({batch},), got {out.shape}"
            )
        return out


class EpisodeScore:
    """Aggregates per-step scores (sum, final, mean or max) into a per-episode task score."""

    def __init__(self, aggregate: str, num_envs: int) -> None:
        self.aggregate = aggregate
        self._sum = np.zeros(num_envs)
        self._last = np.zeros(num_envs)
        self._max = np.full(num_envs, -np.inf)

    def update(self, step_score: np.ndarray) -> None:
        self._sum += step_score
        self._last[:] = step_score
        np.maximum(self._max, step_score, out=self._max)

    def finish(self, done: np.ndarray, episode_length: np.ndarray) -> np.ndarray:
        if self.aggregate == "sum":
            result = self._sum.copy()
        elif self.aggregate == "final":
            result = self._last.copy()
        elif self.aggregate == "max":
            result = self._max.copy()
        else:
            result = self._sum / np.maximum(episode_length, 1)
        self._sum[done] = 0.0
        self._last[done] = 0.0
        self._max[done] = -np.inf
        return np.where(done, result, 0.0)
