"""A workspace written before candidate details had sections and configs had sections still
opens, shows, reports and resumes.

``data/legacy_store.sqlite`` was written by rewardforge at commit 9ac9161 (the last before
this change): a finished evolve run on mountaincar (2 samples, 1 iteration, 600 steps, one
final seed) and a second one interrupted during iteration 0's training (``--no-screening``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from rewardforge.runs import Workspace
from rewardforge.runs.migrations import MIGRATIONS, apply_migrations
from rewardforge.runs.summary import iteration_digest, run_summary
from rewardforge.search.config import SearchConfig
from rewardforge.search.result import SearchResult
from rewardforge.search.runner import Search

LEGACY = Path(__file__).parent / "data" / "legacy_store.sqlite"
FINISHED = "mountaincar__evolve__20261203-093149__5742"
INTERRUPTED = "mountaincar__evolve__20261203-093151__71c4"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    shutil.copy(LEGACY, tmp_path / "runs.sqlite")
    return Workspace(tmp_path)


def _old_details(path: Path) -> dict[int, dict]:
    with sqlite3.connect(path) as conn:
        return {i: json.loads(d) for i, d in conn.execute("SELECT id, details FROM candidates")}


def test_opening_it_adds_the_success_rate_column_filled_from_the_old_details(workspace) -> None:
    before = _old_details(workspace.store_path)
    store = workspace.store
    with sqlite3.connect(workspace.store_path) as conn:
        applied = [name for (name,) in conn.execute("SELECT name FROM migrations")]
    assert applied == [name for name, _ in MIGRATIONS]
    for c in store.list_candidates(FINISHED):
        assert "success_rate" in before[c.id]  # trained: the old JSON had it
        assert c.success_rate == before[c.id]["success_rate"]
        assert c.details.training is not None and c.details.training.feedback
        assert c.details.check is not None and c.details.check.passed
    for c in store.list_candidates(INTERRUPTED):  # never trained: nothing to fill
        assert c.success_rate is None and c.details.proposal.notes == before[c.id]["notes"]


def test_the_migration_fills_each_row_from_its_own_details(tmp_path: Path) -> None:
    """A store with only the first migration, and candidates whose details hold distinct
    success rates (one without any, one holding NaN elsewhere, as older stores do), gets each
    one's value in the new column."""
    conn = sqlite3.connect(tmp_path / "runs.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for statement in MIGRATIONS[0][1]:
        conn.execute(str(statement))
    conn.execute("INSERT INTO migrations VALUES ('0001_initial', 'then')")
    conn.execute("INSERT INTO runs (id, task_id, strategy, status, config, versions, created_at,"
                 " updated_at) VALUES ('r', 't', 'evolve', 'finished', '{}', '{}', 'a', 'a')")  # fmt: skip
    rows = [(1, {"success_rate": 0.7}), (2, {"success_rate": 1}), (3, {}),
            (4, {"success_rate": 0.5, "reflection": {"env_return": [float("nan")]}})]  # fmt: skip
    for cid, details in rows:
        conn.execute(
            "INSERT INTO candidates (id, run_id, iteration, slot, code, content_hash, designer,"
            " status, details, created_at, updated_at) VALUES (?, 'r', 0, ?, 'x', 'h', 'd',"
            " 'trained', ?, 'a', 'a')",
            (cid, cid, json.dumps(details)),
        )
    assert apply_migrations(conn) == ["0002_candidate_success_rate"]
    filled = dict(conn.execute("SELECT id, success_rate FROM candidates").fetchall())
    assert filled == {1: 0.7, 2: 1.0, 3: None, 4: 0.5}
    assert apply_migrations(conn) == []  # applied once


def test_show_report_and_result_read_the_old_runs(workspace, tmp_path: Path) -> None:
    from rewardforge.report import write_report

    summary = run_summary(workspace.store, FINISHED)
    assert summary["best"]["candidate_id"] == 1 and summary["run"]["status"] == "finished"
    assert "candidate #1" in iteration_digest(workspace.store, FINISHED, 0)
    result = SearchResult.from_store(workspace, FINISHED)
    assert result.best is not None and result.best.candidate_id == 1
    assert result.final is not None and set(result.final.baselines) == {"env", "sparse"}
    out = write_report(workspace.store, FINISHED, tmp_path / "report.html")
    assert "mountaincar" in out.read_text()


def test_an_old_interrupted_run_resumes_with_its_flat_config_read_into_sections(
    workspace,
) -> None:
    stored = workspace.store.get_run(INTERRUPTED).config
    assert stored["num_steps"] == 600 and stored["screening"] is False  # the old flat layout
    search = Search.resume(workspace, INTERRUPTED)
    assert search.config == SearchConfig.from_stored(stored)
    assert search.config.training.steps == 600 and search.config.strategy.screening is False
    assert search.config.executor.workers == 1  # then: trained in the search's process
    result = search.run()
    assert result.status == "finished" and result.best is not None
    statuses = {c.status for c in workspace.store.list_candidates(INTERRUPTED)}
    assert statuses <= {"trained", "stopped_early"}
