from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rewardforge.errors import TaskFileError, TaskNotFoundError
from rewardforge.tasks import get_task, load_task_file

GOOD = textwrap.dedent(
    """
    id: my-reach
    description: Keep the pole up.
    env: {id: CartPole-v1}
    max_episode_steps: 100
    variables:
      pole_angle: {shape: [], unit: rad, source: "obs[:, 2]"}
    success:
      code: |
        def is_success(pole_angle):
            return abs(pole_angle) < 0.1
    """
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    return path


def test_good_file_loads_with_implicit_episode_step(tmp_path: Path) -> None:
    task = load_task_file(write(tmp_path, GOOD))
    assert task.id == "my-reach"
    assert task.variable_names == ("pole_angle", "episode_step")
    assert get_task(str(tmp_path / "task.yaml")).id == "my-reach"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "max_episode_steps: 100",
            "max_episode_steps: 100\nmax_steps: 3",
            r"max_steps: unknown key",
        ),
        ("max_episode_steps: 100\n", "", r"max_episode_steps: required field is missing"),
        ("shape: []", "shape: [0]", r"variables.pole_angle.shape: .*positive integer"),
        (
            'source: "obs[:, 2]"',
            'source: "obs[:, 2"',
            r"variables.pole_angle.source: .*not a valid Python expression",
        ),
        (
            "def is_success(pole_angle)",
            "def is_success(pole_angel)",
            r"success.code: parameter 'pole_angel' is not a declared variable. Did you mean 'pole_angle'",
        ),
        (
            "env: {id: CartPole-v1}",
            "env: {id: CartPole-v1, entry_point: 'a.b:c'}",
            r"env: .*exactly one of 'id'",
        ),
        (
            "def is_success",
            "def success",
            r"success.code: must define a function named 'is_success'",
        ),
        ("description: Keep the pole up.", "description: [", r"not valid YAML at line"),
        (
            'source: "obs[:, 2]"}',
            'source: "obs[:, 2]", dtype: complex}',
            r"dtype: .*must be one of",
        ),
    ],
)
def test_malformed_task_files_name_the_field(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(TaskFileError, match=match) as info:
        load_task_file(path)
    assert str(path) in str(info.value)


def test_unknown_task_suggests_close_name() -> None:
    with pytest.raises(TaskNotFoundError, match=r"Did you mean 'mountaincar'\?"):
        get_task("mountaincr")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"cannot read task file .*nope.yaml"):
        get_task(str(tmp_path / "nope.yaml"))
