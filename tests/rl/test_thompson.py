from __future__ import annotations

import numpy as np
import pytest

from rewardforge.errors import ConfigError
from rewardforge.rl.thompson import SlidingWindowThompson


def test_window_holds_exactly_the_last_w_episodes() -> None:
    rng = np.random.default_rng(0)
    ts = SlidingWindowThompson(num_arms=2, window=5)
    outcomes: list[bool] = []
    for _ in range(40):
        success = bool(rng.random() < 0.5)
        outcomes.append(success)
        ts.update(0, success)
        last = outcomes[-5:]
        assert list(ts.history[0]) == last
        assert ts.posterior(0) == (1 + sum(last), 1 + len(last) - sum(last))
    assert ts.posterior(1) == (1, 1)


def test_trimming_successes_and_failures_separately_would_differ() -> None:
    """LaRes trims its success and failure lists separately: after 5 successes then 2
    failures, its window holds 7 episodes (Beta(6, 3)); the last 5 are 3 + 2 (Beta(4, 3))."""
    ts = SlidingWindowThompson(num_arms=1, window=5)
    for success in [True] * 5 + [False] * 2:
        ts.update(0, success)
    assert ts.posterior(0) == (4, 3)


def test_sampling_prefers_the_successful_arm_and_respects_allowed() -> None:
    ts = SlidingWindowThompson(num_arms=3, window=20, seed=1)
    for _ in range(20):
        ts.update(0, False)
        ts.update(1, True)
        ts.update(2, False)
    picks = [ts.sample() for _ in range(200)]
    assert picks.count(1) > 190
    assert {ts.sample([True, False, True]) for _ in range(50)} <= {0, 2}
    ts.reset(1)
    assert ts.posterior(1) == (1, 1)


def test_state_round_trip_continues_the_same_draws() -> None:
    a = SlidingWindowThompson(num_arms=3, window=4, seed=7)
    for k, s in [(0, True), (1, False), (2, True), (0, True)]:
        a.update(k, s)
    b = SlidingWindowThompson(num_arms=3, window=4, seed=0)
    b.load_state_dict(a.state_dict())
    assert [a.sample() for _ in range(20)] == [b.sample() for _ in range(20)]
    assert b.posterior(0) == (3, 1)


def test_rejects_an_empty_window() -> None:
    with pytest.raises(ConfigError, match="window of at least one"):
        SlidingWindowThompson(num_arms=2, window=0)
