"""Final evaluation: the best reward retrained with fresh seeds at the full budget, beside the
task's ``env`` and ``sparse`` baselines trained the same way (one population, so the three get
exactly the same trainer, budget and seeds)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardforge.rewards.base import RewardFunction, get_baseline
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import SandboxedReward
from rewardforge.rl.base import Trainer
from rewardforge.runs.artifacts import relative_to_run
from rewardforge.runs.summary import human_normalized_score

if TYPE_CHECKING:
    from rewardforge.search.runner import Search

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
) -> FinalEvaluation:
    """Train ``reward`` (and the baselines) once per seed for ``num_steps`` and evaluate."""
    arms: list[tuple[str, RewardFunction]] = [("method", reward)]
    if baselines:
        arms += [(name, get_baseline(name)) for name in BASELINES]
    seeds = [int(s) for s in seeds]
    members = [(name, fn, seed) for name, fn in arms for seed in seeds]
    with trainer.start(
        [fn for _, fn, _ in members],
        [seed for _, _, seed in members],
        log_dir=log_dir,
        planned_steps=num_steps,
    ) as pop:
        pop.train_more(num_steps)
        evals = pop.evaluate()
        paths = pop.save(checkpoint_dir) if checkpoint_dir is not None else [""] * len(members)
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


def record_final(search: Search) -> FinalEvaluation | None:
    """The search's final evaluation, recorded in its store (once: a resumed run keeps it)."""
    run = search.store.get_run(search.run_id)
    if run.best_candidate_id is None or search.config.final_seeds == 0:
        return None
    if search.store.list_evaluations(search.run_id, kind="final"):
        return None  # recorded before a kill; the summary reads it back
    best = search.store.get_candidate(run.best_candidate_id)
    from rewardforge.search.runner import SearchEvent

    search.on_event(SearchEvent("final", None, {"candidate": best.id}))
    program = RewardProgram.from_source(best.code, search.task)
    reward = SandboxedReward(search.sandbox, program, name=f"c{best.id}")
    seeds = [search.config.seed + 1000 + j for j in range(search.config.final_seeds)]
    try:
        final = final_evaluation(
            search.trainer,
            reward,
            seeds,
            search.num_steps,
            baselines=search.config.baselines,
            checkpoint_dir=search.workspace.checkpoint_dir(search.run_id) / "final",
            log_dir=search.workspace.tb_dir(search.run_id) / "final",
        )
    finally:
        reward.close()
    for name, arm in final.baselines.items():
        search.store.record_evaluation(
            search.run_id,
            kind="baseline",
            baseline=name,
            per_seed=arm.per_seed,
            seeds=final.seeds,
            details={"success_rates": arm.success_rates, "num_steps": final.num_steps},
        )
    search.store.record_evaluation(
        search.run_id,
        kind="final",
        candidate_id=best.id,
        per_seed=final.method.per_seed,
        seeds=final.seeds,
        details={
            "success_rates": final.method.success_rates,
            "checkpoints": [  # relative to the run folder, like every stored artifact path
                relative_to_run(search.workspace.root, search.run_id, c) if c else c
                for c in final.method.checkpoints
            ],
            "num_steps": final.num_steps,
        },
    )
    return final


def search_summary(search: Search, wall_time_s: float) -> dict[str, Any]:
    """The run's summary as the CLI prints it and the store keeps it; writes best_reward.py."""
    run = search.store.get_run(search.run_id)
    best = search.store.get_candidate(run.best_candidate_id) if run.best_candidate_id else None
    if best is not None:
        (search.run_dir / "best_reward.py").write_text(best.code, "utf-8")
    iterations = search.store.list_iterations(search.run_id)
    env_steps = sum(int(i.details.get("env_steps", 0)) for i in iterations)
    full = sum(int(i.details.get("full_budget_steps", 0)) for i in iterations)
    evaluations = {
        (e.kind, e.baseline or "method"): e for e in search.store.list_evaluations(search.run_id)
    }
    out: dict[str, Any] = {
        "run_id": search.run_id,
        "task": search.task.id,
        "best_candidate": best.id if best else None,
        "best_fitness": best.fitness if best else None,
        "best_success_rate": best.details.get("success_rate") if best else None,
        "iterations": sum(1 for i in iterations if i.status == "finished"),
        "env_steps": env_steps,
        "full_budget_env_steps": full,
        "reward_path": str(search.run_dir / "best_reward.py") if best else None,
        "wall_time_s": round(wall_time_s, 1),
    }
    final_rec = evaluations.get(("final", "method"))
    if final_rec is not None:
        out["final"] = {"mean": final_rec.mean, "std": final_rec.std}
        for name in ("env", "sparse"):
            base = evaluations.get(("baseline", name))
            if base is not None:
                out[name] = {"mean": base.mean, "std": base.std}
        out["human_normalized"] = human_normalized_score(
            final_rec.mean, out.get("env", {}).get("mean"), out.get("sparse", {}).get("mean")
        )
    usage = search.store.model_usage(search.run_id)
    out["model"] = {"tokens": usage.total_tokens, "cost_usd": usage.cost_usd}
    return out
