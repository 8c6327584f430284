"""Opening a run store safely: read-only where the workspace cannot be written, and one clear
error (never a traceback, never a silent "no runs") for a store that is empty, damaged or not
a rewardforge store at all."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

from rewardforge.errors import RunError

#: How long a writer waits for another process's transaction before giving up (milliseconds).
BUSY_TIMEOUT_MS = 30_000
#: Run folders are named "{task}__{strategy}__{time}__{hex}" (``meta.make_run_id``).
RUN_FOLDER_MARK = "__"


def run_folders(root: Path) -> list[str]:
    """Names of the run folders in a workspace."""
    try:
        return sorted(
            p.name for p in root.iterdir() if p.is_dir() and p.name.count(RUN_FOLDER_MARK) >= 3
        )
    except OSError:
        return []


def check_store_file(path: Path) -> None:
    """A 0-byte store beside run folders lost its runs: say so rather than show none."""
    try:
        empty = path.stat().st_size == 0
    except OSError:
        return
    folders = run_folders(path.parent) if empty else []
    if folders:
        shown = ", ".join(folders[:3]) + (", ..." if len(folders) > 3 else "")
        raise RunError(
            f"the run store {path} is empty (0 bytes), but the workspace holds {len(folders)} "
            f"run folder(s) ({shown}): the store was lost or damaged. Restore {path.name} from a "
            f"backup; the run folders still hold the reward files, checkpoints and logs"
        )


def writable(root: Path) -> bool:
    """Whether a store can be created or written in ``root`` (False: open it read-only)."""
    path = root / "runs.sqlite"
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(root, os.W_OK | os.X_OK) if root.exists() else True


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection to the store; read-only ones never write (no WAL switch, no migrations)."""
    if not readonly:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    else:
        # A WAL store in a folder we cannot write has no -shm file to share: read it as an
        # immutable snapshot then (nobody can be writing it there anyway).
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def failure(path: Path, exc: sqlite3.Error) -> RunError:
    """The ``RunError`` for what SQLite said about the store at ``path``."""
    text = str(exc)
    if any(w in text for w in ("malformed", "not a database", "corrupt", "disk I/O")):
        return RunError(
            f"the run store {path} is damaged ({text}). Restore it from a backup, or recover "
            f"what is readable with: sqlite3 {path} .recover | sqlite3 recovered.sqlite"
        )
    if "readonly" in text or "read-only" in text:
        return RunError(
            f"the workspace {path.parent} is read-only and this command writes to its store; run "
            "it where you can write, or copy the workspace and pass --workspace COPY"
        )
    if "locked" in text or "busy" in text:
        return RunError(
            f"the run store {path} stayed locked by another process for "
            f"{BUSY_TIMEOUT_MS // 1000} s ({text}); try again when that process is done"
        )
    return RunError(f"the run store {path} could not be used: {text}")


@contextmanager
def transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on ``conn`` (rolled back on any exception); what
    SQLite says about the store at ``path`` becomes one ``RunError`` (see ``failure``)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise failure(path, exc) from None
    try:
        yield conn
    except BaseException as exc:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise failure(path, exc) from None
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise failure(path, exc) from None


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """An SQLite file with tables of its own but no migrations table is not our store."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "migrations" not in tables:
        raise RunError(
            f"{path} is an SQLite database but not a rewardforge run store (it has tables "
            f"{', '.join(sorted(tables)[:5])}); choose another workspace with --workspace"
        )
