"""Named, append-only schema migrations for the run store.

Each migration is a name and a tuple of steps: SQL statements, or functions of the connection.
A migration, once released, is never
edited: change the schema by appending a new one. ``apply_migrations`` runs the missing ones in
order, each in its own ``BEGIN IMMEDIATE`` transaction, and records its name in ``migrations`` so
two processes opening a fresh workspace at once apply each migration exactly once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone

logger = logging.getLogger(__name__)


def _backfill_success_rate(conn: sqlite3.Connection) -> None:
    """Copy each candidate's ``details.success_rate`` into the column. In Python, not SQL:
    details written before hold NaN, which SQLite's JSON functions reject."""
    rows = conn.execute("SELECT id, details FROM candidates").fetchall()
    for cid, text in rows:
        try:
            value = json.loads(text or "{}").get("success_rate")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            conn.execute("UPDATE candidates SET success_rate = ? WHERE id = ?", (value, cid))


#: A step: SQL, or a function run inside the migration's transaction.
Step = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: tuple[tuple[str, tuple[Step, ...]], ...] = (
    (
        "0001_initial",
        (
            """CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                task_id TEXT NOT NULL,
                strategy TEXT NOT NULL,
                status TEXT NOT NULL,
                config TEXT NOT NULL,
                versions TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                best_candidate_id INTEGER,
                summary TEXT NOT NULL DEFAULT '{}',
                error TEXT,
                pid INTEGER,
                host TEXT
            )""",
            "CREATE INDEX runs_created ON runs (created_at)",
            """CREATE TABLE iterations (
                run_id TEXT NOT NULL REFERENCES runs (id),
                iteration INTEGER NOT NULL,
                status TEXT NOT NULL,
                feedback TEXT,
                human_feedback TEXT,
                best_candidate_id INTEGER,
                details TEXT NOT NULL DEFAULT '{}',
                started_at TEXT NOT NULL,
                finished_at TEXT,
                PRIMARY KEY (run_id, iteration)
            )""",
            """CREATE TABLE candidates (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL REFERENCES runs (id),
                iteration INTEGER NOT NULL,
                slot INTEGER NOT NULL,
                attempt INTEGER NOT NULL DEFAULT 0,
                code TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                parent_id INTEGER REFERENCES candidates (id),
                designer TEXT NOT NULL,
                status TEXT NOT NULL,
                error_kind TEXT,
                error TEXT,
                fitness REAL,
                details TEXT NOT NULL DEFAULT '{}',
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (run_id, iteration, slot, attempt)
            )""",
            "CREATE INDEX candidates_run ON candidates (run_id, iteration)",
            """CREATE TABLE trainings (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                candidate_id INTEGER NOT NULL REFERENCES candidates (id),
                member INTEGER NOT NULL DEFAULT 0,
                seed INTEGER NOT NULL,
                budget_steps INTEGER NOT NULL,
                status TEXT NOT NULL,
                fitness REAL,
                metrics TEXT NOT NULL DEFAULT '{}',
                checkpoint TEXT,
                wall_time_s REAL,
                created_at TEXT NOT NULL,
                UNIQUE (candidate_id, seed, budget_steps)
            )""",
            """CREATE TABLE evaluations (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL REFERENCES runs (id),
                candidate_id INTEGER REFERENCES candidates (id),
                baseline TEXT,
                kind TEXT NOT NULL,
                seeds TEXT NOT NULL,
                per_seed TEXT NOT NULL,
                mean REAL NOT NULL,
                std REAL NOT NULL,
                details TEXT NOT NULL DEFAULT '{}',
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX evaluations_run ON evaluations (run_id, kind)",
            """CREATE TABLE model_calls (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL REFERENCES runs (id),
                iteration INTEGER,
                request_hash TEXT NOT NULL,
                provider TEXT NOT NULL,
                model TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL DEFAULT 0,
                completion_tokens INTEGER NOT NULL DEFAULT 0,
                cost_usd REAL NOT NULL DEFAULT 0,
                latency_s REAL NOT NULL DEFAULT 0,
                cached INTEGER NOT NULL DEFAULT 0,
                purpose TEXT NOT NULL DEFAULT '',
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX model_calls_run ON model_calls (run_id)",
        ),
    ),
    (
        # success_rate ranks candidates (``rewardforge.ranking``): a column, no longer a key of
        # the details JSON; back-filled from the JSON of stores written before.
        "0002_candidate_success_rate",
        ("ALTER TABLE candidates ADD COLUMN success_rate REAL", _backfill_success_rate),
    ),
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM migrations ORDER BY rowid").fetchall()
    return [r[0] for r in rows]


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply the missing migrations in order; returns the names applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = set(applied_migrations(conn))
    applied: list[str] = []
    for name, statements in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have applied it while we waited for the write lock
            if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in statements:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, _now()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        logger.debug("applied migration %s", name)
        applied.append(name)
    return applied
