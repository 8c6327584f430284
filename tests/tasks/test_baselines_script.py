"""``benchmarks/baselines.py`` runs end to end on a tiny budget and writes its table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines.py"


def test_baselines_script_writes_the_fitness_table(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("baselines_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "baselines"
    module.main(
        ["--tasks", "point-reach", "--seeds", "0", "--num-steps", "2048", "--out", str(out)]
    )
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["task"] for r in rows] == ["point-reach"]
    assert rows[0]["num_steps"] == 2048 and rows[0]["task_budget"] == 200000
    for name in ("env", "sparse"):
        assert 0.0 <= rows[0][name]["fitness_mean"] <= 1.0
    assert (
        "| point-reach | success_rate | ppo | 2048 (200000) |" in out.with_suffix(".md").read_text()
    )
