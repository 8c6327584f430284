"""``rewardforge runs``, ``show RUN``, ``report RUN`` and ``export RUN``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.table import Table

from rewardforge.bench import BENCH_STRATEGY as BENCH
from rewardforge.cli.output import console, plain, print_json
from rewardforge.errors import ConfigError, RunNotFoundError
from rewardforge.runs import HOME_ENV, Workspace
from rewardforge.runs.summary import effective_status, run_summary
from rewardforge.runs.workspace import writable_dir


def add_workspace_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=None,
        help=f"where runs are stored (default: ${HOME_ENV}, else ./runs)",
    )


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list the runs in a workspace")
    add_workspace_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_runs)

    p = sub.add_parser("show", help="show a run: iterations, candidates, the best reward, cost")
    p.add_argument("run", help="run id (or a unique prefix of one)")
    add_workspace_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_show)

    p = sub.add_parser("report", help="write a self-contained HTML report of a run")
    p.add_argument("run", help="run id (or a unique prefix of one)")
    add_workspace_argument(p)
    p.add_argument(
        "--out", metavar="FILE", help="where to write it (default: <run dir>/report.html)"
    )
    p.add_argument(
        "--gif",
        metavar="FILE",
        help="animation to embed (default: <run dir>/best.gif, rendered from the best "
        "policy's checkpoint when missing)",
    )
    p.add_argument("--no-animation", action="store_true", help="do not render a missing animation")
    p.set_defaults(func=run_report)

    p = sub.add_parser(
        "export", help="export the best reward (no rewardforge import), its policy and a usage note"
    )
    p.add_argument("run", help="run id (or a unique prefix of one)")
    add_workspace_argument(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: <run dir>/export)")
    p.add_argument("--candidate", type=int, help="export this candidate id instead of the best")
    p.set_defaults(func=run_export)


def open_workspace(args: argparse.Namespace, run: str | None = None) -> Workspace | None:
    """The workspace, or None when it holds no store yet (reading commands create nothing)."""
    workspace = Workspace(args.workspace)
    if workspace.exists:
        return workspace
    if run is not None:
        raise RunNotFoundError(
            f"no run {run!r}: there is no workspace at {workspace.root}. Pass --workspace DIR "
            f"or set {HOME_ENV} to where the search stored its runs."
        )
    return None


def _show_bench(workspace: Workspace, run_id: str, as_json: bool) -> int:
    from rewardforge.bench.output import markdown
    from rewardforge.bench.results import read_results

    results = read_results(workspace.store, run_id)
    if as_json:
        print_json(results.to_dict())
    else:
        console.print(markdown(results), markup=False)
    return 0


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def run_runs(args: argparse.Namespace) -> int:
    workspace = open_workspace(args)
    runs = workspace.store.list_runs() if workspace else []
    rows: list[dict[str, Any]] = []
    for run in runs:
        cands = workspace.store.list_candidates(run.id) if workspace else []
        fitness = [c.fitness for c in cands if c.fitness is not None]
        usage = workspace.store.model_usage(run.id) if workspace else None
        rows.append(
            {
                "id": run.id,
                "task": run.task_id,
                "strategy": run.strategy,
                "status": effective_status(run),
                "created_at": run.created_at,
                "iterations": len({c.iteration for c in cands}),
                "candidates": len(cands),
                "best_fitness": max(fitness) if fitness else None,
                "cost_usd": usage.cost_usd if usage else 0.0,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        where = workspace.root if workspace else Workspace(args.workspace).root
        console.print(f"no runs in workspace {plain(where)}")
        return 0
    table = Table(title=f"runs in {plain(workspace.root) if workspace else ''}")
    cells = [
        (
            plain(r["id"]),
            plain(r["task"]),
            plain(r["strategy"]),
            r["status"],
            str(r["iterations"]),
            str(r["candidates"]),
            _fmt(r["best_fitness"]),
            f"${r['cost_usd']:.4f}",
        )
        for r in rows
    ]
    headers = ("id", "task", "strategy", "status", "iterations", "candidates", "best", "cost")
    for i, col in enumerate(headers):
        width = max(len(col), *(len(row[i]) for row in cells))
        table.add_column(col, no_wrap=True, min_width=width)
    for row in cells:
        table.add_row(*row)
    console.print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    workspace = open_workspace(args, args.run)
    assert workspace is not None
    if workspace.store.get_run(args.run).strategy == BENCH:
        return _show_bench(workspace, args.run, args.json)
    summary = run_summary(workspace.store, args.run)
    if args.json:
        print_json(summary)
        return 0
    run = summary["run"]
    console.print(f"[bold]{plain(run['id'])}[/bold]  {run['status']}")
    console.print(
        f"task {run['task']}, strategy {run['strategy']}, started {run['created_at']}, "
        f"updated {run['updated_at']}",
        markup=False,
    )
    if run["error"]:
        console.print(f"[red]error[/red]: {plain(run['error'])}")
    table = Table(title="iterations")
    for col in ("iteration", "status", "candidates", "best", "human feedback"):
        table.add_column(col, overflow="fold")
    for it in summary["iterations"]:
        table.add_row(
            str(it["iteration"]),
            it["status"],
            str(len(it["candidates"])),
            "-" if it["best_candidate_id"] is None else f"#{it['best_candidate_id']}",
            plain((it["human_feedback"] or "")[:60]),
        )
    console.print(table)
    table = Table(title="candidates")
    for col in ("iter", "slot", "id", "parent", "designer", "status", "fitness", "error"):
        table.add_column(col, overflow="fold")
    for c in summary["candidates"]:
        error = f"{c['error_kind']}: {c['error'] or ''}" if c["error_kind"] else (c["error"] or "")
        table.add_row(
            str(c["iteration"]),
            str(c["slot"]),
            f"#{c['id']}",
            "-" if c["parent_id"] is None else f"#{c['parent_id']}",
            plain(c["designer"]),
            c["status"],
            _fmt(c["fitness"]),
            plain(error[:160]),
        )
    console.print(table)
    best = summary["best"]
    if best:
        console.print(
            f"[bold]best reward[/bold]: candidate #{best['candidate_id']}, fitness {_fmt(best['fitness'])}"
        )
        console.print(Syntax(best["code"].rstrip(), "python", theme="ansi_dark", line_numbers=True))
    if summary["baselines"]:
        text = plain(", ".join(f"{k} {_fmt(v)}" for k, v in sorted(summary["baselines"].items())))
        console.print(
            f"[bold]baselines[/bold]: {text}; human-normalized score "
            f"{_fmt(summary['human_normalized_score'])}"
        )
    u = summary["model_usage"]
    console.print(
        f"[bold]model[/bold]: {u['num_calls']} calls ({u['num_cached']} from cache), "
        f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens, "
        f"${u['cost_usd']:.4f}"
    )
    return 0


def run_report(args: argparse.Namespace) -> int:
    from rewardforge.report import ensure_best_animation, write_report

    workspace = open_workspace(args, args.run)
    assert workspace is not None
    run = workspace.store.get_run(args.run)
    if run.strategy == BENCH:  # the bench's tables and plots
        from rewardforge.bench.html import bench_html
        from rewardforge.bench.results import read_results

        out = _report_out(workspace, run.id, args.out, "bench.html")
        out.write_text(bench_html(read_results(workspace.store, run.id)), encoding="utf-8")
        console.print(f"wrote {out}", markup=False)
        return 0
    out = _report_out(workspace, run.id, args.out)
    gif = args.gif
    if gif is None and not args.no_animation:
        target = workspace.gif_path(run.id)
        if workspace.readonly and not target.is_file():
            target = out.with_suffix(".gif")  # beside the report: the run folder is read-only
        gif = ensure_best_animation(workspace.store, run.id, target)
    path = write_report(workspace.store, run.id, out, gif_path=gif)
    console.print(f"wrote {path}", markup=False)
    return 0


def _report_out(
    workspace: Workspace, run_id: str, out: str | None, name: str = "report.html"
) -> Path:
    """Where the report goes: ``--out`` (its folder created) or the run folder."""
    if out is None:
        if workspace.readonly:
            raise ConfigError(
                f"the workspace {workspace.root} is read-only, so the report cannot go in the "
                "run folder; pass --out FILE somewhere you can write"
            )
        return workspace.run_dir(run_id) / name
    path = Path(out)
    if path.is_dir():
        raise ConfigError(
            f"--out {path} is a folder; give the report's file name, e.g. {path}/report.html"
        )
    writable_dir(path.parent if str(path.parent) else ".", "--out's folder")
    return path


def run_export(args: argparse.Namespace) -> int:
    from rewardforge.report import export_run

    workspace = open_workspace(args, args.run)
    assert workspace is not None
    if args.out is None and workspace.readonly:
        raise ConfigError(
            f"the workspace {workspace.root} is read-only, so the export cannot go in the run "
            "folder; pass --out DIR somewhere you can write"
        )
    if workspace.store.get_run(args.run).strategy == BENCH:
        raise ConfigError(
            f"{args.run} is a bench: it has no reward of its own. Export one of its searches "
            f"(`rewardforge show {args.run}` lists their run ids)"
        )
    out = writable_dir(args.out, "--out") if args.out is not None else None
    result = export_run(workspace.store, workspace, args.run, out, candidate_id=args.candidate)
    console.print(f"exported candidate #{result.candidate_id} to {result.out_dir}", markup=False)
    for path in (result.reward_path, result.checkpoint_path, result.readme_path):
        if path is not None:
            console.print(f"  {path}", markup=False)
    return 0
