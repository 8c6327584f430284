"""Issue 20 item 3: a task file is code that runs in this process; an endless ``is_success`` or
variable source is stopped by a CPU-time limit and named in one error, instead of a hang."""

from __future__ import annotations

import signal

import numpy as np
import pytest

import rewardforge.tasks.limits as limits
from rewardforge.cli import main
from rewardforge.errors import TaskCodeTimeoutError
from rewardforge.tasks.files import parse_task_text
from rewardforge.tasks.success import SuccessProgram
from rewardforge.tasks.vecenv import make_env

TASK = """\
id: looping
description: A pendulum whose task code never returns.
env: {{id: Pendulum-v1}}
max_episode_steps: 200
variables:
  theta: {{shape: [], unit: rad, description: angle, source: "{source}"}}
success:
  code: |
    def is_success(theta):
{body}
"""
ANGLE = "np.arctan2(obs[:, 1], obs[:, 0])"
ENDLESS = "        while True:\n            pass\n"
FINE = "        return np.abs(theta) < 0.2\n"


@pytest.fixture(autouse=True)
def short_limit(monkeypatch):
    monkeypatch.setattr(limits, "TASK_CODE_LIMIT_S", 0.5)


def test_endless_is_success_is_stopped():
    task = parse_task_text(TASK.format(source=ANGLE, body=ENDLESS), "looping.yaml")
    program = SuccessProgram.from_task(task)
    with pytest.raises(TaskCodeTimeoutError, match="task looping: is_success ran for more than"):
        program({"theta": np.zeros(4)})
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)  # nothing left armed


def test_endless_variable_source_is_stopped():
    endless = "sum(1 for _ in iter(int, 1))"
    task = parse_task_text(TASK.format(source=endless, body=FINE), "looping.yaml")
    with (
        make_env(task, num_envs=2, seed=0) as env,
        pytest.raises(
            TaskCodeTimeoutError, match="the variables' source expressions ran for more than"
        ),
    ):
        env.reset()
        env.step(env.sample_actions(np.random.default_rng(0)))


def test_fast_task_code_is_untouched():
    task = parse_task_text(TASK.format(source=ANGLE, body=FINE), "fine.yaml")
    program = SuccessProgram.from_task(task)
    for _ in range(1000):
        assert program({"theta": np.zeros(3)}).all()


def test_check_with_an_endless_task_is_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "looping.yaml").write_text(TASK.format(source=ANGLE, body=ENDLESS))
    (tmp_path / "ok.py").write_text(
        "import numpy as np\n\ndef compute_reward(theta):\n    return -np.abs(theta), {}\n"
    )
    assert main(["check", "looping.yaml", "ok.py", "--num-states", "8"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is_success ran for more than 0.5 s of CPU time" in err[0]
