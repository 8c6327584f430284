"""``load_reward``: a reward spec from the command line or a config -> a ``RewardFunction``."""

from __future__ import annotations

import ast
from pathlib import Path

from rewardforge.errors import ConfigError, did_you_mean
from rewardforge.rewards.base import BASELINES, RewardFunction, get_baseline
from rewardforge.rewards.extract import extract_code
from rewardforge.rewards.program import RewardProgram, read_program_file
from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
from rewardforge.tasks.spec import Task


def read_reward_source(path: str | Path) -> str:
    """Reward code from a file: a ``.py`` module as is, anything else (a model's answer saved
    to a file) through ``extract_code``."""
    path = Path(path)
    text = read_program_file(path)
    if path.suffix == ".py" and "```" not in text:
        try:
            ast.parse(text)
            return text
        except SyntaxError:
            pass  # maybe a model answer saved as .py; extraction says what is wrong if not
    return extract_code(text)


def load_reward(spec: str, task: Task, sandbox: RewardSandbox | None = None) -> RewardFunction:
    """``"env"``, ``"sparse"`` or the path of a reward file -> a reward function.

    A file is linted against ``task`` and run in ``sandbox`` (a new sandbox owned by the
    returned reward when None; ``reward.close()`` ends it)."""
    if spec in BASELINES:
        return get_baseline(spec)
    if not Path(spec).is_file():
        raise ConfigError(
            f"reward {spec!r} is neither a baseline ({', '.join(BASELINES)}) nor an existing "
            f"file.{did_you_mean(spec, BASELINES)} Pass env, sparse or the path of a .py file"
        )
    program = RewardProgram.from_source(read_reward_source(spec), task)
    name = Path(spec).stem
    if sandbox is None:
        return SandboxedReward(RewardSandbox(), program, name=name, owns_sandbox=True)
    return SandboxedReward(sandbox, program, name=name)
