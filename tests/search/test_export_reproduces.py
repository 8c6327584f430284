"""The exported wrapper, used with plain Stable-Baselines3 and no rewardforge import, gives the
rewards the run recorded.

What a run records about a candidate's rewards that can be replayed outside it: the smoke test
(``details.check.smoke``), the reward and each component's mean, std, min and max over 256 states of
random-policy rollouts of the task, seeded with the run seed. The rewards seen in training are
recorded only as statistics over a policy's own actions, which cannot be replayed without
rewardforge's trainer, so they are not compared here.

So a real search runs (offline designer, mountaincar), ``rewardforge export`` writes the best
candidate, and a subprocess that cannot import rewardforge steps an SB3 ``DummyVecEnv`` of the
exported ``make_env`` through the same seeds and actions as the smoke test. Its rewards must
match per step what rewardforge computes (the candidate's reward file run in the sandbox on the
same states) and, as statistics, what the run stored. It then trains SB3's SAC on it briefly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rewardforge.rewards.loader import load_reward
from rewardforge.rewards.smoke import collect_states
from rewardforge.runs import Workspace
from rewardforge.search.runner import Search
from rewardforge.tasks import get_task
from tests.search.support import make_config

SEED = 3
NUM_STATES = 256  # the smoke test's default
NUM_ENVS = 16  # collect_states steps min(16, NUM_STATES) environments at once

SB3_SCRIPT = r"""
import json, sys
sys.modules["rewardforge"] = None  # any import of rewardforge now fails
export_dir, actions_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, export_dir)
import numpy as np
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import DummyVecEnv
import reward

actions = np.load(actions_path)  # (steps, envs, action_dim)
venv = DummyVecEnv([reward.make_env] * actions.shape[1])
venv.seed(seed)  # environment i gets seed + i, as a Gymnasium vector env does
venv.reset()
rewards, components = [], []
for step_actions in actions:
    _, step_rewards, dones, infos = venv.step(step_actions)
    assert not dones.any()
    rewards.append(step_rewards.tolist())
    components.append([info["reward_components"] for info in infos])

train_env = DummyVecEnv([reward.make_env])
model = SAC("MlpPolicy", train_env, learning_starts=50, batch_size=32, seed=0, device="cpu",
            policy_kwargs={"net_arch": [16]})
model.learn(total_timesteps=100)
buffer = model.replay_buffer
print(json.dumps({
    "rewards": rewards,
    "components": components,
    "trained_steps": model.num_timesteps,
    "buffer_size": buffer.size(),
    "buffer_rewards": buffer.rewards[: buffer.size(), 0].tolist(),
    "buffer_next_obs": buffer.next_observations[: buffer.size(), 0].tolist(),
    "buffer_actions": buffer.actions[: buffer.size(), 0].tolist(),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] == "rewardforge"
                      and sys.modules[m] is not None),
    "reward_file": reward.__file__,
}))
"""


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": values.mean(), "std": values.std(), "min": values.min(), "max": values.max()}


def test_exported_wrapper_with_plain_sb3_gives_the_recorded_rewards(run_cli, tmp_path) -> None:
    pytest.importorskip("stable_baselines3")
    workspace = Workspace(tmp_path / "ws")
    config = make_config(
        "mountaincar", designer="offline", samples=2, iterations=1, steps=800,
        num_envs=2, final_seeds=0, seed=SEED,
    )  # fmt: skip
    summary = Search(config, workspace).run().to_dict()
    run_id = summary["run_id"]
    out = run_cli(
        "export", run_id, "--workspace", str(workspace.root), "--out", str(tmp_path / "x")
    )
    assert out.returncode == 0, out.stderr[-3000:]
    best = workspace.store.get_candidate(summary["best_candidate"])
    assert f"#{best.id}" in out.stdout
    smoke = {c["name"]: c for c in best.details.check.smoke["components"]}
    assert len(smoke) >= 2, "the best candidate should have components to compare"

    # the smoke test's states: the same rollouts, and the actions taken in them
    task = get_task("mountaincar")
    states = collect_states(task, NUM_STATES, seed=SEED)
    actions = states["action"].reshape(NUM_STATES // NUM_ENVS, NUM_ENVS, -1)
    np.save(tmp_path / "actions.npy", actions)
    # what rewardforge computes on them: the run's own reward file, run in the sandbox
    fn = load_reward(str(workspace.reward_path(run_id, best.id)), task)
    try:
        expected = fn(states)
    finally:
        fn.close()

    proc = subprocess.run(
        [sys.executable, "-I", "-c", SB3_SCRIPT, str(tmp_path / "x"), str(tmp_path / "actions.npy"),
         str(SEED)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["modules"] == [], "the exported reward imported rewardforge"
    assert got["reward_file"] == str(tmp_path / "x" / "reward.py")

    # per step, as rewardforge computes them (SB3 keeps rewards in float32)
    rewards = np.asarray(got["rewards"], dtype=np.float64).reshape(-1)
    np.testing.assert_allclose(rewards, expected.reward, rtol=1e-6, atol=1e-6)
    for name, values in expected.components.items():
        exported = [c[name] for row in got["components"] for c in row]
        np.testing.assert_allclose(exported, values, rtol=1e-9, atol=1e-12)
    # and as the statistics the run recorded in its smoke test
    recorded = {"reward": rewards} | {
        name: np.asarray([c[name] for row in got["components"] for c in row])
        for name in smoke
        if name != "reward"
    }
    assert recorded.keys() == smoke.keys()
    for name, values in recorded.items():
        for stat, value in _stats(values).items():
            assert value == pytest.approx(smoke[name][stat], rel=1e-6, abs=1e-6), (name, stat)

    # SB3 trains on it, and what it learns from is this reward: mountaincar's variables of the
    # transitions in SAC's replay buffer, rewarded by rewardforge, are the buffer's rewards
    assert got["trained_steps"] == 100 and got["buffer_size"] == 100
    next_obs = np.asarray(got["buffer_next_obs"])
    transitions = {
        "position": next_obs[:, 0],
        "velocity": next_obs[:, 1],
        "goal_position": np.full(len(next_obs), 0.45),
        "action": np.asarray(got["buffer_actions"], dtype=np.float32),
    }
    fn = load_reward(str(workspace.reward_path(run_id, best.id)), task)
    try:
        trained_on = fn(transitions).reward
    finally:
        fn.close()
    assert np.ptp(trained_on) > 0
    np.testing.assert_allclose(got["buffer_rewards"], trained_on, rtol=1e-5, atol=1e-6)
