"""Reward programs: extraction from model answers, lint, the sandbox worker and its client."""

from rewardforge.rewards.base import (
    EnvReward,
    RewardFunction,
    RewardOutput,
    SparseReward,
    get_baseline,
)
from rewardforge.rewards.extract import extract_code
from rewardforge.rewards.lint import LintedProgram, lint_reward
from rewardforge.rewards.loader import load_reward
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import (
    LayerStatus,
    RewardSandbox,
    SandboxedReward,
    sandbox_layers,
)
from rewardforge.rewards.smoke import SmokeReport, smoke_test

__all__ = [
    "EnvReward",
    "LayerStatus",
    "LintedProgram",
    "RewardFunction",
    "RewardOutput",
    "RewardProgram",
    "RewardSandbox",
    "SandboxedReward",
    "SmokeReport",
    "SparseReward",
    "extract_code",
    "get_baseline",
    "lint_reward",
    "load_reward",
    "sandbox_layers",
    "smoke_test",
]
