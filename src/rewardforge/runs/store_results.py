"""The run store's result tables: evaluations (final and baselines) and model calls.

Part of ``RunStore`` (``runs/store.py``), kept in its own module so each stays small; the
methods use the store's connection (``_write``: one short transaction; ``_rows``: a read)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from rewardforge.errors import RunError
from rewardforge.runs.meta import check_choice, insert_row, to_json, utc_now
from rewardforge.runs.records import (
    EVALUATION_KINDS,
    EvaluationRecord,
    ModelCallRecord,
    ModelUsage,
)


class ResultTables:
    """Evaluations and model calls of ``RunStore``."""

    path: Path

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # RunStore's

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError  # RunStore's

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
            new_id = insert_row(
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
            new_id = insert_row(
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


__all__ = ["ResultTables"]
