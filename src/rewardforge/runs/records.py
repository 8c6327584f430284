"""Frozen row types the run store returns. JSON columns come back as dicts and lists."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardforge.ranking import rank_key
from rewardforge.runs.details import CandidateDetails

RunStatus = Literal["running", "finished", "failed", "interrupted"]
CandidateStatus = Literal[
    "proposed", "rejected", "screened_out", "training", "trained", "failed", "stopped_early"
]
TrainingStatus = Literal["finished", "failed", "stopped_early"]
EvaluationKind = Literal["final", "baseline", "checkpoint"]

RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "interrupted")
CANDIDATE_STATUSES: tuple[str, ...] = (
    "proposed",
    "rejected",
    "screened_out",
    "training",
    "trained",
    "failed",
    "stopped_early",
)
TRAINING_STATUSES: tuple[str, ...] = ("finished", "failed", "stopped_early")
EVALUATION_KINDS: tuple[str, ...] = ("final", "baseline", "checkpoint")


def _load(text: str | None, default: Any) -> Any:
    return default if text in (None, "") else json.loads(text)


@dataclass(frozen=True)
class RunRecord:
    id: str
    task_id: str
    strategy: str
    status: str
    config: dict[str, Any]
    versions: dict[str, str]
    created_at: str
    updated_at: str
    best_candidate_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    pid: int | None = None
    host: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(
            id=row["id"],
            task_id=row["task_id"],
            strategy=row["strategy"],
            status=row["status"],
            config=_load(row["config"], {}),
            versions=_load(row["versions"], {}),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            best_candidate_id=row["best_candidate_id"],
            summary=_load(row["summary"], {}),
            error=row["error"],
            pid=row["pid"],
            host=row["host"],
        )


@dataclass(frozen=True)
class IterationRecord:
    run_id: str
    iteration: int
    status: str  # "running" or "finished"
    feedback: str | None
    human_feedback: str | None
    best_candidate_id: int | None
    details: dict[str, Any]
    started_at: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> IterationRecord:
        return cls(
            run_id=row["run_id"],
            iteration=row["iteration"],
            status=row["status"],
            feedback=row["feedback"],
            human_feedback=row["human_feedback"],
            best_candidate_id=row["best_candidate_id"],
            details=_load(row["details"], {}),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True)
class CandidateRecord:
    id: int
    run_id: str
    iteration: int
    slot: int
    attempt: int
    code: str
    content_hash: str
    parent_id: int | None
    designer: str
    status: str
    error_kind: str | None
    error: str | None
    fitness: float | None
    details: CandidateDetails
    created_at: str
    updated_at: str
    success_rate: float | None = None

    def rank_key(self) -> tuple[Any, ...]:
        """This candidate's place in "best" (``rewardforge.ranking.rank_key``)."""
        return rank_key(
            self.fitness,
            self.success_rate,
            fully_trained=self.status == "trained",
            candidate_id=self.id,
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CandidateRecord:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            iteration=row["iteration"],
            slot=row["slot"],
            attempt=row["attempt"],
            code=row["code"],
            content_hash=row["content_hash"],
            parent_id=row["parent_id"],
            designer=row["designer"],
            status=row["status"],
            error_kind=row["error_kind"],
            error=row["error"],
            fitness=row["fitness"],
            details=CandidateDetails.from_stored(_load(row["details"], {})),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            success_rate=row["success_rate"],
        )


@dataclass(frozen=True)
class TrainingRecord:
    id: int
    candidate_id: int
    member: int
    seed: int
    budget_steps: int
    status: str
    fitness: float | None
    metrics: dict[str, Any]
    checkpoint: str | None
    wall_time_s: float | None
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TrainingRecord:
        return cls(
            id=row["id"],
            candidate_id=row["candidate_id"],
            member=row["member"],
            seed=row["seed"],
            budget_steps=row["budget_steps"],
            status=row["status"],
            fitness=row["fitness"],
            metrics=_load(row["metrics"], {}),
            checkpoint=row["checkpoint"],
            wall_time_s=row["wall_time_s"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    run_id: str
    candidate_id: int | None
    baseline: str | None
    kind: str
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    mean: float
    std: float
    details: dict[str, Any]
    created_at: str

    @property
    def label(self) -> str:
        return self.baseline if self.baseline is not None else f"candidate {self.candidate_id}"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EvaluationRecord:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            candidate_id=row["candidate_id"],
            baseline=row["baseline"],
            kind=row["kind"],
            seeds=tuple(_load(row["seeds"], [])),
            per_seed=tuple(_load(row["per_seed"], [])),
            mean=row["mean"],
            std=row["std"],
            details=_load(row["details"], {}),
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class ModelCallRecord:
    id: int
    run_id: str
    iteration: int | None
    request_hash: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    cached: bool
    purpose: str
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ModelCallRecord:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            iteration=row["iteration"],
            request_hash=row["request_hash"],
            provider=row["provider"],
            model=row["model"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
            cost_usd=row["cost_usd"],
            latency_s=row["latency_s"],
            cached=bool(row["cached"]),
            purpose=row["purpose"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class ModelUsage:
    """Totals of a run's model calls; ``cost_usd`` counts only calls not served from cache."""

    num_calls: int = 0
    num_cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
