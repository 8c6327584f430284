from __future__ import annotations

import numpy as np
import pytest

from rewardforge.errors import RewardRaisedError
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.smoke import collect_states, smoke_test
from rewardforge.tasks import get_task

UPRIGHT = (
    "import numpy as np\ndef compute_reward(pole_angle, cart_position):\n"
    "    upright = np.cos(pole_angle)\n    centered = -0.1 * np.abs(cart_position)\n"
    "    return upright + centered, {'upright': upright, 'centered': centered}\n"
)


@pytest.fixture(scope="module")
def cartpole():
    return get_task("cartpole")


def test_collect_states_from_random_rollouts(cartpole):
    states = collect_states(cartpole, num_states=100, seed=1)
    assert set(cartpole.variable_names) <= set(states)
    assert states["pole_angle"].shape == (100,) and states["_env_reward"].shape == (100,)


def test_smoke_report_statistics(cartpole, sandbox):
    program = RewardProgram.from_source(UPRIGHT, cartpole)
    report = smoke_test(program, cartpole, num_states=200, sandbox=sandbox)
    assert report.ok and report.verdict == "OK" and report.num_states == 200
    names = [s.name for s in report.stats]
    assert names == ["reward", "upright", "centered"]
    upright = report.stats[1]
    assert 0.9 < upright.mean <= 1.0 and upright.min <= upright.mean <= upright.max
    assert report.to_dict()["components"][0]["name"] == "reward"


def test_smoke_warnings(cartpole, sandbox):
    source = (
        "import math\ndef compute_reward(pole_angle):\n    if abs(pole_angle) > 10:\n"
        "        return 1.0, {'never': 1.0}\n    return 0.0, {'never': 0.0}\n"
    )
    report = smoke_test(RewardProgram.from_source(source, cartpole), cartpole, 64, sandbox)
    assert report.ok and report.row_mode
    text = " ".join(report.warnings)
    assert "no signal" in text and "'never' is 0" in text and "row by row" in text


def test_smoke_failure_is_a_record(cartpole, sandbox):
    source = "def compute_reward(pole_angle):\n    return pole_angle / 0 + undefined_name, {}\n"
    report = smoke_test(RewardProgram.from_source(source, cartpole), cartpole, 32, sandbox)
    assert not report.ok and isinstance(report.error, RewardRaisedError)
    assert report.error.line == 2 and "NameError" in report.verdict
    assert report.to_dict()["error"]["kind"] == "raised"
    assert np.isfinite(report.seconds)
