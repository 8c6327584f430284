"""A bench run built by hand in a store (no training): two tasks, env, sparse and a search."""

from __future__ import annotations

from rewardforge.bench.plan import BenchSettings
from rewardforge.bench.suite import BenchSuite
from rewardforge.runs import Workspace
from rewardforge.runs.details import CandidateDetails, CheckDetails

GOOD = "def compute_reward(angle):\n    return -abs(angle), {}\n"


def evaluation(store, run_id, per_seed, **details):
    policy = {"policy": "deterministic",
              "by_policy": {"deterministic": {"per_seed": per_seed},
                            "sampled": {"per_seed": [v / 2 for v in per_seed]}}}  # fmt: skip
    return {**policy, **details}


def search_run(store, task, final, *, checks):
    """A finished search: candidates per slot with their checks (attempts), one iteration."""
    run = store.create_run(task, "evolve", {})
    store.start_iteration(run.id, 0)
    best = None
    for slot, attempts in enumerate(checks):
        for attempt, passed in enumerate(attempts):
            c = store.add_candidate(run.id, 0, slot, GOOD + f"# {slot}.{attempt}\n",
                                    designer="offline", attempt=attempt)  # fmt: skip
            store.update_candidate(
                c.id, status="trained" if passed else "rejected", fitness=0.5 if passed else None,
                details=CandidateDetails(check=CheckDetails(passed=passed)),
            )  # fmt: skip
            best = c.id if passed else best
    store.finish_iteration(run.id, 0, best_candidate_id=best, details={"env_steps": 6000})
    store.set_best(run.id, best)
    store.record_evaluation(run.id, kind="final", candidate_id=best, per_seed=final,
                            seeds=[1000, 1001], details=evaluation(store, run.id, final, num_steps=2000))  # fmt: skip
    store.set_run_status(run.id, "finished")
    return run.id


def make_bench(tmp_path):
    ws = Workspace(tmp_path / "ws")
    store = ws.store
    suite = BenchSuite(
        name="two", tasks=("pendulum", "mountaincar"), seeds=2,
        methods={"env": {"baseline": "env"}, "sparse": {"baseline": "sparse"},
                 "search": {"strategy": "evolve", "samples": 2}},
    )  # fmt: skip
    bench = store.create_run("two", "bench", BenchSettings(suite=suite).model_dump(mode="json"))
    values = {("pendulum", "env"): [1.0, 0.8], ("pendulum", "sparse"): [0.2, 0.2],
              ("mountaincar", "env"): [0.0, 0.0], ("mountaincar", "sparse"): [0.0, 0.0]}  # fmt: skip
    for (task, method), per_seed in values.items():
        store.record_evaluation(
            bench.id, kind="baseline", baseline=method, per_seed=per_seed, seeds=[1000, 1001],
            details=evaluation(store, bench.id, per_seed, task=task, method=method, env_steps=4000),
        )  # fmt: skip
    # pendulum: slot 0 failed its checks once and was repaired, slot 1 passed at once
    pendulum = search_run(store, "pendulum", [0.9, 0.7], checks=[[False, True], [True]])
    mountaincar = search_run(store, "mountaincar", [0.5, 0.3], checks=[[True], [True]])
    cells = {
        "pendulum|search": {"status": "done", "run_id": pendulum, "wall_time_s": 30.0},
        "mountaincar|search": {"status": "done", "run_id": mountaincar, "wall_time_s": 20.0},
        **{f"{t}|{m}": {"status": "done", "wall_time_s": 5.0} for t, m in values},
    }
    store.update_run_summary(bench.id, {"cells": cells})
    return ws, bench.id
