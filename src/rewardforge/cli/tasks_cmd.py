"""``rewardforge tasks`` and ``rewardforge task show ID``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.syntax import Syntax
from rich.table import Table

from rewardforge.cli.output import console, plain, print_json
from rewardforge.tasks import Task, get_task, list_tasks
from rewardforge.tasks.roles import variable_roles


def register(sub: Any) -> None:
    p = sub.add_parser("tasks", help="list the registered tasks")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_tasks)

    t = sub.add_parser("task", help="inspect one task")
    tsub = t.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    show = tsub.add_parser(
        "show", help="show a task's description, variables and success criterion"
    )
    show.add_argument("task", help="task id or path to a task file")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)


BUILTIN_ORIGIN = "builtin/"


def task_file_note(path: str) -> str:
    return (
        f"{path} is code, like a setup.py: its variable sources, success code and environment "
        "entry point run in this process, unsandboxed, when the task is checked, trained or "
        "searched (only reward code runs in the sandbox). Read a task file from elsewhere before "
        "you use it."
    )


def task_summary(task: Task) -> dict[str, Any]:
    roles = variable_roles(task)
    return {
        "id": task.id,
        "env": task.env.name,
        "fitness": task.fitness.kind,
        "description": task.description,
        "max_episode_steps": task.max_episode_steps,
        "variables": [
            {
                "name": v.name,
                "shape": list(v.shape),
                "dtype": v.dtype,
                "unit": v.unit,
                "role": roles[v.name],
                "role_declared": v.role is not None,
                "description": v.description,
            }
            for v in task.variables
        ],
        "success": {
            "code": task.success.code,
            "aggregate": task.success.aggregate,
            "rule": task.success.describe(),
        },
        "baselines": ["env", "sparse"],
        "budget": {
            "trainer": task.budget.trainer,
            "num_steps": task.budget.num_steps,
            "num_envs": task.budget.num_envs,
        },
    }


def run_tasks(args: argparse.Namespace) -> int:
    tasks = list_tasks()
    if args.json:
        print_json([task_summary(t) for t in tasks])
        return 0
    table = Table(title="tasks")
    rows = [
        (plain(t.id), plain(_env_label(t)), t.fitness.kind, plain(t.description)) for t in tasks
    ]
    for i, col in enumerate(("id", "environment", "fitness")):
        width = max([len(col)] + [len(r[i]) for r in rows])
        table.add_column(col, no_wrap=True, min_width=width)
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=60)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return 0


def _env_label(task: Task) -> str:
    """The Gymnasium id, or for an entry point its module and the env it names."""
    if task.env.id:
        return task.env.id
    module = str(task.env.entry_point).split(":", 1)[0].rsplit(".", 1)[-1]
    name = task.env.kwargs.get("env_name")
    return f"{module}:{name}" if name else module


def run_show(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    if args.json:
        print_json(task_summary(task))
        return 0
    console.print(
        f"[bold]{plain(task.id)}[/bold]  ({plain(task.env.name)}, {task.max_episode_steps} steps "
        "per episode)"
    )
    console.print(task.description, markup=False)
    if task.source_file and not task.source_file.startswith(BUILTIN_ORIGIN):
        console.print(f"[yellow]note:[/yellow] {plain(task_file_note(task.source_file))}")
    table = Table(title="variables (B = number of environments)")
    for col in ("name", "shape", "dtype", "unit", "role", "description"):
        table.add_column(col, overflow="fold")
    roles = variable_roles(task)
    for v in task.variables:
        role = roles[v.name] if v.role else f"{roles[v.name]} (inferred)"
        cells = (v.name, v.shape_text, v.dtype, v.unit, role, v.description)
        table.add_row(*(plain(x) for x in cells))
    console.print(table)
    console.print(f"[bold]success[/bold]: {plain(task.success.describe())}")
    console.print(Syntax(task.success.code.rstrip(), "python", theme="ansi_dark"))
    console.print(
        f"[bold]fitness[/bold]: {task.fitness.kind} over {task.fitness.num_episodes} episodes"
    )
    console.print(
        "[bold]baselines[/bold]: env (the environment's own reward), sparse (1 on success, else 0)"
    )
    console.print(
        f"[bold]budget[/bold]: {task.budget.num_steps} steps with {plain(task.budget.trainer)}, "
        f"{task.budget.num_envs} environments"
    )
    return 0
