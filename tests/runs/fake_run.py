"""A realistic run written through the store API: 2 iterations of mountaincar, trainings with
learning curves and component statistics, baselines, a final evaluation and model calls."""

from __future__ import annotations

import numpy as np

from rewardforge.runs import RunRecord, Workspace
from rewardforge.runs.details import CandidateDetails, TrainingDetails

REWARD_PROGRESS = '''import numpy as np


def compute_reward(position, velocity, goal_position, action):
    """Pay for height and speed toward the goal; a bonus at the flag; a small effort cost."""
    progress = np.clip(position + 0.5, 0.0, None)
    speed = 10.0 * np.abs(velocity)
    bonus = np.where(position >= goal_position, 10.0, 0.0)
    effort = -0.01 * np.sum(action ** 2, axis=-1)
    return progress + speed + bonus + effort, {
        "progress": progress, "speed": speed, "bonus": bonus, "effort": effort}
'''

REWARD_ENERGY = '''import numpy as np


def compute_reward(position, velocity, goal_position, action):
    """Mechanical energy as shaping: 0.5 v^2 + g h with the hill's height sin(3x)."""
    energy = 0.5 * (velocity * 100.0) ** 2 + 0.0025 * 100.0 * np.sin(3.0 * position)
    at_goal = (position >= goal_position).astype(np.float64)
    effort = -0.1 * action[:, 0] ** 2
    return energy + 100.0 * at_goal + effort, {"energy": energy, "at_goal": at_goal, "effort": effort}
'''

REWARD_SCALAR = """import math


def compute_reward(position, velocity, goal_position):
    if position >= goal_position:
        return 1.0, {"goal": 1.0}
    return math.fabs(velocity), {"goal": 0.0}
"""

REWARD_BROKEN = """def compute_reward(position, velocity):
    return position / 0 < "x", {}
"""


def _curve(final: float, rng: np.random.Generator, steps: int = 8000) -> dict[str, list[float]]:
    xs = np.linspace(0, steps, 9)
    ys = np.clip(final * (1 - np.exp(-xs / (steps / 3))) + rng.normal(0, 0.03, xs.size), 0, 1)
    return {"steps": xs.tolist(), "fitness": ys.round(4).tolist()}


def make_fake_run(workspace: Workspace, *, with_checkpoint: bool = True) -> RunRecord:
    store = workspace.store
    rng = np.random.default_rng(0)
    run = store.create_run(
        "mountaincar", "evolve", {"num_iterations": 2, "num_candidates": 4, "designer": "llm"}
    )
    plan = [
        # iteration, slot, code, parent slot, status, fitness, error
        (0, 0, REWARD_PROGRESS, None, "trained", 0.6, None),
        (0, 1, REWARD_ENERGY, None, "trained", 0.3, None),
        (
            0,
            2,
            REWARD_BROKEN,
            None,
            "failed",
            None,
            ("raised", "ZeroDivisionError: division by zero"),
        ),
        (0, 3, REWARD_SCALAR, None, "trained", 0.1, None),
        (1, 0, REWARD_PROGRESS.replace("10.0 *", "20.0 *"), 0, "trained", 0.9, None),
        (1, 1, REWARD_ENERGY.replace("0.1 *", "0.05 *"), 1, "trained", 0.7, None),
        (1, 2, REWARD_PROGRESS.replace("-0.01", "-0.02"), 0, "stopped_early", 0.2, None),
        (
            1,
            3,
            "def compute_reward(position):\n    return position <",
            0,
            "rejected",
            None,
            ("rejected", "line 2: invalid syntax"),
        ),
    ]
    ids: dict[tuple[int, int], int] = {}
    best_id, best_fit = None, -1.0
    for iteration in (0, 1):
        store.start_iteration(run.id, iteration, feedback=None if iteration == 0 else "reflection")
        for it, slot, code, parent, status, fitness, error in plan:
            if it != iteration:
                continue
            parent_id = ids[(0, parent)] if parent is not None else None
            cand = store.add_candidate(
                run.id, it, slot, code, designer="llm:gpt-4o-mini", parent_id=parent_id
            )
            ids[(it, slot)] = cand.id
            comps = {
                "progress": {
                    "mean": 0.4,
                    "std": 0.1,
                    "min": 0.0,
                    "max": 1.1,
                    "history": rng.uniform(0, 1, 8).round(3).tolist(),
                },
                "effort": [-0.02, -0.015, -0.01, -0.008],
            }
            store.update_candidate(
                cand.id,
                status=status,
                fitness=fitness,
                error_kind=error[0] if error else None,
                error=error[1] if error else None,
                success_rate=fitness,
                details=CandidateDetails(training=TrainingDetails(components=comps))
                if fitness is not None
                else None,
            )
            if fitness is None:
                continue
            for seed in (0, 1):
                ckpt = None
                if with_checkpoint:
                    ckpt = workspace.checkpoint_dir(run.id) / f"candidate_{cand.id}_seed{seed}.zip"
                    ckpt.write_bytes(b"PK fake checkpoint")
                store.record_training(
                    cand.id,
                    seed=seed,
                    budget_steps=8000,
                    fitness=fitness,
                    metrics={"curve": _curve(fitness, rng), "components": comps},
                    checkpoint=ckpt,
                    wall_time_s=12.5,
                )
            if fitness > best_fit:
                best_id, best_fit = cand.id, fitness
        store.finish_iteration(run.id, iteration, best_candidate_id=best_id)
        for _ in range(2):
            store.record_model_call(
                run.id,
                request_hash=f"h{iteration}{_}",
                provider="openai",
                model="gpt-4o-mini",
                prompt_tokens=1800,
                completion_tokens=700,
                cost_usd=0.0007,
                latency_s=4.2,
                iteration=iteration,
            )
    store.record_model_call(
        run.id,
        request_hash="h00",
        provider="openai",
        model="gpt-4o-mini",
        prompt_tokens=1800,
        completion_tokens=700,
        cost_usd=0.0007,
        latency_s=0.0,
        cached=True,
    )
    assert best_id is not None
    store.set_best(run.id, best_id)
    store.record_evaluation(
        run.id, kind="baseline", baseline="env", per_seed=[0.5, 0.7, 0.6], seeds=[0, 1, 2]
    )
    store.record_evaluation(
        run.id, kind="baseline", baseline="sparse", per_seed=[0.0, 0.1, 0.0], seeds=[0, 1, 2]
    )
    store.record_evaluation(
        run.id, kind="final", candidate_id=best_id, per_seed=[0.9, 1.0, 0.8], seeds=[0, 1, 2]
    )
    return store.set_run_status(run.id, "finished", summary={"best_fitness": best_fit})
