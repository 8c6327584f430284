"""Runs: the SQLite store (named migrations, WAL), the workspace and its artifact folders, and
the executors that run trainings (local worker processes or a Ray cluster)."""

from rewardforge.runs.executors import (
    Executor,
    JobReport,
    LocalExecutor,
    RayExecutor,
    make_executor,
)
from rewardforge.runs.meta import collect_versions, content_hash, make_run_id, process_alive
from rewardforge.runs.records import (
    CandidateRecord,
    EvaluationRecord,
    IterationRecord,
    ModelCallRecord,
    ModelUsage,
    RunRecord,
    TrainingRecord,
)
from rewardforge.runs.store import RunStore
from rewardforge.runs.workspace import HOME_ENV, Workspace, resolve_root

__all__ = [
    "HOME_ENV",
    "CandidateRecord",
    "EvaluationRecord",
    "Executor",
    "IterationRecord",
    "JobReport",
    "LocalExecutor",
    "ModelCallRecord",
    "ModelUsage",
    "RayExecutor",
    "RunRecord",
    "RunStore",
    "TrainingRecord",
    "Workspace",
    "collect_versions",
    "content_hash",
    "make_executor",
    "make_run_id",
    "process_alive",
    "resolve_root",
]
