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
    if run.pid is None or run.host != socket.gethostname():
        return None
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
