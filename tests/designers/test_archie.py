"""ARCHIE's structure: shaping plus a success bonus larger than any episode's shaping."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rewardforge.designers.archie import MIN_STEP_REWARD, archie_bonus, archie_compose
from rewardforge.errors import ConfigError, RewardRejectedError
from rewardforge.rewards import RewardProgram, RewardSandbox, lint_reward, smoke_test
from rewardforge.rewards.smoke import collect_states
from rewardforge.tasks import get_task

TASK = get_task("mountaincar")
SHAPING = '''"""Pump energy: speed, height, a little effort."""
import numpy as np

SPEED_SCALE = 10.0  # velocity is at most 0.07


def _height(position):
    return np.sin(3 * position)


def compute_reward(position, velocity, action):
    speed = SPEED_SCALE * np.abs(velocity)
    height = 0.1 * _height(position)
    effort = -0.1 * np.sum(action ** 2, axis=-1)
    return speed + height + effort, {"speed": speed, "height": height, "effort": effort}
'''
MODEL_SUCCESS = '''"""Written by a model: the car is at the flag."""
import numpy as np
import math

SPEED_SCALE = 1.0  # same name as the reward's constant, different value


def _height(position):  # same name as the reward's helper, different meaning
    return position


def is_success(position, goal_position):
    return _height(position) * SPEED_SCALE >= goal_position
'''


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RewardSandbox]:
    box = RewardSandbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def states() -> dict[str, np.ndarray]:
    return collect_states(TASK, 128, seed=0)


def run(source: str, variables: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # trusted: the test's own composition of its own code
    func = namespace["compute_reward"]
    return func(*(variables[p] for p in inspect.signature(func).parameters))


def at_goal(states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same states with every car past the flag."""
    return {**states, "position": np.full_like(states["position"], 0.5)}


@pytest.mark.parametrize("success", [TASK.success.code, MODEL_SUCCESS], ids=["task", "model"])
def test_composed_reward_lints_and_runs_in_the_sandbox(
    success: str, sandbox: RewardSandbox
) -> None:
    source = archie_compose(SHAPING, success, bonus=100.0)
    linted = lint_reward(source, TASK.variable_names)
    assert linted.params == ("position", "velocity", "action", "goal_position")
    assert {"_shaped_reward", "_is_success"} <= set(linted.helpers)
    report = smoke_test(RewardProgram.from_source(source, TASK), TASK, 64, sandbox)
    assert report.ok, report.verdict
    assert [s.name for s in report.stats] == [
        "reward",
        "speed",
        "height",
        "effort",
        "success_bonus",
    ]
    assert source.startswith('"""Pump energy'), "the reward's docstring stays first"
    assert "# velocity is at most 0.07" in source, "comments survive"


def test_one_success_step_pays_more_than_an_episode_of_the_most_shaping(
    sandbox: RewardSandbox, states: dict[str, np.ndarray]
) -> None:
    shaping = smoke_test(RewardProgram.from_source(SHAPING, TASK), TASK, 128, sandbox)
    bonus = archie_bonus(shaping.stats[0].max, TASK.max_episode_steps)
    source = archie_compose(SHAPING, MODEL_SUCCESS, bonus=bonus)
    shaped, _ = run(SHAPING, states)
    reward, components = run(source, states)
    np.testing.assert_allclose(reward, shaped)  # no car of a random policy reaches the flag
    assert np.all(components["success_bonus"] == 0.0)

    goal = at_goal(states)
    shaped_goal, _ = run(SHAPING, goal)
    reward_goal, components_goal = run(source, goal)
    np.testing.assert_allclose(components_goal["success_bonus"], bonus)
    np.testing.assert_allclose(reward_goal, shaped_goal + bonus)
    np.testing.assert_allclose(reward_goal, sum(components_goal.values()))
    episode_of_most_shaping = TASK.max_episode_steps * shaped.max()
    assert reward_goal.min() > episode_of_most_shaping


def test_success_helpers_with_the_reward_names_are_renamed(states: dict[str, np.ndarray]) -> None:
    source = archie_compose(SHAPING, MODEL_SUCCESS, bonus=10.0)
    assert "_success_SPEED_SCALE = 1.0" in source and "def _success__height(" in source
    assert source.count("import numpy as np") == 1, "an import the reward makes is not repeated"
    assert "import math" in source
    goal = at_goal(states)
    _, components = run(source, goal)
    np.testing.assert_allclose(components["height"], 0.1 * np.sin(3 * goal["position"]))
    np.testing.assert_allclose(components["success_bonus"], 10.0)


def test_per_sample_code_composes_and_runs_row_by_row(sandbox: RewardSandbox) -> None:
    scalar = (
        "import math\n\ndef compute_reward(velocity, episode_step):\n"
        "    if velocity > 0:\n        r = 1.0\n    else:\n        r = 0.0\n"
        "    return r, {'right': r}\n"
    )
    success = "def is_success(goal_position, *, position):\n    return position >= goal_position\n"
    source = archie_compose(scalar, success, bonus=5.0)
    assert "def compute_reward(velocity, episode_step, goal_position, position):" in source
    assert "_is_success(goal_position, position=position)" in source
    assert "import numpy as np" in source, "added for the wrapper"
    report = smoke_test(RewardProgram.from_source(source, TASK), TASK, 32, sandbox)
    assert report.ok, report.verdict
    assert report.row_mode


def test_archie_bonus() -> None:
    assert archie_bonus(0.5, 100) == pytest.approx(100.0)
    assert archie_bonus(0.5, 100, multiple=10) == pytest.approx(500.0)
    assert archie_bonus(-3.0, 100) == pytest.approx(2 * MIN_STEP_REWARD * 100), "floor"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((float("nan"), 10), "must be a finite number, got nan"),
        ((1.0, 0), "max_episode_steps must be at least 1, got 0"),
        ((1.0, 10, 1.0), "multiple must be greater than 1 so that finishing pays more"),
    ],
)
def test_archie_bonus_rejects_bad_values(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        archie_bonus(*args)


@pytest.mark.parametrize(
    ("reward", "success", "bonus", "error", "match"),
    [
        (SHAPING, TASK.success.code, 0.0, ConfigError, "bonus must be a positive number, got 0"),
        (
            "def reward(position):\n    return position, {}\n",
            TASK.success.code,
            1.0,
            RewardRejectedError,
            "reward source must define one top-level function 'compute_reward', found 0",
        ),
        (
            SHAPING,
            "def success(position):\n    return position > 0\n",
            1.0,
            RewardRejectedError,
            "success criterion source must define one top-level function 'is_success'",
        ),
        (
            SHAPING,
            "def is_success(position:\n",
            1.0,
            RewardRejectedError,
            "success criterion source does not parse: syntax error on line 1",
        ),
        (
            SHAPING,
            "def is_success(*variables):\n    return True\n",
            1.0,
            RewardRejectedError,
            "is_success of the success criterion takes \\*args or \\*\\*kwargs",
        ),
    ],
)
def test_archie_compose_rejects(
    reward: str, success: str, bonus: float, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        archie_compose(reward, success, bonus=bonus)
