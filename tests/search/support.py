"""Helpers for search tests: configs from flat options, and a callback that logs every hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rewardforge.search.callbacks import SearchCallback
from rewardforge.search.config import SearchConfig
from rewardforge.search.options import build_config


def make_config(task: str, **values: Any) -> SearchConfig:
    """A config from option names (the CLI's flags), training in this process unless
    ``workers`` says otherwise (tests that count halving rungs need one population)."""
    return build_config(task, values={"workers": 1, **values})


def with_options(config: SearchConfig, **values: Any) -> SearchConfig:
    """``config`` with some options changed."""
    return build_config(base=config.to_dict(), values=values)


class EventLog(SearchCallback):
    """Keeps ``(hook, event)`` for every hook called; ``on(hook, event)`` runs after each."""

    def __init__(self, on: Callable[[str, Any], None] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.on = on

    @property
    def hooks(self) -> set[str]:
        return {hook for hook, _ in self.events}

    def of(self, hook: str) -> list[Any]:
        return [event for name, event in self.events if name == hook]


def _logging_hook(name: str) -> Callable[[EventLog, Any], None]:
    def hook(self: EventLog, event: Any) -> None:
        self.events.append((name, event))
        if self.on is not None:
            self.on(name, event)

    return hook


for _name in dir(SearchCallback):
    if _name.startswith("on_") and _name != "on_feedback_request":
        setattr(EventLog, _name, _logging_hook(_name))
