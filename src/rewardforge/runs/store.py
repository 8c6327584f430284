"""The run store: one SQLite file per workspace, safe against kills and concurrent runs.

Layout of a workspace (``Workspace(root)``; root = argument, else ``$REWARDFORGE_HOME``, else
``./runs``)::

    <root>/runs.sqlite              the store (WAL; this module)
    <root>/model_cache.sqlite       the model layer's answer cache (``workspace.model_cache_path``)
    <root>/<run_id>/rewards/        reward files  (``workspace.reward_path(run_id, candidate_id)``)
    <root>/<run_id>/checkpoints/    policy checkpoints (``workspace.checkpoint_dir(run_id)``)
    <root>/<run_id>/tb/             TensorBoard logs   (``workspace.tb_dir(run_id)``)
    <root>/<run_id>/best.gif        animation of the best policy, embedded by the report
    <root>/<run_id>/report.html     ``rewardforge report``

Every method is one short transaction, so a SIGKILL loses at most the call in flight; rows
come back as frozen records (``runs/records.py``), a candidate's details as typed sections
(``runs/details.py``). Runs have ids ``{task}__{strategy}__{yyyymmdd-HHMMSS}__{4 hex}`` and a
status (running, finished, failed, interrupted); ``set_run_status("running")`` records this
process as the owner. Writes that resume relies on are idempotent: ``start_iteration``;
``add_candidate`` keyed by (run, iteration, slot, attempt) returns the stored row (and raises
if its code differs); ``record_training`` is an upsert per (candidate, seed, budget).
Evaluations and model calls are in ``runs/store_results.py``; summaries for ``show`` and the
report in ``runs/summary.py``. A store pickles as its path; each process and thread opens its
own connection.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rewardforge.errors import RunError, RunNotFoundError, did_you_mean
from rewardforge.runs.artifacts import relative_to_run
from rewardforge.runs.details import CandidateDetails
from rewardforge.runs.meta import (
    check_choice,
    collect_versions,
    content_hash,
    insert_row,
    make_run_id,
    refuse_second_owner,
    to_json,
    utc_now,
)
from rewardforge.runs.migrations import apply_migrations
from rewardforge.runs.opening import (
    check_schema,
    check_store_file,
    connect,
    failure,
    transaction,
)
from rewardforge.runs.records import (
    CANDIDATE_STATUSES,
    RUN_STATUSES,
    TRAINING_STATUSES,
    CandidateRecord,
    IterationRecord,
    RunRecord,
    TrainingRecord,
)
from rewardforge.runs.store_results import ResultTables

logger = logging.getLogger(__name__)


def _details_json(details: CandidateDetails) -> str:
    return to_json(details.model_dump(mode="json", exclude_none=True))


class RunStore(ResultTables):
    """SQLite store of runs, iterations, candidates, trainings, evaluations and model calls."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        #: Opened read-only (a workspace this process cannot write): writes raise ``RunError``.
        self.readonly = readonly
        self._local = threading.local()
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RunError(
                    f"cannot create the workspace {self.path.parent}: {exc.strerror}. Pass "
                    "--workspace DIR (or set REWARDFORGE_HOME) to a folder you can write"
                ) from None
        check_store_file(self.path)
        try:
            conn = self._conn()
            check_schema(conn, self.path)
            if not readonly:
                apply_migrations(conn)
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from None

    # -- connections -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = connect(self.path, readonly=self.readonly)
        except sqlite3.DatabaseError as exc:
            raise RunError(
                f"cannot open the run store {self.path}: {exc}. Is it a rewardforge workspace? "
                "Choose another one with --workspace or REWARDFORGE_HOME."
            ) from None
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction; SQLite's errors become a ``RunError`` naming the store."""
        if self.readonly:
            raise failure(self.path, sqlite3.OperationalError("readonly"))
        return transaction(self._conn(), self.path)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.conn = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "readonly": self.readonly}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.readonly = state.get("readonly", False)
        self._local = threading.local()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self, task_id: str, strategy: str, config: Mapping[str, Any], *, run_id: str | None = None
    ) -> RunRecord:
        run_id = run_id or make_run_id(task_id, strategy)
        now = utc_now()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise RunError(f"a run with id {run_id!r} already exists; choose another id")
            insert_row(
                conn,
                "runs",
                id=run_id,
                task_id=task_id,
                strategy=strategy,
                status="running",
                config=to_json(dict(config)),
                versions=to_json(collect_versions()),
                created_at=now,
                updated_at=now,
                summary="{}",
                pid=os.getpid(),
                host=socket.gethostname(),
            )
        logger.info("created run %s", run_id)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or the only run whose id starts with it."""
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            like = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self._rows(
                "SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at", (like,)
            )
        if len(rows) == 1:
            return RunRecord.from_row(rows[0])
        if len(rows) > 1:
            names = ", ".join(r["id"] for r in rows[:5])
            raise RunError(
                f"{run_id!r} matches {len(rows)} runs ({names}{', ...' if len(rows) > 5 else ''}); "
                "give more of the run id"
            )
        ids = [r["id"] for r in self._rows("SELECT id FROM runs")]
        hint = did_you_mean(run_id, ids)
        raise RunNotFoundError(
            f"no run {run_id!r} in workspace {self.path.parent}.{hint}"
            + ("" if hint else " List the runs with 'rewardforge runs'.")
        )

    def list_runs(
        self, *, task_id: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        sql, params = "SELECT * FROM runs WHERE 1 = 1", list[Any]()
        if task_id is not None:
            sql, params = sql + " AND task_id = ?", [*params, task_id]
        if status is not None:
            sql, params = sql + " AND status = ?", [*params, status]
        return [
            RunRecord.from_row(r) for r in self._rows(sql + " ORDER BY created_at DESC", params)
        ]

    def set_run_status(
        self,
        run_id: str,
        status: str,
        *,
        summary: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        check_choice(status, RUN_STATUSES, "run status")
        with self._write() as conn:
            merged = self._merged_summary(conn, run_id, summary)
            if status == "running":
                refuse_second_owner(conn, run_id)
            pid, host = (os.getpid(), socket.gethostname()) if status == "running" else (None, None)
            conn.execute(
                "UPDATE runs SET status = ?, summary = ?, error = ?, updated_at = ?,"
                " pid = COALESCE(?, pid), host = COALESCE(?, host) WHERE id = ?",
                (status, to_json(merged), error, utc_now(), pid, host, run_id),
            )
        return self.get_run(run_id)

    def update_run_summary(self, run_id: str, summary: Mapping[str, Any]) -> RunRecord:
        """Merge ``summary`` into the run's summary; status, error and owner stay as they are
        (a ``report`` beside a running search must not claim the run)."""
        with self._write() as conn:
            merged = self._merged_summary(conn, run_id, summary)
            conn.execute(
                "UPDATE runs SET summary = ?, updated_at = ? WHERE id = ?",
                (to_json(merged), utc_now(), run_id),
            )
        return self.get_run(run_id)

    def _merged_summary(
        self, conn: sqlite3.Connection, run_id: str, summary: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        row = conn.execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r} in workspace {self.path.parent}")
        return {**json.loads(row["summary"] or "{}"), **dict(summary or {})}

    def set_best(self, run_id: str, candidate_id: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET best_candidate_id = ?, updated_at = ? WHERE id = ?",
                (candidate_id, utc_now(), run_id),
            )

    # -- iterations ----------------------------------------------------------------------------
    def start_iteration(
        self, run_id: str, iteration: int, *, feedback: str | None = None
    ) -> IterationRecord:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO iterations (run_id, iteration, status, feedback, started_at)"
                " VALUES (?, ?, 'running', ?, ?)",
                (run_id, iteration, feedback, utc_now()),
            )
        record = self.get_iteration(run_id, iteration)
        assert record is not None
        return record

    def set_iteration_feedback(
        self,
        run_id: str,
        iteration: int,
        *,
        feedback: str | None = None,
        human_feedback: str | None = None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE iterations SET feedback = COALESCE(?, feedback),"
                " human_feedback = COALESCE(?, human_feedback) WHERE run_id = ? AND iteration = ?",
                (feedback, human_feedback, run_id, iteration),
            )

    def finish_iteration(
        self,
        run_id: str,
        iteration: int,
        *,
        best_candidate_id: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE iterations SET status = 'finished', finished_at = ?, best_candidate_id = ?,"
                " details = ? WHERE run_id = ? AND iteration = ?",
                (utc_now(), best_candidate_id, to_json(dict(details or {})), run_id, iteration),
            )

    def get_iteration(self, run_id: str, iteration: int) -> IterationRecord | None:
        rows = self._rows(
            "SELECT * FROM iterations WHERE run_id = ? AND iteration = ?", (run_id, iteration)
        )
        return IterationRecord.from_row(rows[0]) if rows else None

    def list_iterations(self, run_id: str) -> list[IterationRecord]:
        rows = self._rows("SELECT * FROM iterations WHERE run_id = ? ORDER BY iteration", (run_id,))
        return [IterationRecord.from_row(r) for r in rows]

    # -- candidates ----------------------------------------------------------------------------
    def add_candidate(
        self,
        run_id: str,
        iteration: int,
        slot: int,
        code: str,
        *,
        designer: str,
        parent_id: int | None = None,
        attempt: int = 0,
        status: str = "proposed",
        error_kind: str | None = None,
        error: str | None = None,
        details: CandidateDetails | None = None,
    ) -> CandidateRecord:
        check_choice(status, CANDIDATE_STATUSES, "candidate status")
        digest = content_hash(code)
        now = utc_now()
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM candidates WHERE run_id = ? AND iteration = ? AND slot = ?"
                " AND attempt = ?",
                (run_id, iteration, slot, attempt),
            ).fetchone()
            if row is None:
                new_id = insert_row(
                    conn,
                    "candidates",
                    run_id=run_id,
                    iteration=iteration,
                    slot=slot,
                    attempt=attempt,
                    code=code,
                    content_hash=digest,
                    parent_id=parent_id,
                    designer=designer,
                    status=status,
                    error_kind=error_kind,
                    error=error,
                    details=_details_json(details or CandidateDetails()),
                    created_at=now,
                    updated_at=now,
                )
                row = conn.execute("SELECT * FROM candidates WHERE id = ?", (new_id,)).fetchone()
        record = CandidateRecord.from_row(row)
        if record.content_hash != digest:
            raise RunError(
                f"run {run_id}: iteration {iteration} slot {slot} attempt {attempt} already holds "
                f"candidate {record.id} with different code (hash {record.content_hash}, new "
                f"{digest}); resuming must propose the same candidates. Was the model cache "
                "deleted or the designer changed?"
            )
        return record

    def find_candidate(
        self, run_id: str, iteration: int, slot: int, attempt: int = 0
    ) -> CandidateRecord | None:
        rows = self._rows(
            "SELECT * FROM candidates WHERE run_id = ? AND iteration = ? AND slot = ? AND attempt = ?",
            (run_id, iteration, slot, attempt),
        )
        return CandidateRecord.from_row(rows[0]) if rows else None

    def get_candidate(self, candidate_id: int) -> CandidateRecord:
        rows = self._rows("SELECT * FROM candidates WHERE id = ?", (candidate_id,))
        if not rows:
            raise RunError(f"no candidate with id {candidate_id} in {self.path}")
        return CandidateRecord.from_row(rows[0])

    def update_candidate(
        self,
        candidate_id: int,
        *,
        status: str | None = None,
        error_kind: str | None = None,
        error: str | None = None,
        fitness: float | None = None,
        success_rate: float | None = None,
        details: CandidateDetails | None = None,
    ) -> CandidateRecord:
        """Set the given fields; ``details`` sections are merged field by field."""
        if status is not None:
            check_choice(status, CANDIDATE_STATUSES, "candidate status")
        with self._write() as conn:
            row = conn.execute(
                "SELECT details FROM candidates WHERE id = ?", (candidate_id,)
            ).fetchone()
            if row is None:
                raise RunError(f"no candidate with id {candidate_id} in {self.path}")
            stored = CandidateDetails.from_stored(json.loads(row["details"] or "{}"))
            conn.execute(
                "UPDATE candidates SET status = COALESCE(?, status),"
                " error_kind = COALESCE(?, error_kind), error = COALESCE(?, error),"
                " fitness = COALESCE(?, fitness), success_rate = COALESCE(?, success_rate),"
                " details = ?, updated_at = ? WHERE id = ?",
                (
                    status,
                    error_kind,
                    error,
                    None if fitness is None else float(fitness),
                    None if success_rate is None else float(success_rate),
                    _details_json(stored.merged(details)),
                    utc_now(),
                    candidate_id,
                ),
            )
        return self.get_candidate(candidate_id)

    def list_candidates(self, run_id: str, iteration: int | None = None) -> list[CandidateRecord]:
        sql, params = "SELECT * FROM candidates WHERE run_id = ?", list[Any]([run_id])
        if iteration is not None:
            sql, params = sql + " AND iteration = ?", [run_id, iteration]
        rows = self._rows(sql + " ORDER BY iteration, slot, attempt", params)
        return [CandidateRecord.from_row(r) for r in rows]

    # -- trainings -----------------------------------------------------------------------------
    def find_training(
        self, candidate_id: int, seed: int, budget_steps: int
    ) -> TrainingRecord | None:
        rows = self._rows(
            "SELECT * FROM trainings WHERE candidate_id = ? AND seed = ? AND budget_steps = ?",
            (candidate_id, seed, budget_steps),
        )
        return TrainingRecord.from_row(rows[0]) if rows else None

    def record_training(
        self,
        candidate_id: int,
        *,
        seed: int,
        budget_steps: int,
        status: str = "finished",
        member: int = 0,
        fitness: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        checkpoint: str | Path | None = None,
        wall_time_s: float | None = None,
    ) -> TrainingRecord:
        check_choice(status, TRAINING_STATUSES, "training status")
        with self._write() as conn:
            if checkpoint is not None:  # kept relative to the run folder (see runs/artifacts.py)
                row = conn.execute(
                    "SELECT run_id FROM candidates WHERE id = ?", (candidate_id,)
                ).fetchone()
                if row is not None:
                    checkpoint = relative_to_run(self.path.parent, row[0], checkpoint)
            conn.execute(
                "INSERT INTO trainings (candidate_id, member, seed, budget_steps, status, fitness,"
                " metrics, checkpoint, wall_time_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (candidate_id, seed, budget_steps) DO UPDATE SET member ="
                " excluded.member, status = excluded.status, fitness = excluded.fitness,"
                " metrics = excluded.metrics, checkpoint = excluded.checkpoint,"
                " wall_time_s = excluded.wall_time_s",
                (
                    candidate_id,
                    member,
                    seed,
                    budget_steps,
                    status,
                    None if fitness is None else float(fitness),
                    to_json(dict(metrics or {})),
                    None if checkpoint is None else str(checkpoint),
                    wall_time_s,
                    utc_now(),
                ),
            )
        record = self.find_training(candidate_id, seed, budget_steps)
        assert record is not None
        return record

    def list_trainings(
        self, run_id: str | None = None, *, candidate_id: int | None = None
    ) -> list[TrainingRecord]:
        sql = "SELECT t.* FROM trainings t JOIN candidates c ON c.id = t.candidate_id WHERE 1 = 1"
        params: list[Any] = []
        if run_id is not None:
            sql, params = sql + " AND c.run_id = ?", [*params, run_id]
        if candidate_id is not None:
            sql, params = sql + " AND t.candidate_id = ?", [*params, candidate_id]
        rows = self._rows(sql + " ORDER BY t.candidate_id, t.budget_steps, t.seed", params)
        return [TrainingRecord.from_row(r) for r in rows]
