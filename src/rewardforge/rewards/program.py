"""``RewardProgram``: checked reward source, identified by the hash of its normalized text."""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rewardforge.rewards.lint import lint_reward

if TYPE_CHECKING:
    from rewardforge.tasks.spec import Task


def normalize_source(source: str) -> str:
    """Same code, same text: unified newlines, no common indent, no trailing spaces or blank
    lines at either end."""
    text = source.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    lines = [line.rstrip() for line in textwrap.dedent(text).split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def content_hash(source: str) -> str:
    return hashlib.sha256(normalize_source(source).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RewardProgram:
    """Reward source with the task variables it reads (``params``).

    Build one with ``from_source`` (lints it). Constructing it directly skips the lint, which
    the sandbox does not rely on; tests use that to run code the lint would refuse.
    """

    source: str
    params: tuple[str, ...]
    helpers: tuple[str, ...] = ()
    content_hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", normalize_source(self.source))
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "content_hash", content_hash(self.source))

    @property
    def name(self) -> str:
        return f"program-{self.content_hash[:10]}"

    @classmethod
    def from_source(cls, source: str, task: Task) -> RewardProgram:
        """Lint ``source`` against ``task``'s variables; raises ``RewardRejectedError``."""
        return cls.from_variables(source, task.variable_names)

    @classmethod
    def from_variables(cls, source: str, variable_names: Sequence[str]) -> RewardProgram:
        linted = lint_reward(normalize_source(source), variable_names)
        return cls(source=linted.source, params=linted.params, helpers=linted.helpers)
