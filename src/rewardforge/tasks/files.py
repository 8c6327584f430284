"""Task files: YAML read into a ``Task``, with errors that name the file and the field.

``variables: auto`` is resolved here: the environment is built once and its variables found
(``tasks/discover.py``), so a ``Task`` always holds its variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rewardforge.errors import TaskFileError
from rewardforge.tasks.discover import discover_variables
from rewardforge.tasks.spec import MAX_TASK_FILE_BYTES, EnvSpec, Task


def load_task_file(path: str | Path) -> Task:
    """Load and validate a task file; errors name the file and the field."""
    path = Path(path)
    origin = str(path)
    try:
        if path.stat().st_size > MAX_TASK_FILE_BYTES:
            raise TaskFileError(
                f"task file {origin} is {path.stat().st_size:,} bytes; a task file may be at "
                f"most {MAX_TASK_FILE_BYTES:,} bytes. Is it the right file?"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskFileError(f"cannot read task file {origin}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TaskFileError(
            f"task file {origin} is not a text file (it is not UTF-8); a task file is YAML: "
            "check that you passed the right path"
        ) from None
    return parse_task_text(text, origin)


def parse_task_text(text: str, origin: str = "<string>") -> Task:
    """A task from the text of a task file (``origin`` names it in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TaskFileError(f"task file {origin} is not valid YAML{where}: {exc}") from None
    if not isinstance(data, dict):
        raise TaskFileError(
            f"task file {origin} must be a YAML mapping with keys id, description, env, ..."
        )
    return task_from_data(data, origin)


def task_from_data(data: dict[str, Any], origin: str = "<string>") -> Task:
    """A task from a task file's mapping, ``variables: auto`` resolved."""
    if data.get("variables") == "auto":
        data = _discovered(data, origin)
    try:
        task = Task.model_validate(data)
    except ValidationError as exc:
        names = list(data["variables"]) if isinstance(data.get("variables"), dict) else []
        raise TaskFileError(_format_validation(exc, origin, names=names)) from None
    return task.model_copy(update={"source_file": origin})


def _discovered(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """``data`` with the variables (and wrappers) its environment shows."""
    try:
        env = EnvSpec.model_validate(data.get("env"))
    except ValidationError as exc:
        raise TaskFileError(_format_validation(exc, origin, prefix="env.")) from None
    found, extra = discover_variables(env, origin)
    wrappers = [*(w.model_dump() for w in env.wrappers), *(w.model_dump() for w in extra)]
    env_data = {**dict(data["env"]), "wrappers": wrappers}
    return {**data, "env": env_data, "variables": {k: v.model_dump() for k, v in found.items()}}


def _format_validation(
    exc: ValidationError, origin: str, prefix: str = "", names: list[str] | None = None
) -> str:
    """One line per error, each naming the field as the file spells it (a variable by name)."""
    lines = [f"task file {origin} is invalid:"]
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        if parts[:1] == ["variables"] and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            parts[1] = names[index] if names and index < len(names) else parts[1]
        loc = prefix + ".".join(parts)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "required field is missing; add it"
        lines.append(f"  - {loc}: {msg}" if loc else f"  - {msg}")
    return "\n".join(lines)


__all__ = ["load_task_file", "parse_task_text", "task_from_data"]
