"""The offline designer's iteration-0 templates, each trained alone: fitness along training.

For a task, every chosen template (by the start of its note, e.g. ``"pump energy"`` or
``"staged"``) and every reward file given is trained with the task's trainer, one member per
seed in one population, and evaluated at each checkpoint (``--checkpoints``, environment steps
per member). A policy that succeeds at one checkpoint and fails at a later one has unlearned.

    python benchmarks/offline_templates.py --task mountaincar --templates "pump energy" \\
        --seeds 0 1 2 --checkpoints 10000 20000 30000
    python benchmarks/offline_templates.py --task point-reach --templates staged,remaining \\
        --reward env --checkpoints 50000 100000

Writes ``benchmarks/results/offline_templates_<task>.{md,json}`` (``--out`` to change)."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rewardforge.designers.offline import OfflineDesigner
from rewardforge.designers.render import render
from rewardforge.rewards import RewardSandbox
from rewardforge.rewards.loader import load_reward
from rewardforge.rl import make_trainer
from rewardforge.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", default="mountaincar")
    p.add_argument("--templates", default="", help="comma-separated starts of template notes")
    p.add_argument("--reward", action="append", default=[], help="env, sparse or a .py file")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--checkpoints", type=int, nargs="+", default=None, help="default: budget")
    p.add_argument("--trainer", default=None, help="default: the task's")
    p.add_argument("--designer-seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def rewards_to_train(args: argparse.Namespace, task: Any, folder: Path) -> dict[str, str]:
    """name -> reward spec (a baseline or a file written to ``folder``)."""
    out = {spec: spec for spec in args.reward}
    wanted = [w.strip() for w in args.templates.split(",") if w.strip()]
    if wanted:
        designer = OfflineDesigner(task, seed=args.designer_seed)
        for genome, note in designer.templates():
            if any(note.startswith(w) for w in wanted):
                path = folder / f"template_{len(out)}.py"
                path.write_text(render(genome, designer.lib, note))
                out[note] = str(path)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    task = get_task(args.task)
    checkpoints = sorted(args.checkpoints or [task.budget.num_steps])
    trainer_name = args.trainer or task.budget.trainer
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, RewardSandbox() as sandbox:
        specs = rewards_to_train(args, task, Path(tmp))
        for name, spec in specs.items():
            reward = load_reward(spec, task, sandbox)
            code = Path(spec).read_text() if Path(spec).is_file() else spec
            pop = make_trainer(trainer_name, task).start([reward], seeds=args.seeds)
            done, row = 0, {"reward": name, "code": code, "checkpoints": {}}
            start = time.perf_counter()
            for point in checkpoints:
                pop.train_more(point - done)
                done = point
                evals = pop.evaluate()
                row["checkpoints"][point] = [round(e.success_rate, 3) for e in evals]
                print(f"{name} @ {point}: {row['checkpoints'][point]}", flush=True)
            row["wall_s"] = round(time.perf_counter() - start, 1)
            rows.append(row)
    write(args, task.id, trainer_name, checkpoints, rows, argv)
    return 0


def write(
    args: argparse.Namespace,
    task_id: str,
    trainer: str,
    checkpoints: list[int],
    rows: list[dict[str, Any]],
    argv: list[str] | None,
) -> None:
    out = args.out or RESULTS / f"offline_templates_{task_id}"
    command = "python benchmarks/offline_templates.py " + shlex.join(argv or sys.argv[1:])
    meta = {"task": task_id, "trainer": trainer, "seeds": args.seeds, "command": command}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    head = " | ".join(f"{c:,} steps" for c in checkpoints)
    lines = [
        f"# Offline templates on {task_id} ({trainer}, seeds {args.seeds})",
        "",
        f"`{command}`",
        "",
        "Success rate of each seed's policy at each checkpoint (deterministic evaluation).",
        "",
        f"| reward | {head} | unlearned | wall s |",
        "|---|" + "---|" * len(checkpoints) + "---|---|",
    ]
    for row in rows:
        series = [row["checkpoints"][c] for c in checkpoints]
        cells = [" / ".join(f"{x:.1f}" for x in s) for s in series]
        unlearned = sum(
            1
            for k in range(len(args.seeds))
            if any(s[k] > 0 for s in series[:-1]) and series[-1][k] == 0
        )
        lines.append(f"| {row['reward']} | {' | '.join(cells)} | {unlearned} | {row['wall_s']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
