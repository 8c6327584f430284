"""``--strategy preference`` (scripted teacher) beside the ``env`` baseline at the same budget.

Each task runs one real search (``Search`` with ``strategy="preference"``): SAC trains on a
reward model learned from the scripted teacher's labels (PEBBLE's schedule), then the
environment's own reward is trained with the same trainer, seeds and budget. The table gives the
fitness (the task's success rate) and the mean environment return of both, mean ± std over
seeds, and writes ``benchmarks/results/preference.{md,json}``.

    .venv/bin/python benchmarks/preference.py                         # the committed table
    .venv/bin/python benchmarks/preference.py --tasks pendulum --seeds 3
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rewardforge.runs import Workspace
from rewardforge.search.options import build_config
from rewardforge.search.runner import Search

RESULTS = Path(__file__).parent / "results"

#: Budgets that fit about 20 minutes in all on a shared 2-core machine.
PLANS: dict[str, dict[str, Any]] = {
    "pendulum": dict(num_steps=10_000, unsupervised_steps=1_000, update_every=1_000,
                     pairs_per_update=50, label_budget=500),
    "reacher": dict(num_steps=20_000, unsupervised_steps=2_000, update_every=2_000,
                    pairs_per_update=100, label_budget=1_000),
    "button-press": dict(num_steps=20_000, unsupervised_steps=4_000, update_every=4_000,
                         pairs_per_update=100, label_budget=500),
}  # fmt: skip


def run_task(task: str, plan: dict[str, Any], seeds: int, workspace: Path) -> dict[str, Any]:
    values = {("steps" if k == "num_steps" else k): v for k, v in plan.items()}
    config = build_config(
        task, values=dict(strategy="preference", teacher="scripted", seeds=seeds, **values)
    )
    start = time.perf_counter()
    search = Search(config, Workspace(workspace))
    summary = search.run().to_dict()
    wall = time.perf_counter() - start
    evaluations = {
        e.baseline or "preference": e
        for e in search.workspace.store.list_evaluations(summary["run_id"])
    }
    row: dict[str, Any] = {"task": task, "seeds": seeds, **plan, "wall_s": round(wall, 1)}
    for name in ("preference", "env"):
        e = evaluations[name]
        returns = e.details.get("mean_returns", [])
        row[name] = {
            "fitness": e.per_seed,
            "fitness_mean": e.mean,
            "fitness_std": e.std,
            "return_mean": statistics.fmean(returns) if returns else None,
            "return_std": statistics.pstdev(returns) if len(returns) > 1 else 0.0,
        }
    row["labels"] = summary["preference"]["labels"]
    row["fitness_per_update"] = summary["preference"]["fitness_per_update"]
    return row


def _cell(arm: dict[str, Any], key: str, digits: int) -> str:
    mean, std = arm[f"{key}_mean"], arm[f"{key}_std"]
    return "-" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def write(rows: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "preference.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# Preference feedback (scripted teacher) vs the env baseline",
        "",
        "`--strategy preference` with the scripted teacher (B-Pref's rational teacher; utility: the",
        "environment's reward, as in PEBBLE) beside SAC on the environment's reward, same trainer,",
        "seeds and budget. Fitness is the task's success rate over its evaluation episodes; return",
        "is the mean environment return of those episodes. Mean ± std over seeds. Written by",
        "`benchmarks/preference.py`.",
        "",
        "| task | steps | seeds | labels | preference fitness | env fitness | preference return "
        "| env return | fitness after each update | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        curve = ", ".join("-" if f is None else f"{f:.2f}" for f in r["fitness_per_update"])
        lines.append(
            f"| {r['task']} | {r['num_steps']} | {r['seeds']} | {r['labels']} "
            f"| {_cell(r['preference'], 'fitness', 2)} | {_cell(r['env'], 'fitness', 2)} "
            f"| {_cell(r['preference'], 'return', 1)} | {_cell(r['env'], 'return', 1)} "
            f"| {curve} | {r['wall_s']} |"
        )
    lines += ["", f"Machine: {platform.platform()}, Python {platform.python_version()}.", ""]
    (RESULTS / "preference.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(PLANS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, help="override every task's budget")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rewardforge-preference-") as tmp:
        for task in args.tasks:
            plan = dict(PLANS.get(task, PLANS["pendulum"]))
            if args.steps:
                plan["num_steps"] = args.steps
            row = run_task(task, plan, args.seeds, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
            write(rows)  # after each task, so a late failure keeps the earlier rows
    return 0


if __name__ == "__main__":
    sys.exit(main())
