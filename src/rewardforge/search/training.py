"""Train an iteration's candidates together, with successive halving across rungs.

All candidates (times the search seeds) are members of one population. After each rung every
member is evaluated; a candidate's fitness is the mean over its seeds; the top ``1/eta`` of the
candidates continue, the rest stop early with the fitness they reached. A candidate whose reward
fails while training stops at once, with the error.

With a ``target``, candidates are also evaluated every ``eval_every`` steps between rungs, and
one whose fitness reaches the target is done: its checkpoint is saved, it leaves the population
and its fitness is final (status ``trained``, with fewer steps than the budget). Training a
solved policy further only costs time, and can make it worse."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardforge.ranking import rank_key
from rewardforge.rewards.base import RewardFunction
from rewardforge.rl.base import Trainer
from rewardforge.rl.types import EvalResult, TrainResult
from rewardforge.search.feedback import reflection_data, reflection_text
from rewardforge.search.halving import schedule, survivors
from rewardforge.search.screening import Trajectory
from rewardforge.search.trajectories import collect_trajectories

logger = logging.getLogger(__name__)

RungCallback = Callable[[int, int, dict[int, float]], None]


@dataclass
class CandidateOutcome:
    """What training showed about one candidate (over all its seeds)."""

    candidate_id: int
    status: str = "training"  # then "trained", "stopped_early" or "failed"
    steps: int = 0
    fitness: float | None = None
    success_rate: float | None = None
    per_seed: list[EvalResult] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    curve: dict[str, list[float]] = field(
        default_factory=lambda: {"steps": [], "fitness": [], "success_rate": []}
    )
    reflection: dict[str, Any] = field(default_factory=dict)
    feedback: str = ""
    checkpoints: list[str | None] = field(default_factory=list)
    error: str | None = None
    wall_time_s: float = 0.0

    def components(self) -> dict[str, dict[str, Any]]:
        """Per-episode component sums at the last reflection point, with their history."""
        out: dict[str, dict[str, Any]] = {}
        for name, series in self.reflection.get("components", {}).items():
            if series["mean"]:
                out[name] = {
                    "mean": series["mean"][-1],
                    "min": series["min"][-1],
                    "max": series["max"][-1],
                    "history": series["mean"],
                }
        return out


def _score(results: Sequence[EvalResult]) -> tuple[float, float]:
    fitness = sum(r.fitness for r in results) / len(results)
    success = sum(r.success_rate for r in results) / len(results)
    return fitness, success


def train_candidates(
    trainer: Trainer,
    rewards: Sequence[tuple[int, RewardFunction]],
    seeds: Sequence[int],
    num_steps: int,
    *,
    rungs: Sequence[float] = (1.0,),
    eta: float = 2.0,
    checkpoint_dir: Path | None = None,
    log_dir: Path | None = None,
    on_rung: RungCallback | None = None,
    trajectory_episodes: int = 0,
    target: float | None = None,
    eval_every: int | None = None,
) -> tuple[list[CandidateOutcome], list[Trajectory]]:
    """Train ``rewards`` (candidate id, reward) for up to ``num_steps`` each, halving at ``rungs``
    and stopping each candidate once its fitness reaches ``target`` (checked at the rungs and
    every ``eval_every`` steps; None: at the rungs only).

    Returns one outcome per candidate (in the given order) and the trajectories collected at
    each rung (``trajectory_episodes`` per member; 0 collects none)."""
    if not rewards:
        return [], []
    seeds = list(seeds)
    outcomes = {cid: CandidateOutcome(cid, seeds=seeds) for cid, _ in rewards}
    members = [(cid, fn, seed) for cid, fn in rewards for seed in seeds]
    plan = schedule(num_steps, rungs if len(rewards) > 1 else (1.0,))
    checks = _checkpoints(plan, eval_every if target is not None else None)
    trajectories: list[Trajectory] = []
    pop = trainer.start(
        [fn for _, fn, _ in members],
        [seed for _, _, seed in members],
        log_dir=log_dir,
        planned_steps=num_steps,
    )
    start = time.perf_counter()
    n = len(seeds)
    try:
        alive = [cid for cid, _ in rewards]  # candidates still training, in member order
        for steps, rung in checks:
            if steps > pop.steps:
                pop.train_more(steps - pop.steps)
            elif rung is None:
                continue  # already past this check (members step several environments at once)
            evals = pop.evaluate()
            results = pop.results(fitness=evals)
            if trajectory_episodes and rung is not None:
                trajectories += collect_trajectories(
                    trainer.task, pop.act, pop.num_members, trajectory_episodes
                )
            scores = _score_rung(outcomes, _group(alive, n, results), pop.steps, start)
            solved = [
                c for c in alive if c in scores and target is not None and scores[c] >= target
            ]
            if solved:  # done: keep its policy, take it out of the population
                _finish_solved(pop, outcomes, alive, solved, n, checkpoint_dir)
                scores = {c: v for c, v in scores.items() if c not in solved}
            if rung is not None and on_rung is not None:
                on_rung(rung.index, pop.steps, scores)
            still = [c for c in alive if c not in solved]
            if rung is None:
                keep: list[int] | None = [c for c in still if c in scores] or None
            else:
                keep = _halve(outcomes, still, scores, eta, last=rung is plan[-1])
            if keep is None:
                break
            if keep != alive:
                pop.keep([alive.index(c) * n + j for c in keep for j in range(n)])
                alive = keep
        if checkpoint_dir is not None and any(outcomes[c].status == "trained" for c in alive):
            paths = pop.save(checkpoint_dir)
            for i, cid in enumerate(alive):
                if not outcomes[cid].checkpoints:  # a solved one was saved when it solved
                    outcomes[cid].checkpoints = list[str | None](paths[i * n : (i + 1) * n])
    finally:
        pop.close()
    return [outcomes[cid] for cid, _ in rewards], trajectories


def _checkpoints(plan: Sequence[Any], eval_every: int | None) -> list[tuple[int, Any]]:
    """Where training stops to evaluate: every rung (with its rung), and every ``eval_every``
    steps between them (rung None)."""
    points: list[tuple[int, Any]] = []
    done = 0
    for rung in plan:
        if eval_every:
            points += [(s, None) for s in range(done + eval_every, rung.num_steps, eval_every)]
        points.append((rung.num_steps, rung))
        done = rung.num_steps
    return points


def _finish_solved(
    pop: Any,
    outcomes: dict[int, CandidateOutcome],
    alive: list[int],
    solved: list[int],
    num_seeds: int,
    checkpoint_dir: Path | None,
) -> None:
    """Candidates that reached the target: final fitness, saved policies, status trained."""
    for cid in solved:
        outcomes[cid].status = "trained"
        logger.info("candidate %d reached the target at %d steps", cid, pop.steps)
        if checkpoint_dir is not None:
            k = alive.index(cid) * num_seeds
            folder = checkpoint_dir / f"solved_c{cid}"
            paths = pop.save(folder, members=range(k, k + num_seeds))
            outcomes[cid].checkpoints = list[str | None](paths)


def _score_rung(
    outcomes: dict[int, CandidateOutcome],
    by_cid: dict[int, list[TrainResult]],
    steps: int,
    start: float,
) -> dict[int, float]:
    """Each candidate's outcome after a rung (mean over its seeds); the fitness of those that
    did not fail, which compete for the next rung."""
    scores: dict[int, float] = {}
    for cid, res in by_cid.items():
        out = outcomes[cid]
        out.steps = steps
        out.per_seed = [r.fitness for r in res if r.fitness is not None]
        out.fitness, out.success_rate = _score(out.per_seed)
        out.curve["steps"].append(steps)
        out.curve["fitness"].append(out.fitness)
        out.curve["success_rate"].append(out.success_rate)
        out.reflection = reflection_data(res[0].reflection)
        out.feedback = reflection_text(res[0], out.reflection)
        out.wall_time_s = time.perf_counter() - start
        errors = [r.error for r in res if r.error]
        if errors:
            out.status, out.error = "failed", errors[0]
        else:
            scores[cid] = out.fitness
    return scores


def _halve(
    outcomes: dict[int, CandidateOutcome],
    alive: list[int],
    scores: dict[int, float],
    eta: float,
    *,
    last: bool,
) -> list[int] | None:
    """The candidates that go on to the next rung (the top ``1/eta`` of those scored); the
    others stop early. None when training ends here (the last rung, or nobody left): the
    survivors are then marked trained."""
    keep = [cid for cid in alive if cid in scores]
    if not last and keep:
        keep = [keep[i] for i in survivors([_rank(outcomes[c]) for c in keep], eta)]
    for cid in alive:
        if outcomes[cid].status == "training" and cid not in keep:
            outcomes[cid].status = "stopped_early"
    if last or not keep:
        for cid in keep:
            outcomes[cid].status = "trained"
        return None
    return keep


def _rank(outcome: CandidateOutcome) -> tuple[Any, ...]:
    """``rank_key``: fitness, then evaluation success, then success while training (the
    exploring policy reaches the goal before the deterministic one does), then the task's score
    when it has one besides its success criterion (mountaincar: how far right the car got).
    Early on, when no deterministic policy succeeds yet, the last two still tell them apart."""
    scores = [r.score for r in outcome.per_seed if r.score is not None and math.isfinite(r.score)]
    score = sum(scores) / len(scores) if scores else 0.0
    seen = [v for v in outcome.reflection.get("success_rate", []) if math.isfinite(v)]
    training_success = sum(seen[-3:]) / len(seen[-3:]) if seen else 0.0
    return rank_key(
        outcome.fitness, outcome.success_rate, candidate_id=outcome.candidate_id,
        extra=(training_success, score),
    )  # fmt: skip


def _group(
    alive: Sequence[int], num_seeds: int, results: Sequence[TrainResult]
) -> dict[int, list[TrainResult]]:
    return {cid: list(results[i * num_seeds : (i + 1) * num_seeds]) for i, cid in enumerate(alive)}
