from __future__ import annotations

import numpy as np
import pytest
import torch

from rewardforge.rewards.base import EnvReward
from rewardforge.rl import load_policy, make_trainer
from rewardforge.tasks import get_task

from .conftest import UprightReward


def test_sac_learns_pendulum_at_a_tiny_budget() -> None:
    trainer = make_trainer("sac", get_task("pendulum"), learning_starts=500, gradient_steps=2)
    with trainer.start([EnvReward()], [0]) as pop:
        pop.train_more(5_000)
        snaps = pop.results(evaluate=False)[0].reflection
    returns = [s.mean_env_return for s in snaps if s.num_episodes]
    assert returns[-1] > returns[0] + 300, returns


def test_same_seed_same_result() -> None:
    trainer = make_trainer("sac", get_task("pendulum"), learning_starts=200, batch_size=32)
    runs = []
    for _ in range(2):
        with trainer.start([EnvReward()], [5]) as pop:
            pop.train_more(400)
            runs.append(pop.nets.actor.layers[-1].weight.clone())
    assert (runs[0] == runs[1]).all()


@pytest.mark.parametrize("share", [False, True])
def test_population_relabel_and_keep(share: bool, tmp_path) -> None:
    task = get_task("pendulum")
    rewards = [EnvReward(), UprightReward("theta", "upright"), EnvReward()]
    trainer = make_trainer(
        "sac",
        task,
        learning_starts=64,
        batch_size=16,
        num_envs=2,
        share_buffer=share,
        net_arch=[16],
    )
    with trainer.start(rewards, [0, 1, 2]) as pop:
        pop.train_more(400)
        stored = pop.buffer.data["rewards"][: pop.buffer.size].clone()
        pop.buffer.relabel(pop.rewards)
        np.testing.assert_allclose(pop.buffer.data["rewards"][: pop.buffer.size], stored, rtol=1e-5)
        pop.keep([1])
        pop.train_more(200)
        (result,) = pop.results()
        path = pop.save(tmp_path)[0]
    assert result.reward_name == "upright" and result.num_steps == 600
    assert load_policy(path).act(np.zeros((3, 3), np.float32)).shape == (3, 1)


def test_sac_rejects_discrete_tasks() -> None:
    from rewardforge.errors import TrainerError

    with pytest.raises(TrainerError, match="Use --trainer ppo"):
        make_trainer("sac", get_task("cartpole")).start([EnvReward()], [0])


@pytest.mark.expensive
def test_sac_brings_pendulum_to_minus_250_within_sb3_budget() -> None:
    task = get_task("pendulum")  # SB3 (rl-zoo settings) needs 2e4 steps
    results = make_trainer("sac", task).train([EnvReward()], [0, 1, 2], 20_000)
    assert np.mean([r.fitness.mean_return for r in results]) >= -250


def _weights(pop) -> list:
    return [p.detach().clone() for p in pop.nets.parameters()]


@pytest.mark.parametrize("critic", ["sac", "crossq"])
def test_the_environment_worker_changes_nothing_but_the_speed(critic: str) -> None:
    """Async (environments in a worker process during the updates) gives the very same run."""
    task = get_task("fetch-reach")
    runs = []
    for async_env in (False, True):
        trainer = make_trainer(
            "sac",
            task,
            learning_starts=100,
            batch_size=32,
            net_arch=[16],
            num_envs=2,
            critic=critic,
            normalize_obs=True,
            async_env=async_env,
        )
        with trainer.start([EnvReward()], [3]) as pop:
            pop.train_more(300)
            assert (type(pop.env).__name__ == "EnvWorker") is async_env
            runs.append((_weights(pop), pop.buffer.data["rewards"][: pop.buffer.size].clone()))
    for a, b in zip(runs[0][0], runs[1][0], strict=True):
        assert torch.equal(a, b)
    assert torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("critic", ["layernorm", "crossq"])
def test_normalised_critics_train_keep_and_save(critic: str, tmp_path) -> None:
    trainer = make_trainer(
        "sac",
        get_task("pendulum"),
        learning_starts=50,
        batch_size=16,
        net_arch=[16],
        critic=critic,
        policy_delay=2,
        adam_beta1=0.5,
        normalize_obs=True,
    )
    with trainer.start([EnvReward(), EnvReward()], [0, 1]) as pop:
        pop.train_more(200)
        assert (pop.nets.target is None) is (critic == "crossq")
        pop.keep([1])
        pop.train_more(100)
        obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
        path = pop.save(tmp_path)[0]
        # the saved actor reads raw observations: normalisation is folded into it
        np.testing.assert_allclose(load_policy(path).act(obs), pop.act(obs), atol=1e-4)


def test_bad_sac_settings_are_refused() -> None:
    from rewardforge.errors import ConfigError

    with pytest.raises(ConfigError, match="critic must be one of sac, layernorm, crossq"):
        make_trainer("sac", get_task("pendulum"), critic="bn")
    with pytest.raises(ConfigError, match="policy_delay must be at least 1"):
        make_trainer("sac", get_task("pendulum"), policy_delay=0)
