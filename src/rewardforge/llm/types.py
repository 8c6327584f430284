"""Values the model layer passes around: messages, images, completions, usage.

All are frozen dataclasses. A :class:`CompletionList` is a plain list of the completions
that succeeded, carrying the samples that failed in ``failures`` (a failed sample is data,
never an exception that ends a run)."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rewardforge.errors import ModelError

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Image:
    """An image sent to a vision model: raw bytes and their media type."""

    data: bytes
    media_type: str = "image/png"

    @classmethod
    def from_file(cls, path: str | Path) -> Image:
        path = Path(path)
        media_type = mimetypes.guess_type(path.name)[0] or "image/png"
        return cls(path.read_bytes(), media_type)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64()}"


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str
    images: tuple[Image, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"message content must be a str, got {type(self.content).__name__}")


def system(content: str) -> Message:
    return Message("system", content)


def user(content: str, images: Iterable[Image] = ()) -> Message:
    return Message("user", content, tuple(images))


def assistant(content: str) -> Message:
    return Message("assistant", content)


@dataclass(frozen=True)
class Usage:
    """Tokens of one call (or a share of one call's tokens, for one of its samples)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Completion:
    """One sample of a model's answer.

    ``usage`` is this sample's share of its request's tokens (a request for ``n`` samples
    is billed once; its tokens are split across them). ``cached`` is true when the answer
    came from the cache rather than the network."""

    text: str
    finish_reason: str
    model: str
    usage: Usage
    latency_s: float
    sample_index: int
    cached: bool = False
    request_id: str | None = None


@dataclass(frozen=True)
class SampleFailure:
    """A sample that could not be obtained, with the typed error saying why."""

    sample_index: int
    error: ModelError


class CompletionList(list[Completion]):
    """The completions that succeeded, ordered by sample index; ``failures`` holds the rest."""

    def __init__(
        self, completions: Iterable[Completion] = (), failures: Iterable[SampleFailure] = ()
    ) -> None:
        super().__init__(completions)
        self.failures: tuple[SampleFailure, ...] = tuple(failures)


@dataclass(frozen=True)
class Choice:
    """One choice parsed out of a provider response (before it becomes a Completion)."""

    text: str | None
    finish_reason: str


@dataclass(frozen=True)
class ParsedResponse:
    """A provider response after parsing: its choices, model id and usage."""

    choices: tuple[Choice, ...]
    model: str
    usage: Usage
    request_id: str | None = None


@dataclass(frozen=True)
class RawResponse:
    """The bytes a provider sent back (as text), before anything parses them."""

    text: str
    request_id: str | None = None
    latency_s: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)
