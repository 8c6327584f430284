from __future__ import annotations

import pytest

from rewardforge.errors import ConfigError
from rewardforge.search.halving import parse_rungs, schedule, survivors


def test_parse_rungs() -> None:
    assert parse_rungs("0.25,0.5,1") == (0.25, 0.5, 1.0)
    assert parse_rungs("off") == (1.0,)
    with pytest.raises(ConfigError, match="increasing fractions .* ending with 1"):
        parse_rungs("0.5,0.25,1")
    with pytest.raises(ConfigError, match="--rungs 0.25,0.5,1"):
        parse_rungs("0.5")


def test_schedule_is_cumulative_and_rounded_to_rollout_size() -> None:
    rungs = schedule(10_000, (0.25, 0.5, 1.0), step_multiple=512)
    assert [r.num_steps for r in rungs] == [2560, 5120, 10240]


def test_survivors_keep_the_top_half_by_fitness_then_success() -> None:
    scores = [(0.1, 0.0), (0.9, 0.9), (0.5, 0.4), (0.5, 0.6), (0.0, 0.0)]
    assert survivors(scores, eta=2) == [1, 2, 3]
    assert survivors(scores[:2], eta=2) == [1]
    assert survivors(scores, eta=1) == [0, 1, 2, 3, 4]
