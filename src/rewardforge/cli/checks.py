"""Checks on command-line values that argparse's types cannot express: zero, negative, NaN and
absurd values are errors that name the option, never "use the default" and never a hang."""

from __future__ import annotations

import math

from rewardforge.errors import ConfigError


def count(value: int | None, option: str, high: int, *, low: int = 1) -> int | None:
    """``value`` when it is a whole number in ``[low, high]`` (None passes: the default)."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{option} must be a whole number from {low} to {high:,}, got {value:,}")
    return value


def seconds(value: float, option: str, high: float) -> float:
    """``value`` when it is a positive, finite number of seconds up to ``high``."""
    if not (math.isfinite(value) and 0 < value <= high):
        raise ConfigError(
            f"{option} must be a number of seconds above 0 and at most {high:g}, got {value}"
        )
    return value
