from __future__ import annotations

import pytest

from rewardforge.errors import ConfigError
from rewardforge.rl import list_trainers, make_trainer
from rewardforge.rl.ppo import PPOConfig
from rewardforge.rl.sac import SACConfig
from rewardforge.tasks import get_task, list_tasks


def test_builtin_trainers_take_task_defaults() -> None:
    ppo = make_trainer("ppo", get_task("cartpole"))
    assert isinstance(ppo.config, PPOConfig)
    assert ppo.config.learning_rate == pytest.approx(0.0025)
    sac = make_trainer("sac", get_task("pendulum"), batch_size=64)
    assert isinstance(sac.config, SACConfig)
    assert sac.config.net_arch == (64, 64) and sac.config.batch_size == 64


def test_every_registered_task_section_is_accepted() -> None:
    for task in list_tasks():
        for name in task.trainers:
            make_trainer(name, task)


def test_unknown_trainer_suggests() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'ppo'"):
        make_trainer("ppp", get_task("cartpole"))
    assert "sb3:ALGO" in list_trainers()


def test_unknown_hyperparameter_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'learning_rate'"):
        make_trainer("ppo", get_task("cartpole"), learnin_rate=0.1)


def test_unknown_sb3_algorithm() -> None:
    with pytest.raises(ConfigError, match="no algorithm 'SACC'"):
        make_trainer("sb3:SACC", get_task("pendulum"))
