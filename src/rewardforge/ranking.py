"""What "best" means, once: ``rank_key`` orders candidates (and population members) the same
way in the search, the store's summaries, the designers' feedback and the report.

Higher keys are better: a fully trained candidate before one stopped early by successive
halving, then fitness, then success rate, then any extra tie-breakers the caller has (training
success, the task's score), then the earlier candidate."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def _value(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) else -math.inf


def rank_key(
    fitness: float | None,
    success_rate: float | None = None,
    *,
    fully_trained: bool = True,
    candidate_id: int = 0,
    extra: Iterable[float | None] = (),
) -> tuple[Any, ...]:
    """The sort key of one candidate; see the module docstring. Missing values rank last."""
    return (
        bool(fully_trained),
        _value(fitness),
        _value(success_rate),
        *(_value(x) for x in extra),
        -candidate_id,
    )


def best_of(items: Iterable[T], key: Any) -> T | None:
    """The item with the highest ``key(item)`` (a ``rank_key``), or None."""
    return max(items, key=key, default=None)


__all__ = ["best_of", "rank_key"]
