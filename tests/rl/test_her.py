from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rewardforge.tasks
from rewardforge.errors import ConfigError, TaskFileError
from rewardforge.rewards.base import EnvReward, SparseReward
from rewardforge.rewards.loader import load_reward
from rewardforge.rl import make_trainer
from rewardforge.rl.her import GoalRelabeler
from rewardforge.rl.replay import ReplayBuffer
from rewardforge.rl.rewards import MemberRewards
from rewardforge.tasks import get_task, parse_task_text
from rewardforge.tasks.vecenv import ENV_REWARD_KEY, SUCCESS_KEY

FETCH_REACH = Path(rewardforge.tasks.__file__).parent / "builtin" / "fetch-reach.yaml"
REACH_PROGRAM = """
import numpy as np

def compute_reward(grip_pos, goal, action):
    dist = np.linalg.norm(grip_pos - goal, axis=-1)
    near = np.exp(-dist / 0.05)
    return near - 0.01 * np.sum(action ** 2, axis=-1), {"near": near}
"""


def _filled(rewards, steps=300):
    """A fetch-reach SAC population that took ``steps`` random steps (no updates yet)."""
    trainer = make_trainer(
        "sac", get_task("fetch-reach"), learning_starts=10_000, num_envs=2, her_ratio=1.0
    )
    pop = trainer.start(rewards, list(range(len(rewards))))
    pop.train_more(steps)
    return pop


def test_relabelling_recomputes_rewards_exactly_as_the_program_would(tmp_path) -> None:
    path = tmp_path / "reach.py"
    path.write_text(REACH_PROGRAM)
    program = load_reward(str(path), get_task("fetch-reach"))
    try:
        with _filled([program, EnvReward(), SparseReward()]) as pop:
            buf, rng = pop.buffer, np.random.default_rng(3)
            t, e = buf.sample_index(64, rng)
            batch = buf.gather(t, e)
            before = {k: v.clone() for k, v in batch.items()}
            mask = pop.relabeler.relabel(buf, t, e, batch, np.random.default_rng(4))
            assert mask.all()  # ratio 1.0
            goal_slice = pop.relabeler.goal_slice
            new_goal = batch["obs"][..., goal_slice].numpy().astype(np.float64)
            np.testing.assert_array_equal(
                batch["next_obs"][..., goal_slice], batch["obs"][..., goal_slice]
            )
            # every new goal is the gripper position of a later step of the same episode
            for k in range(3):
                for j in range(64):
                    row, col = t[k, j], e[k, j]
                    end = buf.episode_end[row, col]
                    end = buf.pos - 1 if end < 0 else end
                    later = buf.variables["grip_pos"][row : end + 1, col]
                    assert np.isclose(later, new_goal[k, j], atol=1e-6).all(-1).any()
            # the rewards are what each reward returns with that goal
            for k, reward in enumerate([program, EnvReward(), SparseReward()]):
                variables = {name: v[t[k], e[k]] for name, v in buf.variables.items()}
                goal = new_goal[k]
                dist = np.linalg.norm(variables["grip_pos"] - goal, axis=-1)
                variables["goal"] = goal
                variables["env_success"] = dist < 0.05
                variables[ENV_REWARD_KEY] = -dist
                variables[SUCCESS_KEY] = dist < 0.05
                want = reward(variables).reward
                np.testing.assert_allclose(batch["rewards"][k].numpy(), want, rtol=1e-5, atol=1e-6)
            # the rest of the transition is untouched
            dim = batch["obs"].shape[-1]
            rest = [i for i in range(dim) if i not in set(range(dim)[goal_slice])]
            np.testing.assert_array_equal(batch["obs"][..., rest], before["obs"][..., rest])
            np.testing.assert_array_equal(batch["actions"], before["actions"])
    finally:
        program.close()


def test_recompute_expressions_match_the_environments_own_reward() -> None:
    import gymnasium as gym

    task = get_task("fetch-reach")
    with _filled([EnvReward()], steps=100) as pop:
        variables = {k: v[: pop.buffer.size, 0] for k, v in pop.buffer.variables.items()}
    goals = np.random.default_rng(0).uniform(0.2, 1.4, size=(len(variables["goal"]), 3))
    relabeler = GoalRelabeler(task, slice(3, 6), 1.0, MemberRewards([EnvReward()], 1))
    out = relabeler.recompute({**variables, "goal": goals})
    env = gym.make("FetchReachDense-v4").unwrapped
    want = env.compute_reward(variables["grip_pos"], goals, {})
    np.testing.assert_allclose(out[ENV_REWARD_KEY], want, rtol=1e-6)
    assert (out["env_success"] == (env._is_success(variables["grip_pos"], goals) > 0.5)).all()


def test_future_rows_stay_in_their_episode_across_the_ring() -> None:
    import torch

    buf = ReplayBuffer(
        1, 1, 1, 1, max_steps=10, shared=False, device=torch.device("cpu"), track_episodes=True
    )
    episode = []
    for step in range(23):  # episodes of 4 steps; the ring of 10 rows wraps twice
        done = np.array([step % 4 == 3])
        buf.add(
            np.zeros((1, 1)),
            np.zeros((1, 1)),
            np.zeros((1, 1)),
            np.zeros(1),
            np.zeros(1),
            {"ep": np.array([step // 4])},
            done=done,
        )
        episode.append(step // 4)
    rng = np.random.default_rng(0)
    t = rng.integers(0, buf.size, size=(1, 500))
    e = np.zeros_like(t)
    future = buf.future_rows(t, e, rng)
    same = buf.variables["ep"][future, e] == buf.variables["ep"][t, e]
    assert same.all()


def test_goal_section_is_checked() -> None:
    base = FETCH_REACH.read_text()
    with pytest.raises(TaskFileError, match="goal.achieved names 'grip'.*Did you mean 'grip_pos'"):
        parse_task_text(base.replace("achieved: grip_pos", "achieved: grip"))
    with pytest.raises(TaskFileError, match="neither a variable nor 'env_reward'"):
        parse_task_text(base.replace("    env_success: ", "    env_sucess: "))


def test_her_needs_a_goal_and_env_reward_needs_its_expression() -> None:
    with pytest.raises(ConfigError, match="declares no goal"):
        make_trainer("sac", get_task("pendulum"), her_ratio=0.5).start([EnvReward()], [0])
    text = FETCH_REACH.read_text()
    task = parse_task_text(
        text.replace('    env_reward: "-np.linalg.norm(grip_pos - goal, axis=-1)"\n', "")
    )
    with pytest.raises(ConfigError, match="no 'env_reward' expression"):
        make_trainer("sac", task).start([EnvReward()], [0])
    # a reward program needs no env_reward expression
    assert make_trainer("sac", task).start([SparseReward()], [0]).relabeler is not None
