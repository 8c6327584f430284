"""Bring-your-own environments: the worked examples, ``variables: auto`` and task templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardforge.tasks import get_task, parse_task_text
from rewardforge.tasks.discover import task_template
from rewardforge.tasks.vecenv import make_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["byo_task.yaml", "byo_slices_task.yaml"])
def test_worked_examples_load_and_run(name: str) -> None:
    task = get_task(str(EXAMPLES / name))
    rng = np.random.default_rng(0)
    with make_env(task, num_envs=2, seed=0) as env:
        env.reset()
        finished = 0
        for _ in range(task.max_episode_steps):
            step = env.step(env.sample_actions(rng))
            finished += int(step.episodes.done.sum())
            for var in task.variables:
                assert step.variables[var.name].shape == (2, *var.shape), var.name
    assert finished >= 1


def test_auto_variables_of_a_mujoco_model_are_its_bodies_and_joints() -> None:
    task = get_task(str(EXAMPLES / "byo_task.yaml"))
    names = set(task.variable_names)
    assert {"cart_pos", "pole_pos", "pole2_pos", "observation", "action"} <= names
    assert {"slider_qpos", "slider_qvel", "hinge_qpos", "hinge2_qvel"} <= names
    assert task.variable("hinge_qpos").unit == "rad"
    with make_env(task, num_envs=1, seed=0) as env:
        env.reset()
        step = env.step(np.zeros((1, 1), dtype=np.float32))
        # the observation holds sin(hinge angle) at index 1
        np.testing.assert_allclose(np.sin(step.variables["hinge_qpos"]), step.final_obs[:, 1])


def test_auto_variables_of_a_dict_observation_are_its_keys() -> None:
    text = """
id: byo-fetch
description: Reach.
env: {id: FetchReachDense-v4}
max_episode_steps: 50
variables: auto
success:
  code: |
    def is_success(achieved_goal, desired_goal):
        return np.linalg.norm(achieved_goal - desired_goal, axis=-1) < 0.05
"""
    task = parse_task_text(text)
    assert {"achieved_goal", "desired_goal", "observation", "action"} <= set(task.variable_names)
    assert task.variable("desired_goal").source == 'obs["desired_goal"]'
    with make_env(task, num_envs=2, seed=0) as env:
        env.reset()
        step = env.step(np.zeros((2, 4), dtype=np.float32))
        assert step.variables["observation"].shape == (2, 10)


def test_auto_success_code_must_name_discovered_variables() -> None:
    text = """
id: bad
description: x
env: {id: InvertedPendulum-v5}
max_episode_steps: 50
variables: auto
success:
  code: |
    def is_success(pole_angel):
        return pole_angel > 0
"""
    with pytest.raises(Exception, match=r"'pole_angel' is not a declared variable"):
        parse_task_text(text)


def test_task_template_is_an_editable_valid_task_file() -> None:
    text = task_template("InvertedPendulum-v5")
    assert "wrapper: rewardforge.tasks.mujoco:MujocoState" in text
    task = parse_task_text(text)
    assert "pole_pos" in task.variable_names and "hinge_qpos" in task.variable_names
    with make_env(task, num_envs=2, seed=0) as env:
        env.reset()
        env.step(np.zeros((2, 1), dtype=np.float32))
