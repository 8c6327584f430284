"""Values the run store writes: run ids, content hashes, versions, timestamps, JSON."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import socket
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from rewardforge.errors import RunError, did_you_mean
from rewardforge.runs.records import RunRecord

VERSIONED_PACKAGES = ("rewardforge", "numpy", "torch", "gymnasium")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def content_hash(code: str) -> str:
    """sha256 of the code with line endings and trailing whitespace normalized (16 hex)."""
    normalized = "\n".join(line.rstrip() for line in code.strip().splitlines())
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]


def collect_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def make_run_id(task_id: str, strategy: str, when: datetime | None = None) -> str:
    when = when or datetime.now(timezone.utc)
    task = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(task_id).stem if "/" in task_id else task_id)
    return f"{task}__{strategy}__{when:%Y%m%d-%H%M%S}__{secrets.token_hex(2)}"


def process_alive(run: RunRecord) -> bool | None:
    """For a run marked running: is its process alive? None when it ran on another host."""
    return owner_alive(run.pid, run.host)


def owner_alive(pid: int | None, host: str | None) -> bool | None:
    """Is process ``pid`` on ``host`` alive and a Python process (a pid reused by another
    program does not count)? None when it is on another host."""
    if pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True  # no /proc here: the pid exists, trust it
    return state != [b"Z"] and (b"python" in command or b"rewardforge" in command)


def refuse_second_owner(conn: sqlite3.Connection, run_id: str) -> None:
    """Claiming a run another live process is running would make two writers of it: a
    ``RunError`` naming that process (checked inside the claiming transaction)."""
    row = conn.execute("SELECT status, pid, host FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None or row["status"] != "running" or row["pid"] in (None, os.getpid()):
        return
    if owner_alive(row["pid"], row["host"]):
        raise RunError(
            f"run {run_id} is still running (process {row['pid']} on {row['host']}); wait "
            f"for it to finish, or stop that process (kill {row['pid']}) and resume then"
        )


def to_json(value: Any) -> str:
    return json.dumps(value, default=json_default, sort_keys=True)


def json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise RunError(
            f"{what} must be one of {', '.join(allowed)}, got {value!r}.{did_you_mean(value, allowed)}"
        )


def insert_row(conn: sqlite3.Connection, table: str, **values: Any) -> int:
    """INSERT one row (column names are ours, never user input); returns its rowid."""
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values()))
    return int(cur.lastrowid or 0)
