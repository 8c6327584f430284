"""Smoke tests: run a reward program on a few hundred states before anyone trains on it.

States come from random-policy rollouts of the task; the report gives each component's mean,
std, min and max, plus warnings a designer can act on (a constant reward, a component that is
always zero, a huge scale, code that only works one sample at a time). ``rewardforge check``
prints it; the search's designers use it to screen candidates.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardforge.errors import ConfigError, RewardError
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

#: Rewards larger than this in magnitude earn a warning: they make value learning hard.
LARGE_REWARD = 1e3


@dataclass(frozen=True)
class ComponentStats:
    name: str
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, name: str, values: np.ndarray) -> ComponentStats:
        return cls(
            name,
            float(values.mean()),
            float(values.std()),
            float(values.min()),
            float(values.max()),
        )


@dataclass(frozen=True)
class SmokeReport:
    task_id: str
    program_hash: str
    num_states: int
    stats: tuple[ComponentStats, ...] = ()
    error: RewardError | None = None
    warnings: tuple[str, ...] = ()
    row_mode: bool = False
    seconds: float = 0.0
    params: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return f"FAILED ({self.error.kind}): {self.error}"
        if self.warnings:
            return f"OK with {len(self.warnings)} warning(s)"
        return "OK"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "task": self.task_id,
            "program_hash": self.program_hash,
            "params": list(self.params),
            "num_states": self.num_states,
            "row_mode": self.row_mode,
            "seconds": round(self.seconds, 4),
            "components": [vars(s) for s in self.stats],
            "warnings": list(self.warnings),
            "error": None
            if self.error is None
            else {
                "kind": self.error.kind,
                "type": type(self.error).__name__,
                "message": str(self.error),
            },
        }


#: Most states a smoke test samples (each is an environment step taken here, in the parent).
MAX_SMOKE_STATES = 100_000


def collect_states(task: Task, num_states: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """``num_states`` transitions (task variables plus ``_env_reward``/``_success``) from a
    random policy, stacked along the batch axis."""
    if isinstance(num_states, bool) or not isinstance(num_states, int):
        raise ConfigError(f"the number of states must be a whole number, got {num_states!r}")
    if not 1 <= num_states <= MAX_SMOKE_STATES:
        raise ConfigError(
            f"the number of states must be from 1 to {MAX_SMOKE_STATES:,}, got {num_states:,}"
        )
    num_envs = max(1, min(16, num_states))
    rng = np.random.default_rng(seed)
    chunks: list[dict[str, np.ndarray]] = []
    with make_env(task, num_envs=num_envs, seed=seed) as env:
        env.reset()
        for _ in range(math.ceil(num_states / num_envs)):
            chunks.append(env.step(env.sample_actions(rng)).variables)
    return {k: np.concatenate([c[k] for c in chunks])[:num_states] for k in chunks[0]}


def _warnings(stats: tuple[ComponentStats, ...], row_mode: bool) -> list[str]:
    found = []
    total = stats[0]
    if total.std < 1e-12:
        found.append(
            f"the reward is {total.mean:g} on every sampled state: it gives the policy no signal"
        )
    for s in stats[1:]:
        if s.min == 0.0 and s.max == 0.0:
            found.append(f"component {s.name!r} is 0 on every sampled state")
    biggest = max(max(abs(s.min), abs(s.max)) for s in stats)
    if biggest > LARGE_REWARD:
        found.append(f"values reach {biggest:.3g}; rewards this large make learning unstable")
    if row_mode:
        found.append(
            "the code handles one sample at a time, so it runs row by row (slow); use numpy "
            "operations on whole arrays (np.where instead of if, np.sqrt instead of math.sqrt)"
        )
    return found


def smoke_test(
    program: RewardProgram,
    task: Task,
    num_states: int = 256,
    sandbox: RewardSandbox | None = None,
    *,
    seed: int = 0,
) -> SmokeReport:
    """Evaluate ``program`` in the sandbox on states from random rollouts of ``task``. A
    failure is recorded in the report (``report.error``), never raised."""
    states = collect_states(task, num_states, seed)
    start = time.perf_counter()
    owned = sandbox is None
    box = RewardSandbox() if sandbox is None else sandbox
    base: dict[str, Any] = dict(
        task_id=task.id,
        program_hash=program.content_hash,
        num_states=num_states,
        params=program.params,
    )
    try:
        try:
            key = box.add(program)
        except RewardError as error:
            return SmokeReport(**base, error=error, seconds=time.perf_counter() - start)
        try:
            result = box.evaluate_many([key], states)[0]
            row_mode = box.row_mode(key)
        finally:
            box.remove(key)
    finally:
        if owned:
            box.close()
    seconds = time.perf_counter() - start
    if isinstance(result, RewardError):
        return SmokeReport(**base, error=result, seconds=seconds)
    stats = (ComponentStats.of("reward", result.reward),) + tuple(
        ComponentStats.of(name, values) for name, values in result.components.items()
    )
    warnings = tuple(_warnings(stats, row_mode))
    logger.debug("smoke test of %s on %s: %s", program.name, task.id, warnings or "ok")
    return SmokeReport(**base, stats=stats, warnings=warnings, row_mode=row_mode, seconds=seconds)
