"""MuJoCo, Fetch and MetaWorld tasks: variables come from the final state, success from the
environment, locomotion fitness from a task score."""

from __future__ import annotations

import numpy as np
import pytest

from rewardforge.tasks import get_task, list_tasks
from rewardforge.tasks.vecenv import make_env

FAMILIES = {
    "mujoco": {"reacher", "pusher", "halfcheetah", "hopper", "walker2d", "ant", "humanoid"},
    "fetch": {"fetch-reach", "fetch-push", "fetch-slide", "fetch-pick-place"},
    "metaworld": {
        "window-close",
        "window-open",
        "button-press",
        "door-close",
        "drawer-open",
        "coffee-push",
        "hand-insert",
        "soccer",
        "pick-place",
        "push",
        "sweep-into",
    },
    "manip2d": {"point-reach", "slide", "place"},
}


def test_the_suite_has_every_family() -> None:
    ids = {t.id for t in list_tasks()}
    for family, tasks in FAMILIES.items():
        assert tasks <= ids, f"{family}: missing {sorted(tasks - ids)}"


def test_reacher_variables_match_the_observation_at_the_final_step() -> None:
    with make_env(get_task("reacher"), num_envs=3, seed=0) as env:
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(50):
            step = env.step(env.sample_actions(rng))
        assert step.episodes.done.all()
        v = step.variables
        # Reacher-v5's observation ends with fingertip - target (x, y): of the final state
        np.testing.assert_allclose(v["fingertip_pos"] - v["target_pos"], step.final_obs[:, 8:10])
        assert not np.allclose(step.obs[:, 8:10], step.final_obs[:, 8:10])


def test_hopper_fall_is_seen_in_the_final_state_not_the_reset_state() -> None:
    with make_env(get_task("hopper"), num_envs=2, seed=0) as env:
        env.reset()
        for _ in range(1000):
            step = env.step(np.ones((2, 3), dtype=np.float32))
            if step.episodes.done.any():
                break
        done = step.episodes.done
        assert step.terminated[done].all()
        assert not step.variables["is_healthy"][done].any()
        # the torso position is the fallen one; the next observation is a fresh upright start
        assert np.all(step.obs[done, 0] > 1.2)
        np.testing.assert_allclose(step.variables["torso_height"][done], step.final_obs[done, 0])


@pytest.mark.parametrize("task_id", ["halfcheetah", "ant"])
def test_locomotion_score_is_forward_distance(task_id: str) -> None:
    task = get_task(task_id)
    assert task.fitness.kind == "score" and task.fitness.score is not None
    assert task.fitness.score.success_threshold is not None
    with make_env(task, num_envs=2, seed=0) as env:
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(task.max_episode_steps):
            step = env.step(env.sample_actions(rng))
            if step.episodes.done.any():
                break
        done = step.episodes.done
        np.testing.assert_allclose(step.episodes.score[done], step.variables["torso_pos"][done, 0])
        assert np.all(np.abs(step.episodes.score[done]) < task.fitness.score.success_threshold)


def test_fetch_dict_observation_is_flattened_and_readable_by_key() -> None:
    task = get_task("fetch-reach")
    with make_env(task, num_envs=2, seed=0) as env:
        obs = env.reset()
        assert obs.shape == (2, 3 + 3 + 10) == (2, *env.single_observation_space.shape)
        # keys in order: achieved_goal, desired_goal, observation; drive the gripper to the goal
        for _ in range(50):
            delta = (obs[:, 3:6] - obs[:, 6:9]) / 0.05
            action = np.concatenate([np.clip(delta, -1, 1), np.zeros((2, 1))], axis=1)
            step = env.step(action.astype(np.float32))
            obs = step.obs
        assert step.episodes.done.all() and step.episodes.success.all()
        np.testing.assert_allclose(step.variables["goal"], step.final_obs[:, 3:6])
        dist = np.linalg.norm(step.variables["grip_pos"] - step.variables["goal"], axis=1)
        assert np.all(dist < 0.05)


def test_fetch_push_has_object_and_gripper_variables() -> None:
    with make_env(get_task("fetch-push"), num_envs=1, seed=0) as env:
        env.reset()
        step = env.step(np.zeros((1, 4), dtype=np.float32))
        v = step.variables
        assert v["object_pos"].shape == (1, 3) and v["gripper_opening"].shape == (1,)
        assert 0.3 < v["object_pos"][0, 2] < 0.5  # on the table


def test_metaworld_is_seeded_per_environment() -> None:
    task = get_task("push")

    def first_goals(seed: int) -> np.ndarray:
        with make_env(task, num_envs=2, seed=seed) as env:
            env.reset()
            return env.step(np.zeros((2, 4), dtype=np.float32)).variables["goal_pos"]

    a, b = first_goals(1), first_goals(1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1]), "sub-environments get different seeds"
    assert not np.allclose(a, first_goals(2))


def test_metaworld_success_comes_from_the_environment() -> None:
    with make_env(get_task("button-press"), num_envs=1, seed=0) as env:
        obs = env.reset()
        # scripted: move above the button, then push along +y
        for t in range(150):
            tcp, button = obs[0, 0:3], obs[0, 4:7]
            target = button + (np.array([0.0, -0.05, 0.0]) if t < 60 else np.array([0.0, 0.2, 0.0]))
            action = np.append(np.clip((target - tcp) * 20, -1, 1), 1.0).astype(np.float32)
            step = env.step(action[None])
            obs = step.obs
            if step.success[0]:
                break
        assert step.success[0] and step.variables["env_success"][0]


def test_every_task_has_valid_trainer_defaults_and_budget() -> None:
    from rewardforge.rl.base import build_config
    from rewardforge.rl.ppo import PPOConfig
    from rewardforge.rl.sac import SACConfig

    configs = {"ppo": PPOConfig, "sac": SACConfig}
    for task in list_tasks():
        assert task.budget.trainer in configs, task.id
        for name in task.trainers:
            if name in configs:  # sb3:ALGO sections are checked by Stable-Baselines3
                build_config(configs[name], task, name, {})
