"""Time to solve: train a population, evaluate at a fixed interval, stop once it has solved.

The speed that counts for a reward search is the wall-clock until a policy reaches the task's
target, not steps per second. ``train_until_solved`` trains ``eval_every`` environment steps at
a time, evaluates every member (that time is counted too) and stops when every member has
reached ``target`` (or the step or time cap is hit)::

    with trainer.start([reward], [0]) as pop:
        result = train_until_solved(pop, target=0.9, max_steps=50_000, eval_every=2_000)[0]
    result.time_to_solve, result.steps_to_solve, result.best_fitness

A member that has solved is not trained further in spirit (its fitness is final), but the
population trains its members together; ``solved_members`` tells the caller which ones to drop
with ``Population.keep`` when it wants them out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rewardforge.errors import ConfigError
from rewardforge.rewards.base import RewardFunction
from rewardforge.rl.base import Population, Trainer
from rewardforge.rl.types import EvalResult, TrainResult


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation: environment steps per member, wall-clock since the start, fitness."""

    steps: int
    seconds: float
    fitness: float
    success_rate: float


@dataclass
class SolveResult:
    """One member's run to its target: when it first reached it (``None``: not solved)."""

    target: float
    time_to_solve: float | None = None
    steps_to_solve: int | None = None
    best_fitness: float = -math.inf
    curve: list[CurvePoint] = field(default_factory=list)
    last: EvalResult | None = None

    @property
    def solved(self) -> bool:
        return self.time_to_solve is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "solved": self.solved,
            "time_to_solve": self.time_to_solve,
            "steps_to_solve": self.steps_to_solve,
            "best_fitness": self.best_fitness,
            "curve": [
                [p.steps, round(p.seconds, 3), p.fitness, p.success_rate] for p in self.curve
            ],
        }


EvalCallback = Callable[[int, float, list[EvalResult]], None]


def train_until_solved(
    pop: Population,
    *,
    target: float,
    max_steps: int,
    eval_every: int,
    max_seconds: float | None = None,
    num_episodes: int | None = None,
    on_eval: EvalCallback | None = None,
) -> list[SolveResult]:
    """Train every member of ``pop`` until all have reached ``target`` (fitness >= target), or
    ``max_steps`` environment steps per member, or ``max_seconds`` of wall-clock (checked at
    each evaluation). Each check plays the fitness policy only (``evaluate(both=False)``): the
    other policy is not what is judged, and playing it would double the time of every check.
    Returns one ``SolveResult`` per member."""
    if max_steps <= 0 or eval_every <= 0:
        raise ConfigError(
            f"max_steps and eval_every must be positive, got {max_steps} and {eval_every}"
        )
    if max_seconds is not None and not max_seconds > 0:
        raise ConfigError(f"max_seconds must be positive, got {max_seconds}")
    results = [SolveResult(target) for _ in range(pop.num_members)]
    start = time.perf_counter()
    while pop.steps < max_steps:
        pop.train_more(min(eval_every, max_steps - pop.steps))
        evals = pop.evaluate(num_episodes=num_episodes, both=False)
        seconds = time.perf_counter() - start
        for result, ev in zip(results, evals, strict=True):
            result.curve.append(CurvePoint(pop.steps, seconds, ev.fitness, ev.success_rate))
            result.best_fitness = max(result.best_fitness, ev.fitness)
            result.last = ev
            if not result.solved and ev.fitness >= target:
                result.time_to_solve, result.steps_to_solve = seconds, pop.steps
        if on_eval is not None:
            on_eval(pop.steps, seconds, evals)
        if all(r.solved for r in results):
            break
        if max_seconds is not None and seconds >= max_seconds:
            break
    return results


def solved_members(results: list[SolveResult]) -> list[int]:
    """Indices of the members that reached their target."""
    return [k for k, r in enumerate(results) if r.solved]


def train_to_target(
    trainer: Trainer,
    rewards: Sequence[RewardFunction],
    seeds: Sequence[int],
    num_steps: int,
    *,
    eval_every: int,
    log_dir: str | Path | None = None,
    num_eval_episodes: int | None = None,
    checkpoint_dir: str | Path | None = None,
) -> tuple[list[TrainResult], list[SolveResult]]:
    """``Trainer.train`` that stops once every member reached the task's target: the results
    (with the last evaluation, completed with the other policy) and each member's
    ``SolveResult``."""
    target = trainer.task.target
    if target is None:
        raise ConfigError(f"task {trainer.task.id} sets no fitness target (fitness.target)")
    with trainer.start(rewards, seeds, log_dir=log_dir, planned_steps=num_steps) as pop:
        solve = train_until_solved(
            pop, target=target, max_steps=num_steps, eval_every=eval_every,
            num_episodes=num_eval_episodes,
        )  # fmt: skip
        paths = pop.save(checkpoint_dir) if checkpoint_dir is not None else None
        last = pop.evaluate_other(
            [s.last for s in solve if s.last is not None], num_episodes=num_eval_episodes
        )
        return pop.results(fitness=last, checkpoints=paths), solve
