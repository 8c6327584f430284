"""Successive halving: train every candidate briefly, continue only the promising ones.

Rungs are fractions of the full budget (default a quarter, a half, all of it). After each rung
the top ``1/eta`` of the surviving candidates (by fitness, ties by success rate) continue; the
rest stop early. A candidate that already reaches the success target keeps training only if it
is among the survivors (the search stops early anyway when the target is reached)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rewardforge.errors import ConfigError

DEFAULT_RUNGS = (0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Rung:
    index: int
    num_steps: int  # cumulative steps per member at the end of this rung


def parse_rungs(text: str | Sequence[float] | None) -> tuple[float, ...]:
    """'0.25,0.5,1' -> (0.25, 0.5, 1.0); 'off'/None/'1' -> (1.0,) (no halving)."""
    if text is None or text in ("off", "none", ""):
        return (1.0,)
    values = (
        [float(x) for x in text.split(",")] if isinstance(text, str) else [float(x) for x in text]
    )
    if (
        not values
        or any(not 0 < v <= 1 for v in values)
        or values != sorted(values)
        or values[-1] != 1.0
    ):
        raise ConfigError(
            f"rungs must be increasing fractions of the budget in (0, 1] ending with 1, got {text!r}; "
            "for example --rungs 0.25,0.5,1"
        )
    return tuple(values)


def schedule(num_steps: int, rungs: Sequence[float], step_multiple: int = 1) -> list[Rung]:
    """Cumulative step counts per rung, rounded up to a multiple of ``step_multiple``."""
    out = []
    for i, frac in enumerate(rungs):
        steps = max(step_multiple, math.ceil(num_steps * frac / step_multiple) * step_multiple)
        out.append(Rung(i, steps))
    return out


def survivors(
    scores: Sequence[tuple[float, ...]], eta: float = 2.0, min_keep: int = 1
) -> list[int]:
    """Indices of the candidates that continue: the top ``ceil(n / eta)`` by (fitness, success)."""
    if eta < 1:
        raise ConfigError(f"eta must be at least 1, got {eta}")
    n = len(scores)
    keep = max(min_keep, math.ceil(n / eta))
    order = sorted(range(n), key=lambda i: scores[i], reverse=True)
    return sorted(order[:keep])
