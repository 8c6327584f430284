"""The exported reward.py, used without rewardforge, gives the rewards rewardforge computes."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

from rewardforge.errors import RunError
from rewardforge.report import export_run, standalone_reward_module
from rewardforge.report.export import load_module
from rewardforge.runs import Workspace
from rewardforge.tasks import get_task, make_env
from tests.runs.fake_run import REWARD_ENERGY, REWARD_PROGRESS, REWARD_SCALAR, make_fake_run

CARTPOLE_REWARD = """import numpy as np


def compute_reward(pole_angle, cart_position, episode_step, action):
    upright = np.cos(pole_angle)
    centred = -0.1 * np.abs(cart_position)
    time_bonus = 0.001 * episode_step
    push = 0.01 * (action == 1)
    return upright + centred + time_bonus + push, {"upright": upright, "centred": centred}
"""

NUM_STEPS = 250


def _actions(task_id: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if task_id == "cartpole":
        return rng.integers(0, 2, size=(NUM_STEPS, 1))
    return rng.uniform(-1, 1, size=(NUM_STEPS, 1, 1)).astype(np.float32)


def rewardforge_rewards(task_id: str, code: str, seed: int) -> tuple[np.ndarray, ...]:
    """Rewards as a run computes them: TaskVecEnv's variables fed to the reward program."""
    namespace: dict = {}
    exec(compile(code, "<reward>", "exec"), namespace)  # noqa: S102 - our own test program
    fn = namespace["compute_reward"]
    params = list(inspect.signature(fn).parameters)
    rewards, dones, env_rewards = [], [], []
    with make_env(get_task(task_id), num_envs=1, seed=seed) as env:
        env.reset()
        for action in _actions(task_id, seed):
            step = env.step(action)
            args = {p: step.variables[p] for p in params}
            try:
                reward, _ = fn(**args)
            except Exception:  # one-sample code: row by row, as the runner does
                reward, _ = fn(**{k: v[0] for k, v in args.items()})
            rewards.append(float(np.asarray(reward, dtype=np.float64).reshape(-1)[0]))
            dones.append(bool(step.episodes.done[0]))
            env_rewards.append(float(step.env_reward[0]))
    return np.array(rewards), np.array(dones), np.array(env_rewards)


@pytest.mark.parametrize(
    ("task_id", "code"),
    [
        ("mountaincar", REWARD_PROGRESS),
        ("mountaincar", REWARD_ENERGY),
        ("mountaincar", REWARD_SCALAR),
        ("cartpole", CARTPOLE_REWARD),
    ],
    ids=["progress", "energy", "one-sample", "cartpole-episodes"],
)
def test_exported_wrapper_reproduces_rewardforge_rewards(tmp_path, task_id, code):
    task = get_task(task_id)
    path = tmp_path / "reward.py"
    path.write_text(standalone_reward_module(task, code))
    module = load_module(path, f"exported_{task_id}_{abs(hash(code))}")
    expected, dones, expected_env = rewardforge_rewards(task_id, code, seed=7)
    env = module.make_env()
    env.reset(seed=7)
    got, env_rewards = [], []
    for action in _actions(task_id, 7):
        _, reward, terminated, truncated, info = env.step(action[0])
        got.append(reward)
        env_rewards.append(info["env_reward"])
        if terminated or truncated:
            env.reset()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(env_rewards, expected_env, rtol=1e-6, atol=1e-9)
    if task_id == "cartpole":
        assert dones.sum() >= 3, "the comparison should cross episode boundaries"


def test_exported_module_imports_nothing_from_rewardforge(tmp_path):
    text = standalone_reward_module(get_task("mountaincar"), REWARD_PROGRESS)
    imported = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"importlib", "gymnasium", "numpy"}


def test_export_refuses_programs_that_shadow_its_names():
    code = "def make_env():\n    pass\n\n\ndef compute_reward(position):\n    return position, {}\n"
    with pytest.raises(RunError, match="defines make_env"):
        standalone_reward_module(get_task("mountaincar"), code)


SB3_SCRIPT = r"""
import json, sys
sys.modules["rewardforge"] = None          # any rewardforge import now fails
sys.path.insert(0, sys.argv[1])
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv
from reward import make_env

actions = np.load(sys.argv[2])
venv = DummyVecEnv([make_env])
venv.seed(int(sys.argv[3]))
venv.reset()
rewards = [float(venv.step(a)[1][0]) for a in actions]
model = PPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1,
            policy_kwargs={"net_arch": [8]}, seed=0, device="cpu")
model.learn(total_timesteps=32)
print(json.dumps({"rewards": rewards, "rewardforge_loaded": "rewardforge" in sys.modules
                  and sys.modules["rewardforge"] is not None}))
"""


def test_export_run_with_plain_sb3(tmp_path):
    pytest.importorskip("stable_baselines3")
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    result = export_run(ws.store, ws, run.id, tmp_path / "out")
    best = ws.store.get_candidate(result.candidate_id)
    assert best.fitness == 0.9
    assert result.checkpoint_path is not None and result.checkpoint_path.name == "policy.zip"
    readme = result.readme_path.read_text()
    assert "from stable_baselines3 import SAC" in readme and 'SAC.load("policy.zip")' in readme
    np.save(tmp_path / "actions.npy", _actions("mountaincar", 3))
    proc = subprocess.run(
        [sys.executable, "-c", SB3_SCRIPT, str(result.out_dir), str(tmp_path / "actions.npy"), "3"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rewardforge_loaded"] is False
    expected, _, _ = rewardforge_rewards("mountaincar", best.code, seed=3)
    np.testing.assert_allclose(out["rewards"], expected, rtol=1e-6, atol=1e-9)


def test_export_of_a_run_without_fitness_explains(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = ws.store.create_run("mountaincar", "oneshot", {})
    with pytest.raises(RunError, match="nothing to export"):
        export_run(ws.store, ws, run.id)


TORCHSCRIPT_SCRIPT = r"""
import json, sys
sys.modules["rewardforge"] = None
import numpy as np, torch
policy = torch.jit.load(sys.argv[1])
obs = torch.as_tensor(np.load(sys.argv[2]), dtype=torch.float32)
with torch.no_grad():
    print(json.dumps(policy(obs).numpy().tolist()))
"""


def test_export_converts_rewardforge_checkpoints_to_torchscript(tmp_path):
    checkpoint = pytest.importorskip("rewardforge.rl.checkpoint")
    nets = pytest.importorskip("rewardforge.rl.nets")
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws, with_checkpoint=False)
    best = ws.store.get_run(run.id).best_candidate_id
    actor = nets.BatchedMLP(1, 2, 2, [16, 16], "tanh")
    path = ws.checkpoint_dir(run.id) / "best.pt"
    checkpoint.save_policy(
        path,
        {
            "obs_dim": 2,
            "act_dim": 1,
            "act_shape": [1],
            "kind": "squashed",
            "net_arch": [16, 16],
            "activation": "tanh",
            "actor": actor.state_dict(),
            "low": [-1.0],
            "high": [1.0],
        },
    )
    ws.store.record_training(best, seed=5, budget_steps=30_000, fitness=0.9, checkpoint=path)
    result = export_run(ws.store, ws, run.id, tmp_path / "out")
    assert result.checkpoint_path is not None and result.checkpoint_path.name == "policy.pt"
    assert (result.out_dir / "rewardforge_checkpoint.pt").is_file()
    assert "torch.jit.load" in result.readme_path.read_text()
    obs = np.random.default_rng(0).uniform(-1, 1, (5, 2)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            TORCHSCRIPT_SCRIPT,
            str(result.checkpoint_path),
            str(tmp_path / "obs.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = checkpoint.load_policy(path).act(obs)
    np.testing.assert_allclose(np.array(json.loads(proc.stdout)), expected, rtol=1e-5, atol=1e-6)
