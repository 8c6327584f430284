"""The SQLite cache of every model answer, and the key that finds it again.

A request is keyed by a hash of provider, model, messages and parameters (never the
number of samples, never a key); each sample of it by its index. The raw response text is
written (and committed) before anything parses it, so a paid answer is never lost. Modes:

- ``use``: answers found are reused, the rest are asked for and stored;
- ``replay``: offline; an answer not in the cache is a :class:`CacheMissError`;
- ``off``: nothing is read or written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rewardforge.errors import ConfigError, ModelResponseError, ModelTruncatedError
from rewardforge.llm.types import Completion, Message, RawResponse, SampleFailure, Usage

CacheMode = Literal["use", "replay", "off"]
CACHE_MODES: tuple[str, ...] = ("use", "replay", "off")

#: Named, append-only migrations; never edit one that has shipped, add a new one.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "001_responses_and_samples",
        """
        CREATE TABLE responses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_hash TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            request_json TEXT NOT NULL,
            raw_text TEXT NOT NULL,
            request_id TEXT,
            latency_s REAL,
            created_at REAL NOT NULL
        );
        CREATE INDEX responses_by_hash ON responses (request_hash);
        CREATE TABLE samples (
            request_hash TEXT NOT NULL,
            sample_index INTEGER NOT NULL,
            response_id INTEGER REFERENCES responses (id),
            text TEXT,
            finish_reason TEXT,
            model TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL,
            request_id TEXT,
            error_kind TEXT,
            error_message TEXT,
            created_at REAL NOT NULL,
            PRIMARY KEY (request_hash, sample_index)
        );
        """,
    ),
)

_FAILURE_KINDS: dict[str, type[ModelResponseError]] = {
    "ModelResponseError": ModelResponseError,
    "ModelTruncatedError": ModelTruncatedError,
}


def canonical_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages as JSON-able dicts; images by their SHA-256, not their bytes."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.images:
            item["images"] = [{"sha256": im.sha256, "media_type": im.media_type} for im in m.images]
        out.append(item)
    return out


def request_record(
    provider: str, model: str, messages: Sequence[Message], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The request as stored and hashed: provider, model, messages, parameters. No secrets."""
    return {
        "provider": provider,
        "model": model,
        "messages": canonical_messages(messages),
        "params": {k: params[k] for k in sorted(params)},
    }


def request_hash(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_mode(mode: str) -> CacheMode:
    if mode not in CACHE_MODES:
        raise ConfigError(f"cache mode must be one of {', '.join(CACHE_MODES)}, got {mode!r}")
    return mode  # type: ignore[return-value]


class ModelCache:
    """SQLite (WAL) store of raw responses and parsed samples; safe to share across threads."""

    def __init__(self, path: str | Path, mode: str = "use") -> None:
        self.path = Path(path)
        self.mode: CacheMode = check_mode(mode)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if self.mode == "replay" and not self.path.exists():
            raise ConfigError(
                f"replay needs a model cache, but {self.path} does not exist; point to the "
                "cache of the run to replay, or use cache mode 'use'"
            )
        if self.mode != "off":
            self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            conn.execute("BEGIN")
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))
            conn.execute("COMMIT")
        self._conn = conn

    @property
    def reads(self) -> bool:
        return self.mode in ("use", "replay")

    @property
    def writes(self) -> bool:
        return self.mode == "use"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ModelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------
    def store_raw(self, key: str, record: Mapping[str, Any], raw: RawResponse) -> int | None:
        """Store a raw response before it is parsed; returns its row id."""
        if not self.writes or self._conn is None:
            return None
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO responses (request_hash, provider, model, request_json, raw_text,"
                " request_id, latency_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    record["provider"],
                    record["model"],
                    json.dumps(record, sort_keys=True, ensure_ascii=False),
                    raw.text,
                    raw.request_id,
                    raw.latency_s,
                    time.time(),
                ),
            )
            return cur.lastrowid

    def store_sample(
        self, key: str, response_id: int | None, outcome: Completion | SampleFailure
    ) -> None:
        if not self.writes or self._conn is None:
            return
        row: tuple[Any, ...]
        if isinstance(outcome, Completion):
            row = (
                key, outcome.sample_index, response_id, outcome.text, outcome.finish_reason,
                outcome.model, outcome.usage.prompt_tokens, outcome.usage.completion_tokens,
                outcome.latency_s, outcome.request_id, None, None, time.time(),
            )  # fmt: skip
        else:
            error = outcome.error
            row = (
                key, outcome.sample_index, response_id, getattr(error, "text", None), None, None,
                0, 0, None, error.request_id, type(error).__name__, str(error), time.time(),
            )  # fmt: skip
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row
            )

    # --- reading -----------------------------------------------------------------------
    def lookup(self, key: str, index: int) -> Completion | SampleFailure | None:
        """The stored outcome of sample ``index`` of request ``key``, or None.

        In ``use`` mode only successes are returned (a stored failure is asked again); in
        ``replay`` mode a stored failure is returned as it happened."""
        if not self.reads or self._conn is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT text, finish_reason, model, prompt_tokens, completion_tokens, latency_s,"
                " request_id, error_kind, error_message FROM samples"
                " WHERE request_hash = ? AND sample_index = ?",
                (key, index),
            ).fetchone()
        if row is None:
            return None
        text, finish, model, ptok, ctok, latency, request_id, error_kind, error_message = row
        if error_kind is None:
            return Completion(
                text=text,
                finish_reason=finish,
                model=model,
                usage=Usage(ptok, ctok),
                latency_s=latency or 0.0,
                sample_index=index,
                cached=True,
                request_id=request_id,
            )
        if self.mode != "replay":
            return None
        cls = _FAILURE_KINDS.get(error_kind, ModelResponseError)
        if cls is ModelTruncatedError:
            error: ModelResponseError = ModelTruncatedError(
                error_message, text=text or "", request_id=request_id
            )
        else:
            error = cls(error_message, request_id=request_id)
        return SampleFailure(index, error)

    def count(self, table: Literal["responses", "samples"] = "samples") -> int:
        if self._conn is None:
            return 0
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def raw_responses(self, key: str | None = None) -> list[dict[str, Any]]:
        """Stored raw responses (newest last), all or for one request hash."""
        if self._conn is None:
            return []
        sql = "SELECT id, request_hash, provider, model, raw_text, created_at FROM responses"
        args: tuple[Any, ...] = ()
        if key is not None:
            sql += " WHERE request_hash = ?"
            args = (key,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        cols = ("id", "request_hash", "provider", "model", "raw_text", "created_at")
        return [dict(zip(cols, r, strict=False)) for r in rows]
