from __future__ import annotations

import numpy as np
import pytest

from rewardforge.errors import ConfigError, RewardExtractionError
from rewardforge.rewards import EnvReward, SparseReward, load_reward
from rewardforge.rewards.sandbox import SandboxedReward
from rewardforge.tasks import get_task

CODE = "import numpy as np\ndef compute_reward(pole_angle):\n    return np.cos(pole_angle), {'upright': np.cos(pole_angle)}\n"


def test_baselines():
    task = get_task("cartpole")
    assert isinstance(load_reward("env", task), EnvReward)
    assert isinstance(load_reward("sparse", task), SparseReward)
    with pytest.raises(ConfigError, match="Did you mean 'sparse'"):
        load_reward("sprase", task)


def test_python_file_and_model_answer(tmp_path, sandbox):
    task = get_task("cartpole")
    module = tmp_path / "upright.py"
    module.write_text(CODE)
    answer = tmp_path / "answer.txt"
    answer.write_text(f"<think>hmm</think>\nHere it is:\n```python\n{CODE}```\n")
    transition = {
        "pole_angle": np.array([0.0, 0.1]),
        "_env_reward": np.ones(2),
        "_success": np.zeros(2),
    }
    for path in (module, answer):
        reward = load_reward(str(path), task, sandbox=sandbox)
        assert isinstance(reward, SandboxedReward)
        assert np.allclose(reward(transition).reward, np.cos([0.0, 0.1]))
        reward.close()
    owned = load_reward(str(module), task)
    assert owned.name == "upright" and owned(transition).reward.shape == (2,)
    owned.close()
    empty = tmp_path / "empty.txt"
    empty.write_text("no code here")
    with pytest.raises(RewardExtractionError, match="no code here"):
        load_reward(str(empty), task)
