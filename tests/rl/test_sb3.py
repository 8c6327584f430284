from __future__ import annotations

from rewardforge.rewards.base import EnvReward
from rewardforge.rl import make_trainer
from rewardforge.tasks import get_task

from .conftest import UprightReward


def test_sb3_ppo_trains_with_a_candidate_reward(tmp_path) -> None:
    trainer = make_trainer("sb3:PPO", get_task("cartpole"), n_steps=32, batch_size=64, n_epochs=1)
    results = trainer.train(
        [UprightReward(), EnvReward()], [0, 1], 512, checkpoint_dir=tmp_path, num_eval_episodes=2
    )
    assert [r.reward_name for r in results] == ["upright", "env"]
    assert all(r.fitness is not None and r.fitness.num_episodes == 2 for r in results)
    assert any(s.components.get("upright") for s in results[0].reflection)
    assert results[0].checkpoint and results[0].checkpoint.endswith(".zip")


def test_sb3_sac_uses_the_task_section() -> None:
    trainer = make_trainer("sb3:SAC", get_task("pendulum"), learning_starts=50, batch_size=16)
    with trainer.start([EnvReward()], [0]) as pop:
        assert pop.models[0].learning_rate == 0.001
        pop.train_more(100)
        assert pop.models[0].num_timesteps == 100


def test_sb3_her_relabels_with_the_candidate_reward() -> None:
    import numpy as np

    task = get_task("fetch-reach")
    trainer = make_trainer(
        "sb3:SAC",
        task,
        her=True,
        normalize=True,
        learning_starts=120,
        batch_size=32,
        policy_kwargs={"net_arch": [16]},
    )
    with trainer.start([EnvReward()], [0]) as pop:
        pop.train_more(200)
        buffer = pop.models[0].replay_buffer
        assert type(buffer).__name__ == "HerReplayBuffer" and buffer.size() == 200
        venv = pop.venvs[0]
        infos = list(buffer.infos[:50, 0])
        goals = np.random.default_rng(0).uniform(0.5, 1.5, size=(50, 3))
        got = venv.env_method("compute_reward", None, goals, infos, indices=[0])[0]
        grip = np.stack([info["variables"]["grip_pos"] for info in infos])
        np.testing.assert_allclose(got, -np.linalg.norm(grip - goals, axis=-1), rtol=1e-5)
        assert pop.evaluate(num_episodes=2)[0].num_episodes == 2


def test_sb3_her_needs_a_goal_task() -> None:
    import pytest

    from rewardforge.errors import ConfigError

    with pytest.raises(ConfigError, match="must declare a goal with achieved_observation"):
        make_trainer("sb3:SAC", get_task("pendulum"), her=True).start([EnvReward()], [0])
    with pytest.raises(ConfigError, match="her must be true, false or a mapping"):
        make_trainer("sb3:SAC", get_task("fetch-reach"), her="yes")
