"""``make_trainer(name, task)``: the one way to get a trainer.

Names: ``ppo`` and ``sac`` (built in), ``sb3:ALGO`` (Stable-Baselines3) and
``sb3-contrib:ALGO`` (sb3-contrib), e.g. ``sb3:PPO``, ``sb3-contrib:TQC``. Hyperparameters come
from the trainer's defaults, then the task's ``trainers: NAME:`` section, then ``hparams``.
"""

from __future__ import annotations

from typing import Any

from rewardforge.errors import ConfigError, did_you_mean
from rewardforge.rl.base import Trainer, build_config
from rewardforge.rl.evaluation import check_eval_policy
from rewardforge.rl.hparams import check_device, check_hparams
from rewardforge.tasks.spec import Task

BUILTIN = ("ppo", "sac")
SB3_PREFIXES = ("sb3:", "sb3-contrib:")


def list_trainers() -> list[str]:
    return [*BUILTIN, "sb3:ALGO", "sb3-contrib:ALGO"]


def make_trainer(
    name: str,
    task: Task,
    *,
    device: str = "cpu",
    num_threads: int | None = 1,
    eval_policy: str | None = None,
    **hparams: Any,
) -> Trainer:
    """A trainer for ``task``; ``hparams`` override the task's defaults (unknown keys raise,
    and so do values that cannot be right: see ``hparams.py``). ``eval_policy``
    (``deterministic`` or ``sampled``; None: the algorithm's default) is the policy whose
    evaluation is the fitness; both are evaluated."""
    trainer = _make(name, task, device, num_threads, hparams)
    if eval_policy is not None:
        trainer.eval_policy = check_eval_policy(eval_policy)
    return trainer


def _make(
    name: str, task: Task, device: str, num_threads: int | None, hparams: dict[str, Any]
) -> Trainer:
    check_device(device)
    merged = {
        **task.hyperparameters(name),
        **{k: v for k, v in hparams.items() if v is not None},
    }
    if name.startswith(SB3_PREFIXES):
        check_hparams(name, merged)
        from rewardforge.rl.sb3 import SB3Trainer

        return SB3Trainer(name, task, device=device, num_threads=num_threads, **hparams)
    if name == "ppo":
        from rewardforge.rl.ppo import PPOConfig, PPOTrainer

        check_hparams(name, merged, PPOConfig)
        return PPOTrainer(task, build_config(PPOConfig, task, name, hparams), device, num_threads)
    if name == "sac":
        from rewardforge.rl.sac import SACConfig, SACTrainer

        check_hparams(name, merged, SACConfig)
        return SACTrainer(task, build_config(SACConfig, task, name, hparams), device, num_threads)
    raise ConfigError(
        f"unknown trainer {name!r}.{did_you_mean(name, BUILTIN)} "
        "Use ppo, sac, sb3:ALGO (e.g. sb3:PPO) or sb3-contrib:ALGO (e.g. sb3-contrib:TQC)"
    )
