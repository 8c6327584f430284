"""``rewardforge sandbox``: which containment layers for reward code are active here."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from rewardforge.cli.output import console, error_console, plain, print_json
from rewardforge.rewards.sandbox import sandbox_layers


def register(sub: Any) -> None:
    p = sub.add_parser("sandbox", help="show which sandbox layers are active on this machine")
    p.add_argument(
        "--sandbox",
        choices=("default", "strict"),
        default="default",
        help="strict: exit non-zero unless every required layer is active",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    layers = sandbox_layers()
    missing = [layer for layer in layers if layer.required and not layer.active]
    if args.json:
        print_json(
            {
                "layers": [layer._asdict() for layer in layers],
                "complete": not missing,
                "missing": [layer.name for layer in missing],
            }
        )
    else:
        table = Table(title="sandbox layers for reward code")
        for col in ("layer", "status", "detail"):
            table.add_column(col, overflow="fold")
        for layer in layers:
            status = "active" if layer.active else "MISSING" if layer.required else "optional"
            style = "green" if layer.active else "bold red" if layer.required else "dim"
            table.add_row(plain(layer.name), f"[{style}]{status}[/{style}]", plain(layer.detail))
        console.print(table)
        if missing:
            names = ", ".join(layer.name for layer in missing)
            error_console.print(
                f"[bold red]WARNING: {len(missing)} sandbox layer(s) not active here: {names}. "
                f"Reward code runs with weaker containment; --sandbox strict refuses to run.[/]"
            )
        else:
            console.print("all required layers are active")
    return 1 if missing and args.sandbox == "strict" else 0
