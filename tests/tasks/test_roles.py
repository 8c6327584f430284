"""Variable roles: declared in every built-in task file, validated, inferred when absent."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rewardforge.errors import TaskFileError
from rewardforge.tasks import get_task, list_tasks, load_task_file
from rewardforge.tasks.roles import infer_role, names_with_role, variable_roles
from rewardforge.tasks.spec import IMPLICIT_VARIABLES, ROLES, Task


@pytest.mark.parametrize("task_id", [t.id for t in list_tasks()])
def test_every_builtin_variable_has_a_role_that_inference_agrees_with(task_id: str) -> None:
    task = get_task(task_id)
    declared = {v.name: v.role for v in task.variables if v.name not in IMPLICIT_VARIABLES}
    assert all(role in ROLES for role in declared.values()), declared
    stripped = Task.model_validate(
        {
            **task.model_dump(),
            "variables": {
                name: {**spec, "role": None}
                for name, spec in task.model_dump()["variables"].items()
            },
        }
    )
    inferred = variable_roles(stripped)
    assert {n: inferred[n] for n in declared} == declared


def test_roles_of_the_manipulation_tasks() -> None:
    roles = variable_roles(get_task("fetch-push"))
    assert [n for n, r in roles.items() if r in ("effector", "object", "goal", "success")] == [
        "grip_pos",
        "object_pos",
        "goal",
        "env_success",
    ]
    assert roles["gripper_opening"] == "gripper" and roles["object_velocity"] == "velocity"
    assert names_with_role(get_task("place"), "held") == ["object_held"]
    assert names_with_role(get_task("place"), "gripper") == ["gripper_closed"]
    assert names_with_role(get_task("mountaincar"), "effector") == ["position"]


BYO = textwrap.dedent(
    """
    id: my-push
    description: Push the cube onto the marker.
    env: {id: CartPole-v1}
    max_episode_steps: 100
    variables:
      hand_xyz: {shape: [3], unit: m, source: "obs[:, 0:3]"}
      cube_xyz: {shape: [3], unit: m, source: "obs[:, 0:3]"}
      marker: {shape: [3], unit: m, source: "obs[:, 0:3]"}
      cube_speed: {shape: [3], unit: m/s, source: "obs[:, 0:3]"}
      done_flag: {shape: [], dtype: bool, source: "obs[:, 0] > 0"}
    success:
      code: |
        def is_success(done_flag):
            return done_flag
    goal: {variable: marker, achieved: cube_xyz, observation: [0, 3]}
    """
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    return path


def test_a_task_without_roles_gets_inferred_ones(tmp_path: Path) -> None:
    task = load_task_file(write(tmp_path, BYO))
    assert all(v.role is None for v in task.variables if v.name != "episode_step")
    assert variable_roles(task) == {
        "hand_xyz": "effector",  # 'hand'
        "cube_xyz": "object",  # the goal section's achieved variable, not an effector word
        "marker": "goal",  # the goal section's variable
        "cube_speed": "velocity",  # a rate
        "done_flag": "success",  # a flag named 'done'
        "episode_step": "other",
    }


def test_a_declared_role_wins_over_inference(tmp_path: Path) -> None:
    text = BYO.replace("hand_xyz: {shape", "hand_xyz: {role: other, shape")
    task = load_task_file(write(tmp_path, text))
    assert variable_roles(task)["hand_xyz"] == "other"
    assert infer_role(task.variable("hand_xyz"), task) == "effector"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "hand_xyz: {shape",
            "hand_xyz: {role: efector, shape",
            r"variables.hand_xyz.role: .*unknown role 'efector'. Did you mean 'effector'\?",
        ),
        (
            "cube_speed: {shape",
            "cube_speed: {role: success, shape",
            r"variables.cube_speed: .*role 'success' is a flag: give the variable dtype bool",
        ),
        (
            "done_flag: {shape",
            "done_flag: {role: goal, shape",
            r"variables.done_flag: .*role 'goal' is a position: a bool variable cannot have it",
        ),
        (
            "marker: {shape",
            "marker: {role: object, shape",
            r"goal.variable names 'marker', whose role is 'object'; it must be 'goal'",
        ),
        (
            "cube_xyz: {shape",
            "cube_xyz: {role: goal, shape",
            r"goal.achieved names 'cube_xyz', whose role is 'goal'; it must be 'effector' or 'object'",
        ),
    ],
)
def test_wrong_roles_are_errors_naming_the_variable(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    assert old in BYO
    with pytest.raises(TaskFileError, match=match):
        load_task_file(write(tmp_path, BYO.replace(old, new)))


def test_mountaincar_without_roles_finds_the_car_as_effector(tmp_path: Path) -> None:
    """No name says 'effector': the number of the goal's shape and unit is the effector."""
    task = get_task("mountaincar")
    data = task.model_dump()
    data["variables"] = {n: {**s, "role": None} for n, s in data["variables"].items()}
    roles = variable_roles(Task.model_validate(data))
    assert roles["position"] == "effector" and roles["goal_position"] == "goal"
