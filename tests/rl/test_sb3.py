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
