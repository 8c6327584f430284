from __future__ import annotations

import pytest

from rewardforge.errors import ConfigError
from rewardforge.rewards.base import EnvReward
from rewardforge.rl import make_trainer
from rewardforge.rl.solve import solved_members, train_to_target, train_until_solved
from rewardforge.tasks import get_task


def _pop(num_members: int = 1):
    trainer = make_trainer("sac", get_task("pendulum"), learning_starts=50, net_arch=[16])
    return trainer.start([EnvReward()] * num_members, list(range(num_members)))


def test_stops_at_the_first_evaluation_that_reaches_the_target() -> None:
    with _pop(2) as pop:
        results = train_until_solved(pop, target=0.0, max_steps=2000, eval_every=200)
        assert pop.steps == 200  # solved at the first evaluation: no more training
    assert all(r.solved and r.steps_to_solve == 200 for r in results)
    assert results[0].time_to_solve == results[0].curve[0].seconds > 0
    assert solved_members(results) == [0, 1]
    # a check plays the fitness policy only: the other would double the time of every check
    assert results[0].last is not None and results[0].last.other is None


def test_train_to_target_keeps_both_policies_of_its_last_evaluation() -> None:
    trainer = make_trainer("sac", get_task("pendulum"), learning_starts=50, net_arch=[16])
    (result,), (solve,) = train_to_target(trainer, [EnvReward()], [0], 600, eval_every=200)
    assert solve.last is not None
    assert result.fitness is not None
    assert result.fitness.fitness == solve.last.fitness  # the check that decided is kept
    assert result.fitness.other is not None
    assert {result.fitness.policy, result.fitness.other.policy} == {"deterministic", "sampled"}


def test_an_unreachable_target_runs_to_the_cap_and_reports_not_solved() -> None:
    with _pop() as pop:
        (result,) = train_until_solved(pop, target=2.0, max_steps=600, eval_every=200)
    assert not result.solved and result.time_to_solve is None
    assert [p.steps for p in result.curve] == [200, 400, 600]
    assert result.best_fitness == max(p.fitness for p in result.curve)
    assert result.to_dict()["solved"] is False


def test_the_time_cap_is_checked_at_each_evaluation() -> None:
    with _pop() as pop:
        (result,) = train_until_solved(
            pop, target=2.0, max_steps=10_000, eval_every=100, max_seconds=1e-9
        )
    assert len(result.curve) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0, "eval_every": 10}, "must be positive, got 0 and 10"),
        ({"max_steps": 10, "eval_every": -1}, "must be positive, got 10 and -1"),
        ({"max_steps": 10, "eval_every": 5, "max_seconds": 0}, "max_seconds must be positive"),
    ],
)
def test_bad_caps_are_refused(kwargs, message: str) -> None:
    with _pop() as pop, pytest.raises(ConfigError, match=message):
        train_until_solved(pop, target=0.9, **kwargs)
