from __future__ import annotations

import numpy as np
import pytest

from rewardforge.search.screening import (
    Trajectory,
    episode_returns,
    has_contrast,
    ranking_auc,
    screen,
)


def trajectories() -> list[Trajectory]:
    # successful episodes get close to 0.45; failed ones stay near -0.5
    out = []
    for i in range(6):
        success = i % 2 == 0
        end = 0.5 if success else -0.4
        pos = np.linspace(-0.5, end, 20)
        out.append(Trajectory({"position": pos, "velocity": np.gradient(pos)}, success))
    return out


def test_auc_orders_good_reward_above_bad_reward() -> None:
    trajs = trajectories()
    success = np.array([t.success for t in trajs])
    good = episode_returns(lambda v: v["position"], trajs)
    bad = episode_returns(lambda v: -v["position"], trajs)
    assert ranking_auc(good, success) == 1.0
    assert ranking_auc(bad, success) == 0.0
    assert ranking_auc(np.zeros(6), success) == 0.5


def test_episode_returns_are_per_trajectory_sums() -> None:
    trajs = trajectories()
    returns = episode_returns(lambda v: np.ones(len(v["position"])), trajs)
    np.testing.assert_array_equal(returns, [20.0] * 6)


def test_screen_drops_inverted_rewards_and_lowest_fraction() -> None:
    verdicts = screen([0.9, 0.2, 0.7, 0.6, None], min_auc=0.5, fraction=0.25)
    assert [v.keep for v in verdicts] == [True, False, True, True, True]
    assert "AUC 0.20 < 0.5" in verdicts[1].reason
    verdicts = screen([0.9, 0.8, 0.7, 0.6], fraction=0.25)
    assert [v.keep for v in verdicts] == [True, True, True, False]
    assert "lowest 25%" in verdicts[3].reason


def test_contrast_and_auc_need_both_labels() -> None:
    only_success = [t for t in trajectories() if t.success]
    assert not has_contrast(only_success)
    assert has_contrast(trajectories())
    with pytest.raises(ValueError, match="both successful and failed"):
        ranking_auc(np.ones(3), np.ones(3, dtype=bool))


def test_screen_never_drops_more_than_half_the_batch() -> None:
    verdicts = screen([0.1, 0.2, 0.3, 0.4, 0.45, 0.9], min_auc=0.5, fraction=0.25)
    assert [v.keep for v in verdicts] == [False, False, False, True, True, True]
    assert all("< 0.5" in v.reason for v in verdicts[:3])
