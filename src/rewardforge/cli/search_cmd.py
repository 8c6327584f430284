"""``rewardforge search TASK`` and ``rewardforge resume RUN``: thin wrappers over ``Search``.

The flags are generated from ``SearchConfig``'s fields (``search/options.py``): a new setting
needs one edit, in the model."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rewardforge.bench import BENCH_STRATEGY
from rewardforge.cli.live import LiveView
from rewardforge.cli.output import console, plain, print_json
from rewardforge.cli.runs_cmd import add_workspace_argument
from rewardforge.errors import ConfigError
from rewardforge.runs import Workspace
from rewardforge.search.options import Option, build_config, load_config_file, options, to_yaml
from rewardforge.search.result import SearchResult
from rewardforge.search.runner import Search

#: Argument groups of the generated flags: the first part of each option's key.
GROUPS = {
    "seed": "run",
    "strategy": "strategy (each option names the strategies that have it, with their default)",
    "designer": "designer",
    "model": "model (the llm designer, vlm teachers and judges)",
    "training": "training",
    "evaluation": "evaluation (fitness and the final evaluation)",
    "executor": "executor (where trainings run)",
    "teacher": "teacher (the preference strategy and judges)",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="search for a reward that makes a policy solve a task",
        description="Search for a reward. Settings come from --config FILE, then the flags, "
        "then KEY=VALUE overrides (e.g. strategy.samples=4 training.steps=20000).",
    )
    p.add_argument(
        "overrides", nargs="*", metavar="TASK [KEY=VALUE ...]",
        help="task id (`rewardforge tasks`) or task file, then dotted overrides",
    )  # fmt: skip
    p.add_argument("--config", metavar="FILE", help="YAML config file (as --print-config writes)")
    p.add_argument(
        "--print-config", action="store_true",
        help="print the resolved config as YAML (a file --config reads back) and exit",
    )  # fmt: skip
    add_config_flags(p)
    add_workspace_argument(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_search)

    r = sub.add_parser("resume", help="continue a search or a bench that was stopped or killed")
    r.add_argument("run", help="run id (or a unique prefix of one): a search's or a bench's")
    add_workspace_argument(r)
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=run_resume)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``SearchConfig`` option, grouped by section, help from the field."""
    groups: dict[str, Any] = {}
    for opt in options():
        section = opt.path.split(".")[0]
        if section not in groups:
            groups[section] = parser.add_argument_group(GROUPS.get(section, section))
        names = [opt.flag, *([opt.short] if opt.short else [])]
        kwargs: dict[str, Any] = {"dest": opt.dest, "default": argparse.SUPPRESS}
        kwargs["help"] = _help(opt)
        if opt.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif opt.kind == "choice":
            kwargs["choices"] = opt.choices
        else:
            kwargs["metavar"] = opt.metavar or opt.dest.upper()
        groups[section].add_argument(*names, **kwargs)


def _help(opt: Option) -> str:
    text = opt.help.replace("%", "%%")
    if opt.defaults:
        where = ", ".join(f"{name}: {value}" for name, value in opt.defaults.items())
        return f"{text} [{where}]"
    if opt.default is not None:
        return f"{text} (default: {opt.default})"
    return text


def config_from_args(args: argparse.Namespace) -> Any:
    """The ``SearchConfig`` of a parsed ``search`` command line."""
    positional = list(args.overrides)
    overrides = [a for a in positional if "=" in a]
    tasks = [a for a in positional if "=" not in a]
    if len(tasks) > 1:
        raise ConfigError(f"give one task, then KEY=VALUE overrides; got {' '.join(tasks)}")
    values = {o.dest: getattr(args, o.dest) for o in options() if hasattr(args, o.dest)}
    base = load_config_file(args.config) if args.config else None
    return build_config(tasks[0] if tasks else None, base=base, values=values, overrides=overrides)


def run_search(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.print_config:
        sys.stdout.write(to_yaml(config))
        return 0
    with LiveView() as view:
        result = Search(config, Workspace(args.workspace), callbacks=[view]).run()
    return _print(result, args.json)


def run_resume(args: argparse.Namespace) -> int:
    workspace = Workspace(args.workspace)
    if workspace.exists and workspace.store.get_run(args.run).strategy == BENCH_STRATEGY:
        from rewardforge.cli.bench_cmd import resume_bench

        return resume_bench(args)
    with LiveView() as view:
        result = Search.resume(Workspace(args.workspace), args.run, callbacks=[view]).run()
    return _print(result, args.json)


def _print(result: SearchResult, as_json: bool) -> int:
    if as_json:
        print_json(result.to_dict())
    else:
        print_summary(result)
    return 0


def print_summary(result: SearchResult) -> None:
    console.print(f"[bold]run {plain(result.run_id)}[/bold] finished")
    best = result.best
    if best is None:
        console.print("no candidate trained successfully; see `rewardforge show RUN`")
        return
    fitness = "-" if best.fitness is None else f"{best.fitness:.3f}"
    console.print(
        f"best candidate #{best.candidate_id}: fitness {fitness} (reward: {best.code_path})",
        markup=False,
    )
    final = result.final
    if final is not None:
        line = f"final evaluation: {final.mean:.3f} ± {final.std:.3f}"
        for name, arm in final.baselines.items():
            line += f"; {name} baseline {arm.mean:.3f}"
        if final.human_normalized is not None:
            line += f"; human-normalized {final.human_normalized:.2f}"
        console.print(line, markup=False)
    wall = "" if result.wall_time_s is None else f"; {result.wall_time_s:.0f} s"
    console.print(
        f"environment steps {result.env_steps:,} (training every candidate fully: "
        f"{result.full_budget_env_steps:,}){wall}"
    )
    console.print(f"next: rewardforge report {result.run_id}  |  rewardforge export {result.run_id}",
                  markup=False)  # fmt: skip
