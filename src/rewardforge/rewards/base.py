"""What trainers call: a ``RewardFunction`` maps a batch of transition variables to rewards.

Implementations: the two baselines every task has (``env``, ``sparse``), and reward programs
run in the sandbox (``rewardforge.rewards.sandbox``). A transition mapping holds the task's
variables plus ``_env_reward`` and ``_success`` (see ``rewardforge.tasks.vecenv``), so every
reward, baselines included, can be recomputed from stored transitions (relabelling)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from rewardforge.errors import ConfigError, did_you_mean
from rewardforge.tasks.vecenv import ENV_REWARD_KEY, SUCCESS_KEY


class RewardOutput(NamedTuple):
    reward: np.ndarray
    components: dict[str, np.ndarray]


@runtime_checkable
class RewardFunction(Protocol):
    """Computes ``(reward (B,), {component: (B,)})`` for a batch of transitions."""

    name: str

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput: ...


class EnvReward:
    """The environment's own (human-designed) reward."""

    name = "env"

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        reward = np.asarray(transition[ENV_REWARD_KEY], dtype=np.float64)
        return RewardOutput(reward, {"env": reward})


class SparseReward:
    """1 on a step where the task's success criterion holds, else 0."""

    name = "sparse"

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        reward = np.asarray(transition[SUCCESS_KEY], dtype=np.float64)
        return RewardOutput(reward, {"success": reward})


BASELINES: dict[str, type] = {"env": EnvReward, "sparse": SparseReward}


def get_baseline(name: str) -> RewardFunction:
    try:
        return BASELINES[name]()
    except KeyError:
        raise ConfigError(
            f"unknown baseline reward {name!r}.{did_you_mean(name, BASELINES)} Baselines: env, sparse"
        ) from None
