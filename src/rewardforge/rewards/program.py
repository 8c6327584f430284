"""``RewardProgram``: checked reward source, identified by the hash of its normalized text."""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rewardforge.errors import ConfigError, RewardRejectedError
from rewardforge.rewards.lint import lint_reward

if TYPE_CHECKING:
    from rewardforge.tasks.spec import Task


#: The largest reward program (or file holding one) accepted, in bytes: a reward is a page of
#: numpy, or a small learned network with its weights inlined (the preference strategy's export
#: of a 3-member 64x64 ensemble is about 220 kB); a bigger text is a mistake or an attack,
#: refused before it is parsed (1 MB of code lints in about 1.5 s here).
MAX_PROGRAM_BYTES = 1_000_000


def check_program_size(text: str, what: str = "the reward program") -> None:
    """Raise ``RewardRejectedError`` for a text too large to be a reward program."""
    if len(text) > MAX_PROGRAM_BYTES:
        raise RewardRejectedError(
            f"{what} is {len(text):,} characters long; a reward program may be at most "
            f"{MAX_PROGRAM_BYTES:,}. Write it shorter"
        )


def read_program_file(path: str | Path, what: str = "reward file") -> str:
    """The text of a reward file (or a saved model answer), refused when it is too large or
    not text, with the reason (``ConfigError``)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_PROGRAM_BYTES:
            raise ConfigError(
                f"{what} {path} is {size:,} bytes; a reward program may be at most "
                f"{MAX_PROGRAM_BYTES:,}. Is it the right file?"
            )
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{what} {path} is not a text file (it is not UTF-8); give a .py file or a saved "
            "model answer"
        ) from None


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
        check_program_size(source)
        linted = lint_reward(normalize_source(source), variable_names)
        return cls(source=linted.source, params=linted.params, helpers=linted.helpers)
