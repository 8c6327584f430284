"""A missing optional extra is an error naming the extra to install; wrapper misuse is clear."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

import rewardforge.tasks.registry as registry
from rewardforge.errors import MissingExtraError, TaskError
from rewardforge.tasks import get_task, parse_task_text
from rewardforge.tasks.vecenv import make_env


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make modules look uninstalled: ``import`` raises ModuleNotFoundError for them."""

    def _hide(*modules: str) -> None:
        for name in list(sys.modules):
            if any(name == m or name.startswith(m + ".") for m in modules):
                monkeypatch.delitem(sys.modules, name)
        for m in modules:
            monkeypatch.setitem(sys.modules, m, None)
        # our own wrappers of the extras import them again
        for name in [n for n in sys.modules if n == "rewardforge.tasks.meta_world"]:
            monkeypatch.delitem(sys.modules, name)

    return _hide


@pytest.mark.parametrize(
    ("task_id", "modules", "extra"),
    [
        ("push", ("metaworld",), "metaworld"),
        ("fetch-reach", ("gymnasium_robotics",), "robotics"),
        ("hopper", ("mujoco",), "mujoco"),
    ],
)
def test_missing_extra_names_the_extra(  # type: ignore[no-untyped-def]
    hide, monkeypatch: pytest.MonkeyPatch, task_id: str, modules: tuple[str, ...], extra: str
) -> None:
    task = get_task(task_id)
    hide(*modules)
    for env_id in [k for k in gym.registry if k.startswith("Fetch")]:
        monkeypatch.delitem(gym.registry, env_id)  # as in a process that never imported them
    with pytest.raises(MissingExtraError, match=rf"pip install 'rewardforge\[{extra}\]'"):
        make_env(task, num_envs=1)


def test_builtin_task_files_load_without_the_extras(hide) -> None:  # type: ignore[no-untyped-def]
    hide("metaworld", "gymnasium_robotics", "mujoco")
    registry._REGISTRY.clear()
    registry._BUILTINS_LOADED = False
    try:
        assert {"push", "fetch-reach", "hopper"} <= {t.id for t in registry.list_tasks()}
    finally:
        registry._REGISTRY.clear()
        registry._BUILTINS_LOADED = False


def test_mujoco_state_names_an_unknown_body() -> None:
    text = """
id: bad-body
description: x
env:
  id: Reacher-v5
  wrappers:
    - wrapper: rewardforge.tasks.mujoco:MujocoState
      kwargs: {bodies: [fingertp]}
max_episode_steps: 50
variables:
  tip: {shape: [3], source: 'info["body_pos/fingertp"]'}
success:
  code: |
    def is_success(tip):
        return tip[:, 0] > 9
"""
    task = parse_task_text(text)
    with pytest.raises(TaskError, match=r"no body named 'fingertp'.*Did you mean 'fingertip'"):
        make_env(task, num_envs=1)


def test_mujoco_state_records_contact_forces_and_sites() -> None:
    text = """
id: ant-contacts
description: x
env:
  id: Ant-v5
  wrappers:
    - wrapper: rewardforge.tasks.mujoco:MujocoState
      kwargs: {contact_forces: [torso], joints: [root, hip_1]}
max_episode_steps: 20
variables:
  torso_contact: {shape: [6], source: 'info["contact_force/torso"]'}
  root_qpos: {shape: [7], source: 'info["joint_qpos/root"]'}
  root_qvel: {shape: [6], source: 'info["joint_qvel/root"]'}
  hip: {shape: [], source: 'info["joint_qpos/hip_1"]'}
success:
  code: |
    def is_success(hip):
        return hip > 9
"""
    with make_env(parse_task_text(text), num_envs=2, seed=0) as env:
        env.reset()
        step = env.step(np.zeros((2, 8), dtype=np.float32))
        # the free joint's qpos starts with the torso position: the observation drops x, y
        np.testing.assert_allclose(step.variables["root_qpos"][:, 2:], step.obs[:, 0:5])


def test_building_a_fetch_env_prints_nothing() -> None:
    """gymnasium_robotics prints a notice about Adroit environments to stderr on import; the
    library logs it instead (a fresh process: the import happens once)."""
    import subprocess

    code = (
        "from rewardforge.tasks import get_task\n"
        "from rewardforge.tasks.vecenv import make_env\n"
        "make_env(get_task('fetch-reach'), num_envs=1).close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Adroit" not in done.stderr and done.stdout == ""
