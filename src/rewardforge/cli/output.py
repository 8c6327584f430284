"""Shared printing helpers for CLI commands (the only place that prints)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

#: Width of tables when output goes to a file or pipe (rich would assume 80 columns).
PIPE_WIDTH = 160


def _width(stream: object) -> int | None:
    isatty = getattr(stream, "isatty", None)
    return None if (isatty and isatty()) or os.environ.get("COLUMNS") else PIPE_WIDTH


console = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
error_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def plain(value: Any) -> str:
    """``value`` as text that rich prints as it is: user and model text (a task's description,
    an exception a reward raised, a path) may hold ``[...]``, which rich would read as markup."""
    return escape(str(value))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
