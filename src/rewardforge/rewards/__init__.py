"""Reward programs: extraction from model answers, lint, the sandbox worker and its client."""

from rewardforge.rewards.base import (
    EnvReward,
    RewardFunction,
    RewardOutput,
    SparseReward,
    get_baseline,
)

__all__ = ["EnvReward", "RewardFunction", "RewardOutput", "SparseReward", "get_baseline"]
