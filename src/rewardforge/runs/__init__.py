"""Runs: the SQLite store (named migrations, WAL), the workspace and its artifact folders."""

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
    "IterationRecord",
    "ModelCallRecord",
    "ModelUsage",
    "RunRecord",
    "RunStore",
    "TrainingRecord",
    "Workspace",
    "collect_versions",
    "content_hash",
    "make_run_id",
    "process_alive",
    "resolve_root",
]
