"""``benchmarks/offline_templates.py`` trains templates and reward files at checkpoints."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "offline_templates.py"


def test_templates_script_writes_success_at_each_checkpoint(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("offline_templates_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "templates"
    args = ["--task", "point-reach", "--templates", "reach", "--reward", "env", "--seeds", "0",
            "1", "--checkpoints", "1024", "2048", "--out", str(out)]  # fmt: skip
    assert module.main(args) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["reward"] for r in rows] == ["env", "reach: tolerance of gripper_pos to target_pos"]
    for row in rows:
        assert sorted(row["checkpoints"]) == ["1024", "2048"]
        assert all(len(v) == 2 and 0 <= min(v) <= max(v) <= 1 for v in row["checkpoints"].values())
    assert "tol_long_tail" in rows[1]["code"]
    table = out.with_suffix(".md").read_text()
    assert "| reward | 1,024 steps | 2,048 steps | unlearned | wall s |" in table
