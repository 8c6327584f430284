"""``export_run``: the best reward as a module that needs only numpy and Gymnasium.

The exported ``reward.py`` holds the reward program verbatim, the task's variables as numpy
expressions (the same ones ``TaskVecEnv`` evaluates, over a batch of one), the task's success
test, and ``RewardWrapper``: a ``gymnasium.Wrapper`` that replaces the environment's reward and
keeps the original in ``info["env_reward"]``. Beside it: the policy checkpoint and a README.
"""

from __future__ import annotations

import ast
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardforge import __version__
from rewardforge.errors import RunError
from rewardforge.runs.records import CandidateRecord
from rewardforge.runs.store import RunStore
from rewardforge.runs.summary import best_candidate, best_training
from rewardforge.runs.workspace import Workspace
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

#: Names the generated module defines; a reward program must not define them too.
RESERVED_NAMES = (
    "ENV_ID",
    "ENTRY_POINT",
    "ENV_KWARGS",
    "ENV_WRAPPERS",
    "MAX_EPISODE_STEPS",
    "REWARD_PARAMETERS",
    "compute_variables",
    "is_success",
    "RewardWrapper",
    "make_env",
)


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    reward_path: Path
    readme_path: Path
    checkpoint_path: Path | None
    candidate_id: int


def _function_params(code: str, name: str) -> list[str]:
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return [a.arg for a in node.args.args]
    raise RunError(f"the code defines no function {name!r}; cannot export it")


def _defined_names(code: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _variables_code(task: Task) -> str:
    lines = [
        "def compute_variables(obs, action, info, episode_step):",
        '    """The task\'s variables for a batch (B = len(episode_step)), as rewardforge computes',
        '    them: each is a numpy expression over obs, action, info, episode_step, full(v)."""',
        "    num = len(episode_step)",
        "",
        "    def full(value):",
        "        return np.full(num, value, dtype=np.float64)",
        "",
        "    return {",
    ]
    for v in task.variables:
        shape = "(num" + "".join(f", {d}" for d in v.shape) + ",)"
        lines.append(
            f"        # {v.description} [{v.unit}]" if v.unit else f"        # {v.description}"
        )
        lines.append(
            f"        {v.name!r}: np.asarray({v.source}, dtype={v.dtype!r}).reshape({shape}),"
        )
    lines.append("    }")
    return "\n".join(lines)


WRAPPER_CODE = '''
def _batch_info(info):
    """Single-environment info as a batch of one, as the task's variable expressions expect."""
    out = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        array = np.asarray(value)
        out[key] = array[None] if array.dtype != object else [value]
    return out


def _first(value):
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


class RewardWrapper(gym.Wrapper):
    """Replaces the environment's reward with ``compute_reward``; the original reward goes to
    ``info["env_reward"]``, the components to ``info["reward_components"]`` and the task's
    success test to ``info["is_success"]``."""

    def __init__(self, env):
        super().__init__(env)
        self._episode_step = 0

    def reset(self, **kwargs):
        self._episode_step = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self._episode_step += 1
        variables = compute_variables(
            np.asarray(obs)[None],
            np.asarray(action)[None],
            _batch_info(info),
            np.array([self._episode_step], dtype=np.int64),
        )
        args = {name: variables[name] for name in REWARD_PARAMETERS}
        try:
            reward, components = compute_reward(**args)
            reward = _first(reward)
        except Exception:  # code written for one sample: call it with scalars
            reward, components = compute_reward(**{k: v[0] for k, v in args.items()})
            reward = _first(reward)
        info = dict(info)
        info["env_reward"] = float(env_reward)
        info["reward_components"] = {k: _first(v) for k, v in (components or {}).items()}
        success_args = {name: variables[name] for name in SUCCESS_PARAMETERS}
        info["is_success"] = bool(np.asarray(is_success(**success_args)).reshape(-1)[0])
        return obs, reward, terminated, truncated, info


def make_env(render_mode=None, wrap=True):
    """The task's environment, with its time limit and (by default) this reward."""
    kwargs = dict(ENV_KWARGS)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if ENV_ID is not None:
        env = gym.make(ENV_ID, max_episode_steps=MAX_EPISODE_STEPS, **kwargs)
    else:
        module, _, name = ENTRY_POINT.partition(":")
        factory = getattr(importlib.import_module(module), name)
        env = gym.wrappers.TimeLimit(factory(**kwargs), MAX_EPISODE_STEPS)
    for path in ENV_WRAPPERS:
        module, _, name = path.partition(":")
        env = getattr(importlib.import_module(module), name)(env)
    return RewardWrapper(env) if wrap else env
'''


def standalone_reward_module(task: Task, code: str, *, header: str = "") -> str:
    """The text of a ``reward.py`` for ``code`` on ``task`` that imports nothing from rewardforge."""
    params = _function_params(code, "compute_reward")
    clash = _defined_names(code) & set(RESERVED_NAMES)
    if clash:
        raise RunError(
            f"the reward program defines {', '.join(sorted(clash))}, which the exported module "
            "needs for itself; rename them in the reward program"
        )
    success_code = task.success.code.rstrip()
    success_params = _function_params(success_code, "is_success")
    parts = [
        f'"""{header or f"Reward for the rewardforge task {task.id!r}."}\n\n'
        f"{task.description}\n\n"
        "Exported by rewardforge "
        f"{__version__}. Needs numpy and gymnasium only: ``env = make_env()`` gives the task's\n"
        'environment with this reward (see README.md)."""',
        "",
        "import importlib",
        "",
        "import gymnasium as gym",
        "import numpy as np",
        "",
        f"ENV_ID = {task.env.id!r}",
        f"ENTRY_POINT = {task.env.entry_point!r}",
        f"ENV_KWARGS = {task.env.kwargs!r}",
        f"ENV_WRAPPERS = {list(task.env.wrappers)!r}",
        f"MAX_EPISODE_STEPS = {task.max_episode_steps!r}",
        f"REWARD_PARAMETERS = {params!r}",
        f"SUCCESS_PARAMETERS = {success_params!r}",
        "",
        "",
        "# --- the reward program ------------------------------------------------------------",
        code.strip(),
        "",
        "",
        "# --- the task's success test ---------------------------------------------------------",
        success_code,
        "",
        "",
        "# --- the task's variables -------------------------------------------------------------",
        _variables_code(task),
        "",
        WRAPPER_CODE.rstrip(),
        "",
    ]
    text = "\n".join(parts)
    ast.parse(text)  # a broken export is our bug; fail here, not in the user's training code
    return text


def _copy_checkpoint(source: Path, out: Path) -> Path:
    """SB3 ``.zip`` files are copied as they are; rewardforge's own checkpoints become a
    TorchScript ``policy.pt`` (loadable with ``torch.jit.load``, no rewardforge needed) and the
    original is kept beside it as ``rewardforge_checkpoint.pt``."""
    if source.is_dir():
        target = out / "policy"
        shutil.copytree(source, target, dirs_exist_ok=True)
        return target
    if source.suffix == ".zip":
        target = out / "policy.zip"
        shutil.copy2(source, target)
        return target
    raw = out / "rewardforge_checkpoint.pt"
    shutil.copy2(source, raw)
    try:
        import torch

        from rewardforge.rl.checkpoint import load_policy

        policy = load_policy(source)
        example = torch.zeros(1, int(policy.info["obs_dim"]), dtype=torch.float32)
        target = out / "policy.pt"
        with warnings.catch_warnings():  # TorchScript is deprecated, yet the one format that
            warnings.simplefilter("ignore", DeprecationWarning)  # loads without our classes
            traced = torch.jit.trace(policy.to_module(), example)
            torch.jit.save(traced, str(target))
        return target
    except Exception as exc:  # an unknown format is still exported, as it is
        logger.warning("could not convert %s to TorchScript (%s); copied it as it is", source, exc)
        return raw


README = """# Exported reward: {task_id}

From rewardforge run `{run_id}`, candidate #{candidate_id} (fitness {fitness}).

- `reward.py`: the reward program, the task's variables and `RewardWrapper`, a Gymnasium wrapper
  that replaces the environment's reward (the original stays in `info["env_reward"]`). It needs
  only numpy and gymnasium.
- {checkpoint_line}

## Train with Stable-Baselines3

```python
from stable_baselines3 import {algo}
from reward import make_env

env = make_env()                       # {env_name} with the exported reward
model = {algo}("MlpPolicy", env, verbose=1)
model.learn(total_timesteps={num_steps})
```

Or wrap an environment you build yourself: `env = RewardWrapper(gym.make("{env_name}"))`.
For several environments: `make_vec_env(make_env, n_envs=4)` from `stable_baselines3.common.env_util`.
{load_section}"""


TORCHSCRIPT_USAGE = """
## Run the policy

`policy.pt` is TorchScript: observation batch in, deterministic action batch out. It needs
torch only.

```python
import torch
from reward import make_env

policy = torch.jit.load("policy.pt")
env = make_env(render_mode="human")
obs, _ = env.reset(seed=0)
for _ in range(1000):
    with torch.no_grad():
        action = policy(torch.as_tensor(obs[None], dtype=torch.float32))[0].numpy()
    obs, reward, terminated, truncated, info = env.step(action)
    if terminated or truncated:
        obs, _ = env.reset()
```
"""


def _readme(run_id: str, task: Task, candidate: CandidateRecord, checkpoint: Path | None) -> str:
    algo = (
        task.budget.trainer.upper()
        if task.budget.trainer.lower() in ("ppo", "sac", "td3", "a2c", "dqn")
        else "PPO"
    )
    if checkpoint is None:
        line = "no policy checkpoint was recorded for this candidate."
        load = ""
    else:
        line = f"`{checkpoint.name}`: the policy trained on this reward during the search."
        if checkpoint.suffix == ".zip":
            load = (
                f"\n## Load the policy\n\n```python\nfrom stable_baselines3 import {algo}\n"
                f'model = {algo}.load("{checkpoint.name}")\n```\n'
            )
        elif checkpoint.name == "policy.pt":
            load = TORCHSCRIPT_USAGE
        else:
            load = (
                f"\n## Load the policy\n\n`{checkpoint.name}` was written by rewardforge's "
                "trainer; `rewardforge.rl.checkpoint.load_policy` loads it.\n"
            )
    return README.format(
        task_id=task.id,
        run_id=run_id,
        candidate_id=candidate.id,
        fitness="-" if candidate.fitness is None else f"{candidate.fitness:.4g}",
        checkpoint_line=line,
        algo=algo,
        env_name=task.env.name,
        num_steps=task.budget.num_steps,
        load_section=load,
    )


def export_run(
    store: RunStore,
    workspace: Workspace | None,
    run_id: str,
    out_dir: str | Path | None = None,
    *,
    candidate_id: int | None = None,
    task: Task | None = None,
) -> ExportResult:
    """Write ``reward.py``, the checkpoint and ``README.md`` for the run's best candidate.

    ``out_dir`` defaults to ``<run_dir>/export``; ``task`` defaults to the run's task by id."""
    run = store.get_run(run_id)
    candidate = store.get_candidate(candidate_id) if candidate_id else best_candidate(store, run)
    if candidate is None:
        raise RunError(
            f"run {run.id} has no candidate with a fitness yet, so there is nothing to export; "
            "let the search finish an iteration (rewardforge resume RUN) first"
        )
    if task is None:
        from rewardforge.tasks import get_task

        task = get_task(run.task_id)
    if out_dir is None:
        root = workspace.run_dir(run.id) if workspace else store.path.parent / run.id
        out_dir = root / "export"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = (
        f"Reward for the rewardforge task {task.id!r}: run {run.id}, candidate #{candidate.id}."
    )
    reward_path = out / "reward.py"
    reward_path.write_text(standalone_reward_module(task, candidate.code, header=header), "utf-8")
    training = best_training(store, candidate)
    checkpoint: Path | None = None
    if training is not None and training.checkpoint:
        checkpoint = _copy_checkpoint(Path(training.checkpoint), out)
    readme_path = out / "README.md"
    readme_path.write_text(_readme(run.id, task, candidate, checkpoint), "utf-8")
    logger.info("exported run %s candidate %d to %s", run.id, candidate.id, out)
    return ExportResult(out, reward_path, readme_path, checkpoint, candidate.id)


def load_module(path: str | Path, name: str = "exported_reward") -> Any:
    """Import an exported ``reward.py`` from its path (for tests and notebooks)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RunError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
