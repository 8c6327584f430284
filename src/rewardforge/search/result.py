"""``SearchResult``: what a search came to, typed and frozen, read from the run store.

``SearchResult.from_store(workspace, run_id)`` works for any run, finished or not; ``Search.run``
returns it. ``to_dict()`` is the JSON the CLI prints with ``--json`` and the run's stored
summary (the keys ``show`` and the report read)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardforge.runs.records import EvaluationRecord
from rewardforge.runs.summary import best_candidate, best_training, human_normalized_score
from rewardforge.runs.workspace import Workspace

BEST_REWARD_FILE = "best_reward.py"


@dataclass(frozen=True)
class BestCandidate:
    """The run's best candidate (``rewardforge.ranking.rank_key``)."""

    candidate_id: int
    iteration: int
    fitness: float | None
    success_rate: float | None
    code: str
    code_path: Path  # <run>/best_reward.py
    checkpoint: Path | None  # its longest training's policy, when one is on disk


@dataclass(frozen=True)
class IterationBest:
    iteration: int
    candidate_id: int | None
    fitness: float | None
    env_steps: int


@dataclass(frozen=True)
class ArmResult:
    """One reward retrained over the final seeds: its fitness and success rate per seed."""

    per_seed: tuple[float, ...]
    success_rates: tuple[float, ...] = ()

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_seed)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.per_seed) if len(self.per_seed) > 1 else 0.0

    @property
    def success_rate(self) -> float | None:
        return statistics.fmean(self.success_rates) if self.success_rates else None

    @classmethod
    def of(cls, record: EvaluationRecord) -> ArmResult:
        rates = record.details.get("success_rates") or ()
        return cls(tuple(record.per_seed), tuple(float(r) for r in rates))


@dataclass(frozen=True)
class FinalResult:
    """The best reward retrained with fresh seeds, beside the baselines trained the same way."""

    candidate_id: int | None
    method: ArmResult
    seeds: tuple[int, ...]
    baselines: dict[str, ArmResult] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return self.method.mean

    @property
    def std(self) -> float:
        return self.method.std

    @property
    def success_rate(self) -> float | None:
        return self.method.success_rate

    @property
    def human_normalized(self) -> float | None:
        """``(method - sparse) / |env - sparse|`` (None without both baselines)."""
        env, sparse = self.baselines.get("env"), self.baselines.get("sparse")
        return human_normalized_score(
            self.mean, env.mean if env else None, sparse.mean if sparse else None
        )


@dataclass(frozen=True)
class PreferenceDigest:
    """What the preference strategy learned from: its teacher, labels and updates."""

    teacher: str
    labels: int
    updates: int
    fitness_per_update: tuple[float | None, ...]
    teacher_failures: int

    @classmethod
    def of(cls, data: dict[str, Any]) -> PreferenceDigest | None:
        if not data:
            return None
        return cls(
            str(data.get("teacher", "")), int(data.get("labels", 0)), int(data.get("updates", 0)),
            tuple(data.get("fitness_per_update", ())), int(data.get("teacher_failures", 0)),
        )  # fmt: skip


@dataclass(frozen=True)
class SearchResult:
    """See the module docstring."""

    run_id: str
    task: str
    strategy: str
    status: str
    best: BestCandidate | None
    iterations: tuple[IterationBest, ...]
    final: FinalResult | None
    env_steps: int
    full_budget_env_steps: int
    tokens: int
    cost_usd: float
    wall_time_s: float | None
    run_dir: Path
    budget_stop: str | None = None
    preference: PreferenceDigest | None = None  # the preference strategy's labels and updates

    @classmethod
    def from_store(
        cls, workspace: Workspace, run_id: str, *, wall_time_s: float | None = None
    ) -> SearchResult:
        store = workspace.store
        run = store.get_run(run_id)
        run_dir = workspace.root / run.id
        best = best_candidate(store, run)
        iterations = store.list_iterations(run.id)
        evaluations = {(e.kind, e.baseline or "method"): e for e in store.list_evaluations(run.id)}
        final = None
        if (record := evaluations.get(("final", "method"))) is not None:
            baselines = {
                name: ArmResult.of(e)
                for (kind, name), e in evaluations.items()
                if kind == "baseline"
            }
            final = FinalResult(record.candidate_id, ArmResult.of(record), record.seeds, baselines)
        usage = store.model_usage(run.id)
        checkpoint = None
        if best is not None and (training := best_training(store, best)) is not None:
            checkpoint = Path(str(training.checkpoint))
        return cls(
            run_id=run.id, task=run.task_id, strategy=run.strategy, status=run.status,
            best=None if best is None else BestCandidate(
                best.id, best.iteration, best.fitness, best.success_rate, best.code,
                run_dir / BEST_REWARD_FILE, checkpoint,
            ),
            iterations=tuple(
                IterationBest(i.iteration, i.best_candidate_id, _fitness(store, i.best_candidate_id),
                              int(i.details.get("env_steps", 0)))
                for i in iterations if i.status == "finished"
            ),
            final=final,
            env_steps=sum(int(i.details.get("env_steps", 0)) for i in iterations),
            full_budget_env_steps=sum(int(i.details.get("full_budget_steps", 0)) for i in iterations),
            tokens=usage.total_tokens, cost_usd=usage.cost_usd, wall_time_s=wall_time_s,
            run_dir=run_dir, budget_stop=run.summary.get("budget_stop"),
            preference=PreferenceDigest.of(run.summary.get("preference") or {}),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the keys earlier versions printed, and more)."""
        best = self.best
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "task": self.task,
            "strategy": self.strategy,
            "best_candidate": best.candidate_id if best else None,
            "best_fitness": best.fitness if best else None,
            "best_success_rate": best.success_rate if best else None,
            "iterations": len(self.iterations),
            "env_steps": self.env_steps,
            "full_budget_env_steps": self.full_budget_env_steps,
            "reward_path": str(best.code_path) if best else None,
            "wall_time_s": None if self.wall_time_s is None else round(self.wall_time_s, 1),
        }
        if self.final is not None:
            out["final"] = _arm(self.final.method)
            for name, arm in self.final.baselines.items():
                out[name] = _arm(arm)
            out["human_normalized"] = self.final.human_normalized
        out["model"] = {"tokens": self.tokens, "cost_usd": self.cost_usd}
        if self.budget_stop:
            out["budget_stop"] = self.budget_stop
        if self.preference is not None:
            out["preference"] = {**asdict(self.preference),
                                 "fitness_per_update": list(self.preference.fitness_per_update)}  # fmt: skip
        return out


def _arm(arm: ArmResult) -> dict[str, Any]:
    return {"mean": arm.mean, "std": arm.std, "success_rate": arm.success_rate}


def _fitness(store: Any, candidate_id: int | None) -> float | None:
    return None if candidate_id is None else store.get_candidate(candidate_id).fitness


__all__ = [
    "ArmResult",
    "BEST_REWARD_FILE",
    "BestCandidate",
    "FinalResult",
    "IterationBest",
    "PreferenceDigest",
    "SearchResult",
]
