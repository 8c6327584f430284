"""Final evaluation: the best reward retrained with fresh seeds at the full budget, beside the
task's ``env`` and ``sparse`` baselines trained the same way (one population, so the three get
exactly the same trainer, budget and seeds).

With a ``target`` the rule of the search holds here too: every ``eval_every`` steps each
training (reward x seed) is evaluated, and one that has reached the target stops with that
fitness and that policy; the others train on to the full budget. So a reward is judged the same
way in the search and at the end, and the baselines the same way as the reward."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardforge.rewards.base import RewardFunction, get_baseline
from rewardforge.rl.base import Trainer
from rewardforge.runs.artifacts import relative_to_run
from rewardforge.runs.store import RunStore

BASELINES = ("env", "sparse")


@dataclass(frozen=True)
class Arm:
    """One reward's outcome over the evaluation seeds."""

    name: str
    per_seed: tuple[float, ...]
    success_rates: tuple[float, ...]
    checkpoints: tuple[str, ...] = field(default=())

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_seed)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.per_seed) if len(self.per_seed) > 1 else 0.0


@dataclass(frozen=True)
class FinalEvaluation:
    method: Arm
    baselines: dict[str, Arm]
    seeds: tuple[int, ...]
    num_steps: int


def final_evaluation(
    trainer: Trainer,
    reward: RewardFunction,
    seeds: Sequence[int],
    num_steps: int,
    *,
    baselines: bool = True,
    checkpoint_dir: Path | None = None,
    log_dir: Path | None = None,
    target: float | None = None,
    eval_every: int | None = None,
) -> FinalEvaluation:
    """Train ``reward`` (and the baselines) once per seed for up to ``num_steps`` and evaluate;
    a training that reaches ``target`` at a check (every ``eval_every`` steps) stops there."""
    arms: list[tuple[str, RewardFunction]] = [("method", reward)]
    if baselines:
        arms += [(name, get_baseline(name)) for name in BASELINES]
    seeds = [int(s) for s in seeds]
    members = [(name, fn, seed) for name, fn in arms for seed in seeds]
    evals: list[Any] = [None] * len(members)
    paths = [""] * len(members)
    every = eval_every if target is not None and eval_every else num_steps
    checks = [*range(every, num_steps, every), num_steps]
    with trainer.start(
        [fn for _, fn, _ in members],
        [seed for _, _, seed in members],
        log_dir=log_dir,
        planned_steps=num_steps,
    ) as pop:
        alive = list(range(len(members)))  # member indices, in population order
        for steps in checks:
            if steps <= pop.steps and steps != num_steps:
                continue
            if steps > pop.steps:
                pop.train_more(steps - pop.steps)
            results = pop.evaluate()
            last = steps == checks[-1]
            done = [
                pos for pos, e in enumerate(results)
                if last or (target is not None and e.fitness >= target)
            ]  # fmt: skip
            for pos in done:
                m = alive[pos]
                evals[m] = results[pos]
                if checkpoint_dir is not None:
                    name, _, seed = members[m]
                    folder = checkpoint_dir / f"{name}_seed{seed}"
                    paths[m] = pop.save(folder, members=[pos])[0]
            rest = [pos for pos in range(len(alive)) if pos not in done]
            if not rest:
                break
            if done:
                pop.keep(rest)
                alive = [alive[pos] for pos in rest]
    out: dict[str, Arm] = {}
    n = len(seeds)
    for i, (name, _) in enumerate(arms):
        rows = slice(i * n, (i + 1) * n)
        out[name] = Arm(
            name=name,
            per_seed=tuple(e.fitness for e in evals[rows]),
            success_rates=tuple(e.success_rate for e in evals[rows]),
            checkpoints=tuple(paths[rows]),
        )
    method = out.pop("method")
    return FinalEvaluation(method=method, baselines=out, seeds=tuple(seeds), num_steps=num_steps)


def record_final(
    store: RunStore,
    run_id: str,
    candidate_id: int,
    trainer: Trainer,
    reward: RewardFunction,
    seeds: Sequence[int],
    num_steps: int,
    *,
    baselines: bool = True,
    checkpoint_dir: Path | None = None,
    log_dir: Path | None = None,
    target: float | None = None,
    eval_every: int | None = None,
) -> FinalEvaluation:
    """Run ``final_evaluation`` for candidate ``candidate_id`` and record it (the baselines
    and the method) in ``store``."""
    final = final_evaluation(
        trainer, reward, seeds, num_steps, baselines=baselines,
        checkpoint_dir=checkpoint_dir, log_dir=log_dir, target=target, eval_every=eval_every,
    )  # fmt: skip
    for name, arm in final.baselines.items():
        store.record_evaluation(
            run_id, kind="baseline", baseline=name, per_seed=arm.per_seed, seeds=final.seeds,
            details={"success_rates": arm.success_rates, "num_steps": final.num_steps},
        )  # fmt: skip
    checkpoints = [  # relative to the run folder, like every stored artifact path
        relative_to_run(store.path.parent, run_id, c) if c else c for c in final.method.checkpoints
    ]
    store.record_evaluation(
        run_id, kind="final", candidate_id=candidate_id, per_seed=final.method.per_seed,
        seeds=final.seeds,
        details={"success_rates": final.method.success_rates, "checkpoints": checkpoints,
                 "num_steps": final.num_steps},
    )  # fmt: skip
    return final
