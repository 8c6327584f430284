"""The command line: thin. It parses arguments, calls the library and prints.

Each command lives in a small module of this package with ``register(subparsers)``; ``main``
catches rewardforge errors and prints one clear message (the traceback with ``--debug``)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from rewardforge import __version__
from rewardforge.cli.output import console, error_console
from rewardforge.errors import RewardforgeError

#: Command modules, each with ``register(subparsers)``. Add a module here to add a command.
COMMAND_MODULES = [
    "rewardforge.cli.tasks_cmd",
    "rewardforge.cli.search_cmd",
    "rewardforge.cli.models_cmd",
    "rewardforge.cli.runs_cmd",
    "rewardforge.cli.train_cmd",
    "rewardforge.cli.sandbox_cmd",
    "rewardforge.cli.check_cmd",
    "rewardforge.cli.bench_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rewardforge",
        description="Design reward functions for reinforcement learning.",
    )
    parser.add_argument("--version", action="version", version=f"rewardforge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # KEY=VALUE overrides after flags (``search``), or arguments nobody knows
        unknown = [a for a in extra if a.startswith("-") or "=" not in a]
        if unknown or not hasattr(args, "overrides"):
            parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
        args.overrides = [*args.overrides, *extra]
    debug = bool(args.debug or os.environ.get("REWARDFORGE_DEBUG", "") not in ("", "0"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RewardforgeError as exc:
        if debug:
            error_console.print(traceback.format_exc(), markup=False, highlight=False)
        error_console.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    except KeyboardInterrupt:
        error_console.print("interrupted", markup=False)
        return 130


__all__ = ["main", "build_parser", "console"]
