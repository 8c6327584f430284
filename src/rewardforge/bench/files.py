"""The bench's three files in its folder: ``bench.md``, ``bench.json`` and ``bench.html``."""

from __future__ import annotations

import json
from pathlib import Path

from rewardforge.bench.html import bench_html
from rewardforge.bench.output import markdown
from rewardforge.bench.results import BenchResults

FILES = ("bench.md", "bench.json", "bench.html")


def write_outputs(results: BenchResults, folder: Path) -> list[Path]:
    """Write the three files (each replaced whole: a kill leaves the old one or the new one)."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "bench.md": markdown(results),
        "bench.json": json.dumps(results.to_dict(), indent=1, sort_keys=True) + "\n",
        "bench.html": bench_html(results),
    }
    paths = []
    for name, text in texts.items():
        path = folder / name
        tmp = path.with_name(name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


__all__ = ["FILES", "write_outputs"]
