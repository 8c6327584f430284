"""``rewardforge models``: which model providers are configured (never showing a key)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from rich.markup import escape
from rich.table import Table

from rewardforge.cli.output import console, print_json
from rewardforge.llm import default_model_spec, list_providers, provider_status


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="list model providers and whether each is configured")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_models)


def run_models(args: argparse.Namespace) -> int:
    statuses = [provider_status(spec) for spec in list_providers()]
    default = default_model_spec()
    if args.json:
        print_json({"default": default, "providers": [dataclasses.asdict(s) for s in statuses]})
        return 0
    table = Table(title="model providers (choose with --model provider/name)")
    for col in ("provider", "configured", "via", "base URL", "default model", "n", "notes"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        table.add_row(
            s.name,
            "yes" if s.configured else "no",
            s.source,
            s.base_url or "-",
            s.default_model or "-",
            "yes" if s.supports_n else "no",
            escape(s.description),
        )
    console.print(table)
    console.print(
        f"default model: {default}" if default else
        "default model: none (no key set; the search uses the offline designer)"
    )  # fmt: skip
    return 0
