"""Reference fitness of the two baseline rewards on every task: the human-normalized score's anchors.

For each task, trains the ``env`` reward (the environment's own, human-designed reward) and the
``sparse`` reward (1 on a step where the success criterion holds) for several seeds, with the
task's trainer and hyperparameters, evaluates each policy on the task's fitness, and writes the
table to ``benchmarks/results/baselines.{json,md}``. A designed reward's human-normalized score is
then ``(fitness - sparse) / (env - sparse)``.

The budget is the task's documented one (``budget.num_steps`` in its task file) unless
``--num-steps`` or ``--budget-fraction`` says otherwise; the table records the budget used.

    python benchmarks/baselines.py --tasks point-reach reacher --seeds 0 1 2 --num-steps 50000
    python benchmarks/baselines.py --tags manip2d --budget-fraction 0.1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from rewardforge.rewards import get_baseline
from rewardforge.rl import make_trainer
from rewardforge.tasks import list_tasks
from rewardforge.tasks.spec import Task

RESULTS = Path(__file__).resolve().parent / "results"
BASELINES = ("env", "sparse")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="*", default=None, help="task ids (default: every task)")
    p.add_argument("--tags", nargs="*", default=None, help="only tasks with one of these tags")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--num-steps", type=int, default=None, help="environment steps per policy")
    p.add_argument(
        "--budget-fraction", type=float, default=1.0, help="fraction of each task's budget"
    )
    p.add_argument("--trainer", default=None, help="trainer (default: the task's own)")
    p.add_argument("--num-eval-episodes", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS / "baselines")
    return p.parse_args(argv)


def select_tasks(ids: list[str] | None, tags: list[str] | None) -> list[Task]:
    tasks = list_tasks()
    if ids:
        by_id = {t.id: t for t in tasks}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise SystemExit(f"unknown task(s): {', '.join(missing)}")
        tasks = [by_id[i] for i in ids]
    if tags:
        tasks = [t for t in tasks if set(t.tags) & set(tags)]
    return tasks


def run_task(task: Task, args: argparse.Namespace) -> dict[str, Any]:
    """Trains both baselines x seeds as one population; fitness per baseline over seeds."""
    trainer_name = args.trainer or task.budget.trainer
    num_steps = args.num_steps or max(1, int(task.budget.num_steps * args.budget_fraction))
    trainer = make_trainer(trainer_name, task, device=args.device, num_threads=args.num_threads)
    rewards = [get_baseline(name) for name in BASELINES for _ in args.seeds]
    seeds = [s for _ in BASELINES for s in args.seeds]
    start = time.perf_counter()
    results = trainer.train(
        rewards, seeds, num_steps=num_steps, num_eval_episodes=args.num_eval_episodes
    )
    row: dict[str, Any] = {
        "task": task.id,
        "fitness_kind": task.fitness.kind,
        "trainer": trainer_name,
        "num_steps": num_steps,
        "task_budget": task.budget.num_steps,
        "seeds": list(args.seeds),
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    for name in BASELINES:
        members = [r for r in results if r.reward_name == name]
        fits = [r.fitness.fitness for r in members if r.fitness is not None]
        rates = [r.fitness.success_rate for r in members if r.fitness is not None]
        row[name] = {
            "fitness_mean": statistics.fmean(fits) if fits else None,
            "fitness_std": statistics.pstdev(fits) if len(fits) > 1 else 0.0,
            "fitness_per_seed": fits,
            "success_rate_mean": statistics.fmean(rates) if rates else None,
            "errors": [r.error for r in members if r.error],
        }
    return row


def _fmt(cell: dict[str, Any]) -> str:
    mean = cell["fitness_mean"]
    return "error" if mean is None else f"{mean:.3f} ± {cell['fitness_std']:.3f}"


def write_table(rows: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "python": platform.python_version()}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Baseline fitness per task",
        "",
        "Fitness of the `env` (human) and `sparse` rewards; mean ± std over seeds. Written by",
        "`benchmarks/baselines.py`; budgets are environment steps per policy.",
        "",
        "| task | fitness | trainer | steps (task budget) | seeds | env | sparse | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['fitness_kind']} | {r['trainer']} | {r['num_steps']} "
            f"({r['task_budget']}) | {len(r['seeds'])} | {_fmt(r['env'])} | {_fmt(r['sparse'])} "
            f"| {r['wall_time_s']} |"
        )
    lines += ["", f"Machine: {meta['machine']}, Python {meta['python']}.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = []
    previous = args.out.with_suffix(".json")
    if previous.exists():  # keep rows of tasks not rerun now
        rows = [r for r in json.loads(previous.read_text())["rows"]]
    for task in select_tasks(args.tasks, args.tags):
        print(f"{task.id}: training {len(BASELINES) * len(args.seeds)} policies ...", flush=True)
        row = run_task(task, args)
        rows = [r for r in rows if r["task"] != task.id] + [row]
        print(f"  env {_fmt(row['env'])}  sparse {_fmt(row['sparse'])}  ({row['wall_time_s']} s)")
        write_table(sorted(rows, key=lambda r: r["task"]), args.out)


if __name__ == "__main__":
    main()
