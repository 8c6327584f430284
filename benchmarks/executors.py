"""Executor overhead: the same small search through ``LocalExecutor`` and ``RayExecutor``.

Both run the same evolve search (same task, candidates, seeds and budgets) with the same number
of workers on this machine, so they train the same groups and must give the same results; only
the executor differs. Ray runs on a cluster started once on 127.0.0.1 before the runs (its
start-up is reported on its own: a cluster outlives the searches sent to it). The runs
alternate (local, ray, local, ray, ...) so that load from other processes on a shared machine
falls on both; the ratio is ray's median wall time over local's. Target (issue 9): at most 1.15.

    .venv/bin/python benchmarks/executors.py                   # table, results/executors.md
    .venv/bin/python benchmarks/executors.py --quick           # tiny budget: checks the script
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# a local Ray cluster binds the machine's routable address unless told to keep to loopback
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from rewardforge.runs import Workspace  # noqa: E402
from rewardforge.search.options import build_config  # noqa: E402
from rewardforge.search.runner import Search  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def run_search(executor: str, args: argparse.Namespace) -> dict[str, Any]:
    config = build_config(
        args.task,
        values=dict(
            samples=args.samples,
            iterations=args.iterations,
            steps=args.steps,
            seed=args.seed,
            success_target=1.0,  # run every iteration
            final_seeds=0,
            executor=executor,
            workers=args.workers,
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        search = Search(config, Workspace(tmp))
        summary = search.run().to_dict()
        wall = time.perf_counter() - start
        outcomes = sorted(
            (c.iteration, c.slot, c.status, c.fitness)
            for c in search.workspace.store.list_candidates(summary["run_id"])
        )
        search.workspace.close()
    return {
        "executor": executor,
        "wall_s": wall,
        "outcomes": outcomes,
        "env_steps": summary["env_steps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mountaincar")
    parser.add_argument("--samples", type=int, default=4, help="candidates per iteration (K)")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4000, help="training budget per candidate")
    parser.add_argument("--workers", type=int, default=2, help="trainings at once (both)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each executor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny budget, one repeat")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.steps, args.repeats = 1, 800, 1
    logging.basicConfig(level=logging.WARNING)

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_startup = time.perf_counter() - start
    rows = []
    try:
        for r in range(args.repeats):
            for executor in ("local", "ray"):
                row = run_search(executor, args)
                row["repeat"] = r
                rows.append(row)
                print(f"{executor:5s} run {r}: {row['wall_s']:.1f} s", file=sys.stderr)
    finally:
        ray.shutdown()
    write(rows, ray_startup, args)


def write(rows: list[dict[str, Any]], ray_startup: float, args: argparse.Namespace) -> None:
    local = [r["wall_s"] for r in rows if r["executor"] == "local"]
    remote = [r["wall_s"] for r in rows if r["executor"] == "ray"]
    ratio = statistics.median(remote) / statistics.median(local)
    same = all(r["outcomes"] == rows[0]["outcomes"] for r in rows)
    argv = sys.argv[1:]
    if "--out" in argv:  # where the JSON went is no part of the measurement
        del argv[argv.index("--out") : argv.index("--out") + 2]
    command = "    .venv/bin/python benchmarks/executors.py " + shlex.join(argv)
    cold = remote[0] / local[0]
    lines = [
        "# Executor overhead: LocalExecutor vs RayExecutor on one machine",
        "",
        f"The same evolve search ({args.task}, K={args.samples}, {args.iterations} iterations, "
        f"{args.steps:,} steps per candidate, the task's trainer, {args.workers} workers: "
        f"{args.workers} groups per iteration) through each executor, runs alternating. "
        "Written by `benchmarks/executors.py`:",
        "",
        command.rstrip(),
        "",
        "| executor | runs | wall s (each) | median s |",
        "|---|---|---|---|",
        f"| local (spawned processes) | {len(local)} | {', '.join(f'{w:.1f}' for w in local)} "
        f"| {statistics.median(local):.1f} |",
        f"| ray (cluster on 127.0.0.1) | {len(remote)} | "
        f"{', '.join(f'{w:.1f}' for w in remote)} | {statistics.median(remote):.1f} |",
        "",
        f"Overhead ratio ray / local (medians): **{ratio:.2f}x** (target at most 1.15x). "
        f"Ray cluster start-up, once before the runs: {ray_startup:.1f} s. "
        f"Same candidates, statuses and fitness in every run: {'yes' if same else 'NO'}.",
        "",
        f"First runs (both cold: fresh worker processes import torch and the trainers): "
        f"{remote[0]:.1f} / {local[0]:.1f} s = {cold:.2f}x. Later Ray runs reuse the cluster's "
        "worker processes, already warm; LocalExecutor starts its workers for each search.",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs shared with other users' "
        f"processes while it ran, Python {platform.python_version()}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "executors.md").write_text(text)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "ray_startup_s": ray_startup}, indent=2))


if __name__ == "__main__":
    main()
