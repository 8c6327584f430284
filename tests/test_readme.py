"""The README's Python blocks marked "run by `tests/test_readme.py`" run as written, each as a
script in a fresh folder: the quickstart, and the strategy added in "Adding a strategy"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARK = "run by `tests/test_readme.py`"


def marked_blocks() -> list[str]:
    """The first ```python block after each paragraph that carries the mark."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(re.escape(MARK), text):
        block = re.search(r"```python\n(.*?)```", text[match.end() :], re.S)
        assert block is not None, "a marked paragraph without a python block"
        blocks.append(block.group(1))
    return blocks


def run_script(code: str, cwd: Path) -> subprocess.CompletedProcess:
    (cwd / "example.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("REWARDFORGE_MODEL", None)
    env.pop("REWARDFORGE_HOME", None)
    return subprocess.run(
        [sys.executable, "example.py"], cwd=cwd, capture_output=True, text=True, timeout=600,
        env=env,
    )  # fmt: skip


def test_the_readme_marks_the_quickstart_and_the_strategy_example() -> None:
    blocks = marked_blocks()
    assert len(blocks) == 2
    assert (
        'rf.search("pendulum", samples=2, iterations=1, steps=5000, workspace="runs")'
        in (blocks[0])
    )
    assert "rf.register_strategy(" in blocks[1]


def test_the_python_quickstart_runs_as_written(tmp_path: Path) -> None:
    out = run_script(marked_blocks()[0], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    fitness, code_path, success = out.stdout.split()
    assert 0.0 <= float(fitness) <= 1.0 and 0.0 <= float(success) <= 1.0
    assert Path(code_path).is_file() and Path(code_path).is_relative_to(tmp_path / "runs")
    assert "def compute_reward(" in Path(code_path).read_text()


def test_the_added_strategy_runs_through_rf_search(tmp_path: Path) -> None:
    out = run_script(marked_blocks()[1], tmp_path)  # the default workspace: ./runs
    assert out.returncode == 0, out.stderr[-3000:]
    candidate_id, fitness = out.stdout.split()
    assert int(candidate_id) in (1, 2) and 0.0 <= float(fitness) <= 1.0
    from rewardforge.runs import Workspace

    [run] = Workspace(tmp_path / "runs").store.list_runs()
    assert run.strategy == "best-of" and run.config["strategy"] == {"name": "best-of", "samples": 2}


@pytest.mark.parametrize("block", [0, 1])
def test_the_blocks_import_only_the_front_door(block: int) -> None:
    imports = re.findall(r"^(?:from|import) (\S+)", marked_blocks()[block], re.M)
    assert {name for name in imports if name.startswith("rewardforge")} == {"rewardforge"}


def test_the_config_file_example_is_a_valid_config() -> None:
    import yaml

    from rewardforge.search.config import SearchConfig

    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Config files") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    config = SearchConfig.model_validate(yaml.safe_load(block.group(1)))
    assert config.task == "pendulum" and config.strategy.name == "evolve"
