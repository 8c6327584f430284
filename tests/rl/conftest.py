from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from rewardforge.rewards.base import RewardOutput


class UprightReward:
    """A trusted in-test reward with two components (pendulum / cartpole style)."""

    def __init__(self, variable: str = "pole_angle", name: str = "upright") -> None:
        self.variable = variable
        self.name = name

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        angle = np.abs(np.asarray(transition[self.variable], dtype=np.float64))
        upright = 1.0 - angle
        alive = np.ones_like(angle)
        return RewardOutput(upright + alive, {"upright": upright, "alive": alive})


class FailingReward:
    name = "broken"

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        raise ZeroDivisionError("division by zero in compute_reward")


@pytest.fixture
def upright() -> UprightReward:
    return UprightReward()
