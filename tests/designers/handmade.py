"""A hand-made task and term library whose scales are known: the effector-object and
object-goal distances of its "random-policy" samples average 0.5 and 0.4, the speed's size is
2, so every margin of a rendered term is known."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from rewardforge.designers.terms import build_library
from rewardforge.tasks.spec import Task

TASK = Task.model_validate(
    {
        "id": "hand-made",
        "description": "Carry the block to the goal and let go.",
        "env": {"id": "CartPole-v1"},
        "max_episode_steps": 50,
        "variables": {
            "hand": {"shape": [2], "unit": "m", "role": "effector", "source": "obs[:, 0:2]"},
            "block": {"shape": [2], "unit": "m", "role": "object", "source": "obs[:, 0:2]"},
            "goal": {"shape": [2], "unit": "m", "role": "goal", "source": "obs[:, 0:2]"},
            "speed": {"shape": [], "unit": "m/s", "source": "obs[:, 0]"},
            "held": {"shape": [], "dtype": "bool", "role": "held", "source": "obs[:, 0] > 0"},
            "action": {"shape": [2], "dtype": "float32", "source": "action"},
        },
        "success": {
            "code": "def is_success(block, goal, held):\n"
            "    return (np.linalg.norm(block - goal, axis=-1) < 0.1) & ~held\n"
        },
        "budget": {"trainer": "sac"},
        "trainers": {"sac": {"gamma": 0.9}},
    }
)


def samples() -> dict[str, np.ndarray]:
    n = 4
    zeros = np.zeros((n, 2))
    hand = np.tile([[0.5, 0.0]], (n, 1))  # 0.5 from the block
    goal = np.tile([[0.0, 0.4]], (n, 1))  # 0.4 from the block
    return {
        "hand": hand,
        "block": zeros,
        "goal": goal,
        "speed": np.array([-2.0, 2.0, -2.0, 2.0]),  # rms 2
        "held": np.zeros(n, bool),
        "action": np.ones((n, 2)),  # mean squared norm 2
    }


LIB = build_library(TASK, samples())


def run(code: str, **variables: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # trusted: the test's own rendered code
    func = namespace["compute_reward"]
    args = []
    for name in inspect.signature(func).parameters:
        value = np.asarray(variables[name])
        args.append(value if value.ndim and name != "held" else np.atleast_1d(value))
    return func(*args)
