"""Fitness both ways: each evaluation plays the same starts with deterministic and sampled
actions, the fitness is the trainer's policy (SAC deterministic, PPO sampled, or as told), and
evaluating leaves training as it was."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewardforge.errors import ConfigError
from rewardforge.rewards.base import get_baseline
from rewardforge.rl import EvalResult, make_trainer
from rewardforge.tasks import get_task


def quick(task_id: str):
    task = get_task(task_id)
    fitness = task.fitness.model_copy(update={"num_episodes": 3})
    return task.model_copy(update={"fitness": fitness, "max_episode_steps": 50})


@pytest.mark.parametrize(
    ("task", "trainer", "asked", "policy"),
    [
        ("pendulum", "sac", None, "deterministic"),
        ("cartpole", "ppo", None, "sampled"),
        ("pendulum", "sac", "sampled", "sampled"),
        ("cartpole", "ppo", "deterministic", "deterministic"),
    ],
)
def test_each_result_is_the_fitness_policys_with_the_other_way_beside_it(
    task, trainer, asked, policy
):
    trainer = make_trainer(trainer, quick(task), eval_policy=asked, num_envs=2)
    with trainer.start([get_baseline("env")], [0, 1]) as pop:
        pop.train_more(256)
        results = pop.evaluate()
        lazy = pop.evaluate_other(pop.evaluate(both=False))
    other = "sampled" if policy == "deterministic" else "deterministic"
    assert [r.policy for r in results] == [policy, policy]
    assert [r.other.policy for r in results] == [other, other]
    assert lazy == results  # completing a check later gives what evaluating both gives
    assert set(results[0].by_policy()) == {"deterministic", "sampled"}


def test_evaluating_leaves_training_as_it_was() -> None:
    trainer = make_trainer("sac", quick("pendulum"), num_envs=2, learning_starts=50)
    actions = []
    for evaluate in (False, True):
        with trainer.start([get_baseline("env")], [0]) as pop:
            pop.train_more(100)
            if evaluate:
                pop.evaluate()
            pop.train_more(100)
            actions.append(pop.act(np.zeros((1, 3), dtype=np.float32)))
    assert np.array_equal(actions[0], actions[1])


def test_a_result_survives_json_with_its_other_half_and_a_bad_policy_is_named() -> None:
    trainer = make_trainer("sac", quick("pendulum"), num_envs=2)
    with trainer.start([get_baseline("env")], [0]) as pop:
        pop.train_more(64)
        (result,) = pop.evaluate()
    back = EvalResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result and back.other is not None
    with pytest.raises(
        ConfigError,
        match=r"the evaluation policy must be one of deterministic, sampled, got 'greedy'",
    ):
        make_trainer("sac", quick("pendulum"), eval_policy="greedy")
