"""The task registry: built-in task files shipped as package data, plus tasks registered at run
time. ``get_task`` takes a registered id or a path to a task file."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from rewardforge.errors import TaskError, TaskNotFoundError, did_you_mean
from rewardforge.tasks.files import load_task_file, parse_task_text
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, Task] = {}
_BUILTINS_LOADED = False


def register_task(task: Task, *, overwrite: bool = False) -> Task:
    """Add ``task`` to the registry; an id already taken is an error unless ``overwrite``."""
    if task.id in _REGISTRY and not overwrite:
        raise TaskError(f"a task with id {task.id!r} is already registered; pick another id")
    _REGISTRY[task.id] = task
    return task


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    folder = resources.files("rewardforge.tasks") / "builtin"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            task = parse_task_text(entry.read_text(encoding="utf-8"), f"builtin/{entry.name}")
            _REGISTRY.setdefault(task.id, task)


def list_tasks() -> list[Task]:
    _load_builtins()
    return sorted(_REGISTRY.values(), key=lambda t: t.id)


def get_task(name: str) -> Task:
    """A registered task by id, or a task file by path (``.yaml``/``.yml`` or an existing file)."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_task_file(path)
    raise TaskNotFoundError(
        f"no task named {name!r}.{did_you_mean(name, _REGISTRY)} "
        f"Run 'rewardforge tasks' to list them, or pass the path of a task file."
    )
