from __future__ import annotations

import dataclasses

import pytest

from rewardforge.errors import RewardRejectedError
from rewardforge.rewards.program import RewardProgram, normalize_source
from rewardforge.tasks import get_task

SOURCE = "import numpy as np\ndef compute_reward(pole_angle):\n    return np.cos(pole_angle), {}\n"


def test_from_source_lints_against_the_task():
    program = RewardProgram.from_source(SOURCE, get_task("cartpole"))
    assert program.params == ("pole_angle",)
    assert len(program.content_hash) == 64
    assert program.name == f"program-{program.content_hash[:10]}"
    with pytest.raises(dataclasses.FrozenInstanceError):
        program.source = ""  # type: ignore[misc]
    with pytest.raises(RewardRejectedError, match="Did you mean 'pole_angle'"):
        RewardProgram.from_source(SOURCE.replace("pole_angle", "pole_angel"), get_task("cartpole"))


def test_hash_ignores_layout_only():
    a = RewardProgram(SOURCE, ("pole_angle",))
    b = RewardProgram("\n\n" + SOURCE.replace("\n", "   \r\n"), ("pole_angle",))
    c = RewardProgram(SOURCE.replace("np.cos", "np.sin"), ("pole_angle",))
    assert a.content_hash == b.content_hash != c.content_hash
    assert normalize_source("  x = 1\n  y = 2\n\n") == "x = 1\ny = 2\n"
