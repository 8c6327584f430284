"""``rewardforge check TASK REWARD_FILE``: lint a reward and run it on sample states."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from rewardforge.cli import checks
from rewardforge.cli.output import console, error_console, plain, print_json
from rewardforge.errors import RewardError
from rewardforge.rewards.loader import read_reward_source
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox
from rewardforge.rewards.smoke import MAX_SMOKE_STATES, SmokeReport, smoke_test
from rewardforge.tasks import get_task


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="lint a reward file and evaluate it on states from random rollouts"
    )
    p.add_argument("task", help="task id or path to a task file")
    p.add_argument("reward_file", help="a .py file, or a model's answer containing the code")
    p.add_argument("--num-states", type=int, default=256, help="states to evaluate on")
    p.add_argument("--seed", type=int, default=0, help="seed of the random rollouts")
    p.add_argument("--deadline", type=float, default=2.0, help="seconds allowed per evaluation")
    p.add_argument("--sandbox", choices=("default", "strict"), default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_check)


def _failure(task_id: str, error: RewardError) -> dict[str, Any]:
    return {
        "ok": False,
        "verdict": f"FAILED ({error.kind}): {error}",
        "task": task_id,
        "error": {"kind": error.kind, "type": type(error).__name__, "message": str(error)},
    }


#: The longest --deadline accepted (a reward runs at every training step).
MAX_DEADLINE_S = 600.0


def run_check(args: argparse.Namespace) -> int:
    checks.count(args.num_states, "--num-states", MAX_SMOKE_STATES)
    checks.seconds(args.deadline, "--deadline", MAX_DEADLINE_S)
    task = get_task(args.task)
    try:
        program = RewardProgram.from_source(read_reward_source(args.reward_file), task)
        with RewardSandbox(mode=args.sandbox, deadline_s=args.deadline) as sandbox:
            report = smoke_test(program, task, args.num_states, sandbox, seed=args.seed)
    except RewardError as error:
        if not args.json:
            raise
        print_json(_failure(task.id, error))
        return 1
    if args.json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    return 0 if report.ok else 1


def _print_report(report: SmokeReport) -> None:
    console.print(
        f"task [bold]{plain(report.task_id)}[/bold], program {report.program_hash[:12]}, reads "
        f"{plain(', '.join(report.params))}; {report.num_states} states from random rollouts"
    )
    if report.error is not None:
        error_console.print(f"error: {report.verdict}", markup=False, highlight=False)
        return
    table = Table(title="reward components")
    for col in ("component", "mean", "std", "min", "max"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for s in report.stats:
        table.add_row(
            plain(s.name), f"{s.mean:.4g}", f"{s.std:.4g}", f"{s.min:.4g}", f"{s.max:.4g}"
        )
    console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {plain(warning)}")
    console.print(f"verdict: [bold]{plain(report.verdict)}[/bold] ({report.seconds * 1000:.0f} ms)")
