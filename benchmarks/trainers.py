"""A population trained as one batched model vs the same trainings one after the other in SB3:
wall clock, steps/s, peak memory and final fitness.

Same task, same reward (the environment's), same environment-step budget per member: K members
(one reward x K seeds) as one batched built-in SAC vs K sequential SB3 SAC runs. Each
measurement runs in its own process (peak RSS is that process's). SB3 runs are slow, so by
default only ``--sb3-runs`` of the K runs are executed and their time is scaled to K (the runs
are independent and identical in cost); pass ``--sb3-runs K`` for all of them. The speed that
counts for one training is its time to solve: ``benchmarks/time_to_solve.py``.

    .venv/bin/python benchmarks/trainers.py                         # pendulum and mountaincar
    .venv/bin/python benchmarks/trainers.py --tasks pendulum --steps 5000 --k 4   # quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def worker(spec: dict) -> dict:
    import torch

    from rewardforge.rewards.base import EnvReward
    from rewardforge.rl import make_trainer
    from rewardforge.tasks import get_task

    torch.set_num_threads(1)
    task = get_task(spec["task"])
    trainer = make_trainer(spec["trainer"], task)
    start = time.perf_counter()
    results = trainer.train([EnvReward()], spec["seeds"], spec["steps"])
    total = time.perf_counter() - start
    return {
        "train_s": results[0].wall_time,
        "total_s": total,
        "returns": [r.fitness.mean_return for r in results],
        "fitness": [r.fitness.fitness for r in results],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(task: str, trainer: str, seeds: list[int], steps: int) -> dict:
    spec = json.dumps({"task": task, "trainer": trainer, "seeds": seeds, "steps": steps})
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", spec], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"{trainer} on {task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_fit(values: list[float]) -> str:
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def bench_task(task_id: str, k: int, sb3_runs: int, steps: int | None) -> list[dict]:
    from rewardforge.tasks import get_task

    steps = steps or get_task(task_id).num_steps
    pop = run(task_id, "sac", list(range(k)), steps)
    sb3 = [run(task_id, "sb3:SAC", [s], steps) for s in range(min(sb3_runs, k))]
    return [row(task_id, f"population K={k}", steps, k, pop, sb3, k)]


def row(
    task: str, case: str, steps: int, k: int, ours: dict, sb3: list[dict], scale_to: int
) -> dict:
    sb3_s = statistics.fmean(r["train_s"] for r in sb3) * scale_to
    sb3_returns = [x for r in sb3 for x in r["returns"]]
    return {
        "task": task,
        "case": case,
        "steps_per_member": steps,
        "ours_s": ours["train_s"],
        "sb3_s": sb3_s,
        "speedup": sb3_s / ours["train_s"],
        "ours_steps_per_s": steps * k / ours["train_s"],
        "sb3_steps_per_s": steps * scale_to / sb3_s,
        "ours_peak_mb": ours["peak_rss_mb"],
        "sb3_peak_mb": max(r["peak_rss_mb"] for r in sb3),
        "ours_return": fmt_fit(ours["returns"]),
        "sb3_return": fmt_fit(sb3_returns),
        "ours_fitness": statistics.fmean(ours["fitness"]),
        "sb3_fitness": statistics.fmean(x for r in sb3 for x in r["fitness"]),
        "sb3_runs_measured": len(sb3),
    }


def print_table(rows: list[dict]) -> None:
    head = (
        "| task | case | steps/member | built-in s | SB3 s | speedup | steps/s built-in | "
        "steps/s SB3 | peak MB built-in | peak MB SB3 | return built-in | return SB3 | "
        "success built-in | success SB3 |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        note = (
            ""
            if r["sb3_runs_measured"] >= (16 if "K=" in r["case"] else 1)
            else f" ({r['sb3_runs_measured']} run(s) x scaled)"
        )
        print(
            f"| {r['task']} | {r['case']} | {r['steps_per_member']} | {r['ours_s']:.0f} | "
            f"{r['sb3_s']:.0f}{note} | {r['speedup']:.1f}x | {r['ours_steps_per_s']:.0f} | "
            f"{r['sb3_steps_per_s']:.0f} | {r['ours_peak_mb']:.0f} | {r['sb3_peak_mb']:.0f} | "
            f"{r['ours_return']} | {r['sb3_return']} | {r['ours_fitness']:.2f} | {r['sb3_fitness']:.2f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--tasks", nargs="+", default=["pendulum", "mountaincar"])
    p.add_argument("--k", type=int, default=16, help="population size (default 16)")
    p.add_argument("--sb3-runs", type=int, default=2, help="SB3 runs actually executed")
    p.add_argument("--steps", type=int, help="steps per member (default: each task's budget)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    rows = [r for t in args.tasks for r in bench_task(t, args.k, args.sb3_runs, args.steps)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
