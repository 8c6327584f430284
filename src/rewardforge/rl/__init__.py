"""Trainers: lean batched PPO and SAC, a Stable-Baselines3 backend, evaluation and reflection.

Start at ``make_trainer`` (registry.py) and ``Population`` (base.py)."""

from rewardforge.rl.base import Population, Trainer, pair_members
from rewardforge.rl.checkpoint import Policy, load_policy
from rewardforge.rl.evaluation import evaluate_policies
from rewardforge.rl.registry import list_trainers, make_trainer
from rewardforge.rl.types import ComponentStats, EvalResult, ReflectionSnapshot, TrainResult

__all__ = [
    "ComponentStats",
    "EvalResult",
    "Policy",
    "Population",
    "ReflectionSnapshot",
    "TrainResult",
    "Trainer",
    "evaluate_policies",
    "list_trainers",
    "load_policy",
    "make_trainer",
    "pair_members",
]
