"""``rewardforge bench SUITE``: thin over ``rewardforge.bench`` (plan, estimate, run, table).

Also what ``resume``, ``show`` and ``report`` do with a bench run's id."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rewardforge.bench.events import (
    BenchCallback,
    BenchProgress,
    BenchStart,
    CellDone,
    TrainingDone,
)
from rewardforge.cli import checks
from rewardforge.cli.output import console, error_console, plain, print_json
from rewardforge.cli.runs_cmd import add_workspace_argument
from rewardforge.errors import ConfigError
from rewardforge.runs import Workspace


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="run a suite: every task, every method, seeds; the table papers show",
        description="Run a benchmark suite (a built-in one, or a suite file): every method on "
        "every task, each search an ordinary run; writes bench.md, bench.json and bench.html. "
        "A killed bench continues with `rewardforge resume BENCH_ID`.",
    )
    p.add_argument("suite", nargs="?", help="a built-in suite (--list) or a suite file (.yaml)")
    p.add_argument("--list", action="store_true", help="list the built-in suites and exit")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and its estimated time on this machine; run nothing")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="every search's seed (default: 0)")
    p.add_argument("--tasks", metavar="A,B", help="only these tasks of the suite")
    p.add_argument("--methods", metavar="X,Y", help="only these methods of the suite")
    p.add_argument("--seeds", type=int, metavar="N", help="final-evaluation seeds (the suite's)")
    p.add_argument("--budget", metavar="task|STEPS", help="steps per training (the suite's)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where cells run: worker processes here, or a Ray cluster")  # fmt: skip
    p.add_argument("--workers", type=int, metavar="N",
                   help="cells at once (default: the usable cores; ray: the cluster's CPUs)")  # fmt: skip
    p.add_argument("--ray-address", metavar="auto|HOST:PORT", help="Ray cluster to join")
    add_workspace_argument(p)
    p.add_argument("--json", action="store_true", help="print the plan or the table as JSON")
    p.set_defaults(func=run_bench)


def settings_from_args(args: argparse.Namespace) -> Any:
    from rewardforge.bench.plan import BenchSettings
    from rewardforge.bench.suite import load_suite

    checks.count(args.seeds, "--seeds", 100)
    checks.count(args.workers, "--workers", 4096)
    if not args.suite:
        raise ConfigError("give a suite: `rewardforge bench classic` (--list shows the built-in "
                          "ones) or a suite file")  # fmt: skip
    suite, base = load_suite(args.suite)
    suite = suite.subset(_names(args.tasks), _names(args.methods))
    changes: dict[str, Any] = {}
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.budget is not None:
        changes["budget"] = args.budget if args.budget == "task" else _steps(args.budget)
    if changes:
        suite = type(suite).model_validate({**suite.model_dump(), **changes})
    if args.seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {args.seed}")
    if args.ray_address and args.executor != "ray":
        raise ConfigError("--ray-address is for --executor ray; add --executor ray or drop it")
    return BenchSettings(
        suite=suite, seed=args.seed, base_dir=str(base) if base else None,
        executor=args.executor, workers=args.workers, ray_address=args.ray_address,
    )  # fmt: skip


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _steps(text: str) -> int:
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"--budget is `task` or a positive number of steps, got {text!r}")
    return value


def run_bench(args: argparse.Namespace) -> int:
    if args.list:
        return list_suites(args.json)
    settings = settings_from_args(args)
    from rewardforge.bench.runner import Bench

    bench = Bench(settings, Workspace(args.workspace), callbacks=[BenchView()])
    if args.dry_run:
        return dry_run(bench, args.json)
    return _finish(bench.run(), bench, args.json)


def resume_bench(args: argparse.Namespace) -> int:
    from rewardforge.bench.runner import Bench

    bench = Bench.resume(Workspace(args.workspace), args.run, callbacks=[BenchView()])
    return _finish(bench.run(), bench, args.json)


def _finish(results: Any, bench: Any, as_json: bool) -> int:
    from rewardforge.bench.output import markdown

    if as_json:
        print_json(results.to_dict())
        return 0
    console.print(markdown(results), markup=False)
    console.print(f"tables and plots: {bench.folder}/bench.md, bench.json, bench.html",
                  markup=False)  # fmt: skip
    return 0


def list_suites(as_json: bool) -> int:
    from rewardforge.bench.suite import builtin_suites

    suites = builtin_suites()
    if as_json:
        print_json({n: s.model_dump(mode="json") for n, s in suites.items()})
        return 0
    for name, s in suites.items():
        budget = "task budgets" if s.budget == "task" else f"{s.budget:,} steps"
        console.print(f"[bold]{name}[/bold]: {plain(s.description)}")
        console.print(f"  tasks: {', '.join(s.tasks)}", markup=False)
        console.print(f"  methods: {', '.join(s.methods)}; {s.seeds} seeds; {budget}",
                      markup=False)  # fmt: skip
    return 0


def dry_run(bench: Any, as_json: bool) -> int:
    from rewardforge.bench.estimate import estimate
    from rewardforge.bench.output import duration

    def measuring(key: str) -> None:
        error_console.print(f"measuring {key} on this machine ...", markup=False)

    est = estimate(bench.plan, bench.workers, bench.workspace.root, on_measure=measuring)
    rows: list[dict[str, Any]] = [
        {"task": c.cell.task_id, "method": c.cell.method, "kind": c.cell.kind,
         "strategy": c.cell.strategy, "trainer": c.cell.trainer, "trainings": c.cell.trainings,
         "env_steps": c.cell.env_steps, "estimate_s": round(c.seconds, 1)}
        for c in est.cells
    ]  # fmt: skip
    total: dict[str, Any] = {"cells": len(rows), "trainings": sum(r["trainings"] for r in rows),
             "env_steps": sum(r["env_steps"] for r in rows), "workers": est.workers,
             "cpu_s": round(est.cpu_seconds, 1), "estimate_s": round(est.seconds, 1)}  # fmt: skip
    if as_json:
        print_json({"cells": rows, "total": total})
        return 0
    from rich.table import Table

    table = Table(title=f"bench plan: suite {plain(bench.settings.suite.name)}")
    for col in ("task", "method", "kind", "trainer", "trainings", "env steps", "estimate"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        table.add_row(plain(r["task"]), plain(r["method"]), f"{r['kind']} ({r['strategy']})"
                      if r["kind"] == "search" else r["kind"], r["trainer"], str(r["trainings"]),
                      f"{r['env_steps']:,}", duration(r["estimate_s"]))  # fmt: skip
    console.print(table)
    console.print(
        f"{total['cells']} cells, {total['trainings']} trainings, {total['env_steps']:,} "
        f"environment steps; about {duration(est.seconds)} on {est.workers} workers "
        f"({duration(est.cpu_seconds)} of training in all), at the speed measured on this "
        "machine. An upper bound: a search that reaches its success target stops early.",
        markup=False,
    )
    return 0


class BenchView(BenchCallback):
    """A line per finished training and cell; an overall bar with the time left."""

    def __init__(self) -> None:
        self.cells = 0
        self.done = 0
        self.bar: Any = None
        self.last = ""

    def on_bench_start(self, event: BenchStart) -> None:
        self.cells, self.done = len(event.plan.cells), event.done
        verb = "resuming" if event.resumed else "starting"
        estimate = ""
        if event.estimate_s is not None:
            from rewardforge.bench.output import duration

            estimate = f"; about {duration(event.estimate_s)} at this machine's measured speed"
        _line(f"{verb} bench {event.bench_id}: {self.cells} cells ({event.done} done) on "
              f"{event.workers} workers{estimate}")  # fmt: skip
        if console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.fields[text]}"), console=console, transient=True)  # fmt: skip
            self.bar.start()
            self.bar.add_task("bench", total=1.0, text="")

    def on_training(self, event: TrainingDone) -> None:
        fitness = "-" if event.fitness is None else f"{event.fitness:.3f}"
        self._print(f"  {event.task} x {event.method}: candidate #{event.candidate_id} "
                    f"(iteration {event.iteration}, seed {event.seed}) {event.status} at "
                    f"{event.steps:,} steps, fitness {fitness}")  # fmt: skip

    def on_cell_end(self, event: CellDone) -> None:
        self.done += 1
        from rewardforge.bench.output import duration

        self._print(f"[{self.done}/{self.cells}] {event.task} x {event.method}: {event.status}, "
                    f"{event.text} ({duration(event.wall_time_s)})")  # fmt: skip

    def on_progress(self, event: BenchProgress) -> None:
        from rewardforge.bench.output import duration

        left = (
            "estimating the time left"
            if event.eta_s is None
            else f"about {duration(event.eta_s)} left"
        )
        text = f"{100 * event.fraction:.0f}% of the work, {event.cells_done}/{event.cells} cells, {left}"
        if self.bar is not None:
            self.bar.update(0, completed=event.fraction, text=text)
        elif text != self.last and event.cells_done != getattr(self, "_cells_seen", -1):
            self._cells_seen = event.cells_done
            _line(f"  {text}")
        self.last = text

    def on_bench_end(self, results: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, markup=False)
        else:
            _line(text)


def _line(text: str) -> None:
    error_console.print(text, markup=False)
    sys.stderr.flush()
