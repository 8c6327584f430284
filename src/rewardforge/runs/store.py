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

API (stable; every method is one short transaction, so a SIGKILL loses at most the call in
flight; all rows come back as frozen dataclasses from ``rewardforge.runs.records``)::

    store = RunStore(path)                       # opens/creates, applies named migrations
    # runs -- id "{task}__{strategy}__{yyyymmdd-HHMMSS}__{4 hex}", status running/finished/
    #         failed/interrupted; versions of rewardforge, python, numpy, torch, gymnasium
    store.create_run(task_id, strategy, config: Mapping, *, run_id=None) -> RunRecord
    store.get_run(run_id_or_unique_prefix) -> RunRecord           # RunNotFoundError / RunError
    store.list_runs(*, task_id=None, status=None) -> list[RunRecord]   # newest first
    store.set_run_status(run_id, status, *, summary=None, error=None) -> RunRecord
        # summary is merged into the stored dict; error replaces the stored one (None clears
        # it); status "running" also records this pid and host (call it when resuming)
    store.set_best(run_id, candidate_id) -> None
    # iterations -- idempotent start, so resume can call it again
    store.start_iteration(run_id, iteration, *, feedback=None) -> IterationRecord
    store.set_iteration_feedback(run_id, iteration, *, feedback=None, human_feedback=None)
    store.finish_iteration(run_id, iteration, *, best_candidate_id=None, details=None)
        # details replaces the stored dict (e.g. {"reflection": text})
    store.get_iteration(run_id, iteration) -> IterationRecord | None
    store.list_iterations(run_id) -> list[IterationRecord]
    # candidates -- (run_id, iteration, slot, attempt) is unique: add_candidate with a key that
    #   exists returns the stored row unchanged (resume), and raises RunError if its code differs
    store.add_candidate(run_id, iteration, slot, code, *, designer, parent_id=None, attempt=0,
                        status="proposed", error_kind=None, error=None, details=None)
        -> CandidateRecord
    store.find_candidate(run_id, iteration, slot, attempt=0) -> CandidateRecord | None
    store.get_candidate(candidate_id) -> CandidateRecord
    store.update_candidate(candidate_id, *, status=None, error_kind=None, error=None,
                           fitness=None, details=None) -> CandidateRecord   # details merged
    store.list_candidates(run_id, iteration=None) -> list[CandidateRecord]  # by iteration, slot
    # trainings -- unique per (candidate_id, seed, budget_steps); record is an upsert
    store.find_training(candidate_id, seed, budget_steps) -> TrainingRecord | None
        # any recorded outcome (finished/failed/stopped_early); one killed mid-way has no row
    store.record_training(candidate_id, *, seed, budget_steps, status="finished", member=0,
                          fitness=None, metrics=None, checkpoint=None, wall_time_s=None)
        -> TrainingRecord
        # metrics convention: {"curve": {"steps": [...], "fitness": [...], "return": [...]},
        #                      "components": {name: {"mean":..,"std":..,"min":..,"max":..}}, ...}
    store.list_trainings(run_id=None, *, candidate_id=None) -> list[TrainingRecord]
    # evaluations -- kind final/baseline/checkpoint; candidate_id or baseline ("env", "sparse")
    store.record_evaluation(run_id, *, kind, per_seed: Sequence[float], seeds: Sequence[int],
                            candidate_id=None, baseline=None, details=None) -> EvaluationRecord
    store.list_evaluations(run_id, *, kind=None) -> list[EvaluationRecord]
    # model calls -- counts only; the text lives in the model cache
    store.record_model_call(run_id, *, request_hash, provider, model, prompt_tokens=0,
                            completion_tokens=0, cost_usd=0.0, latency_s=0.0, cached=False,
                            iteration=None, purpose="") -> ModelCallRecord
    store.list_model_calls(run_id) -> list[ModelCallRecord]
    store.model_usage(run_id) -> ModelUsage   # tokens and cost of calls not served from cache
    store.close()

Workspace (``rewardforge.runs.Workspace``)::

    ws = Workspace(root=None)          # root: argument, else $REWARDFORGE_HOME, else ./runs
    ws.store -> RunStore               # <root>/runs.sqlite, opened lazily
    ws.exists -> bool                  # a store is there (reading commands create nothing)
    ws.model_cache_path -> Path        # <root>/model_cache.sqlite for the model layer's cache
    ws.run_dir(run_id) -> Path         # <root>/<run_id>/ with rewards/, checkpoints/, tb/
    ws.reward_path(run_id, candidate_id), ws.checkpoint_dir(run_id), ws.tb_dir(run_id),
    ws.gif_path(run_id) (best.gif, embedded by the report), ws.report_path(run_id)

Reading helpers (``rewardforge.runs.summary``): ``run_summary(store, run_id) -> dict`` (what
``show --json`` prints), ``best_candidate(store, run)``, ``effective_status(run)``,
``human_normalized_score(method, env, sparse)``, and ``iteration_digest(store, run_id,
iteration, num_best=3, animation_path=None) -> str``: the text to show a person before
``--feedback human`` asks for theirs (store their answer with ``set_iteration_feedback``).
Report and export (``rewardforge.report``): ``write_report(store, run_id, out_path, *,
gif_path=None) -> Path``, ``render_policy_gif(task, policy_fn, path, num_frames=200, *, seed=0,
fps=30, frame_skip=1) -> Path`` (raises RunError when the env cannot render: put ``str(error)``
in the run summary as ``animation_error`` and the report shows it), ``export_run(store,
workspace, run_id, out_dir=None, *, candidate_id=None, task=None) -> ExportResult``.

``content_hash(code)`` is the hash stored with candidates; ``collect_versions()`` the versions
dict; ``process_alive(run)`` tells whether a "running" run's process still exists on this host.
A store may be passed to other processes (it pickles as its path); each process and thread opens
its own connection.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from rewardforge.errors import RunError, RunNotFoundError, did_you_mean
from rewardforge.runs.artifacts import relative_to_run
from rewardforge.runs.meta import (
    check_choice,
    collect_versions,
    content_hash,
    make_run_id,
    owner_alive,
    to_json,
    utc_now,
)
from rewardforge.runs.migrations import apply_migrations
from rewardforge.runs.opening import check_schema, check_store_file, connect, failure
from rewardforge.runs.records import (
    CANDIDATE_STATUSES,
    EVALUATION_KINDS,
    RUN_STATUSES,
    TRAINING_STATUSES,
    CandidateRecord,
    EvaluationRecord,
    IterationRecord,
    ModelCallRecord,
    ModelUsage,
    RunRecord,
    TrainingRecord,
)

logger = logging.getLogger(__name__)


def _insert(conn: sqlite3.Connection, table: str, **values: Any) -> int:
    """INSERT one row (column names are ours, never user input); returns its rowid."""
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))
    return int(cur.lastrowid or 0)


class RunStore:
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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise failure(self.path, sqlite3.OperationalError("readonly"))
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from None
        try:
            yield conn
        except BaseException as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise failure(self.path, exc) from None
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from None

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
            _insert(
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
                self._refuse_second_owner(conn, run_id)
            pid, host = (os.getpid(), socket.gethostname()) if status == "running" else (None, None)
            conn.execute(
                "UPDATE runs SET status = ?, summary = ?, error = ?, updated_at = ?,"
                " pid = COALESCE(?, pid), host = COALESCE(?, host) WHERE id = ?",
                (status, to_json(merged), error, utc_now(), pid, host, run_id),
            )
        return self.get_run(run_id)

    def _refuse_second_owner(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Claiming a run another live process is running would make two writers of it."""
        row = conn.execute("SELECT status, pid, host FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or row["status"] != "running" or row["pid"] in (None, os.getpid()):
            return
        if owner_alive(row["pid"], row["host"]):
            raise RunError(
                f"run {run_id} is still running (process {row['pid']} on {row['host']}); wait "
                f"for it to finish, or stop that process (kill {row['pid']}) and resume then"
            )

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
        details: Mapping[str, Any] | None = None,
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
                new_id = _insert(
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
                    details=to_json(dict(details or {})),
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
        details: Mapping[str, Any] | None = None,
    ) -> CandidateRecord:
        if status is not None:
            check_choice(status, CANDIDATE_STATUSES, "candidate status")
        with self._write() as conn:
            row = conn.execute(
                "SELECT details FROM candidates WHERE id = ?", (candidate_id,)
            ).fetchone()
            if row is None:
                raise RunError(f"no candidate with id {candidate_id} in {self.path}")
            merged = {**json.loads(row["details"] or "{}"), **dict(details or {})}
            conn.execute(
                "UPDATE candidates SET status = COALESCE(?, status),"
                " error_kind = COALESCE(?, error_kind), error = COALESCE(?, error),"
                " fitness = COALESCE(?, fitness), details = ?, updated_at = ? WHERE id = ?",
                (
                    status,
                    error_kind,
                    error,
                    None if fitness is None else float(fitness),
                    to_json(merged),
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

    # -- evaluations ---------------------------------------------------------------------------
    def record_evaluation(
        self,
        run_id: str,
        *,
        kind: str,
        per_seed: Sequence[float],
        seeds: Sequence[int],
        candidate_id: int | None = None,
        baseline: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> EvaluationRecord:
        check_choice(kind, EVALUATION_KINDS, "evaluation kind")
        if (candidate_id is None) == (baseline is None):
            raise RunError("an evaluation needs exactly one of candidate_id or baseline")
        if len(per_seed) != len(seeds) or not seeds:
            raise RunError(
                f"an evaluation needs one value per seed, got {len(per_seed)} values for "
                f"{len(seeds)} seeds"
            )
        values = np.asarray(per_seed, dtype=np.float64)
        with self._write() as conn:
            new_id = _insert(
                conn,
                "evaluations",
                run_id=run_id,
                candidate_id=candidate_id,
                baseline=baseline,
                kind=kind,
                seeds=to_json([int(x) for x in seeds]),
                per_seed=to_json(values.tolist()),
                mean=float(values.mean()),
                std=float(values.std()),
                details=to_json(dict(details or {})),
                created_at=utc_now(),
            )
            row = conn.execute("SELECT * FROM evaluations WHERE id = ?", (new_id,)).fetchone()
        return EvaluationRecord.from_row(row)

    def list_evaluations(self, run_id: str, *, kind: str | None = None) -> list[EvaluationRecord]:
        sql, params = "SELECT * FROM evaluations WHERE run_id = ?", list[Any]([run_id])
        if kind is not None:
            sql, params = sql + " AND kind = ?", [run_id, kind]
        return [EvaluationRecord.from_row(r) for r in self._rows(sql + " ORDER BY id", params)]

    # -- model calls ---------------------------------------------------------------------------
    def record_model_call(
        self,
        run_id: str,
        *,
        request_hash: str,
        provider: str,
        model: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
        latency_s: float = 0.0,
        cached: bool = False,
        iteration: int | None = None,
        purpose: str = "",
    ) -> ModelCallRecord:
        with self._write() as conn:
            new_id = _insert(
                conn,
                "model_calls",
                run_id=run_id,
                iteration=iteration,
                request_hash=request_hash,
                provider=provider,
                model=model,
                prompt_tokens=int(prompt_tokens),
                completion_tokens=int(completion_tokens),
                cost_usd=float(cost_usd),
                latency_s=float(latency_s),
                cached=int(bool(cached)),
                purpose=purpose,
                created_at=utc_now(),
            )
            row = conn.execute("SELECT * FROM model_calls WHERE id = ?", (new_id,)).fetchone()
        return ModelCallRecord.from_row(row)

    def list_model_calls(self, run_id: str) -> list[ModelCallRecord]:
        rows = self._rows("SELECT * FROM model_calls WHERE run_id = ? ORDER BY id", (run_id,))
        return [ModelCallRecord.from_row(r) for r in rows]

    def model_usage(self, run_id: str) -> ModelUsage:
        row = self._rows(
            "SELECT COUNT(*) AS n, COALESCE(SUM(cached), 0) AS n_cached,"
            " COALESCE(SUM(CASE WHEN cached THEN 0 ELSE prompt_tokens END), 0) AS p,"
            " COALESCE(SUM(CASE WHEN cached THEN 0 ELSE completion_tokens END), 0) AS c,"
            " COALESCE(SUM(CASE WHEN cached THEN 0 ELSE cost_usd END), 0) AS cost,"
            " COALESCE(SUM(latency_s), 0) AS latency FROM model_calls WHERE run_id = ?",
            (run_id,),
        )[0]
        return ModelUsage(
            num_calls=int(row["n"]),
            num_cached=int(row["n_cached"]),
            prompt_tokens=int(row["p"]),
            completion_tokens=int(row["c"]),
            cost_usd=float(row["cost"]),
            latency_s=float(row["latency"]),
        )
