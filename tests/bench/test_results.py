"""The table read back from the store: normalized scores (and when they are undefined), the
share of tasks at or above env, executable rates; the three files, the HTML in Chromium."""

from __future__ import annotations

import json
import re

import pytest

from rewardforge.bench.files import write_outputs
from rewardforge.bench.results import read_results
from rewardforge.errors import RunError
from tests.bench.support import make_bench
from tests.report.chromium import file_url, find_chromium, open_page


@pytest.fixture
def bench(tmp_path):
    ws, bench_id = make_bench(tmp_path)
    yield ws, bench_id
    ws.close()


def test_the_table_normalizes_against_env_and_sparse_and_says_when_it_cannot(bench) -> None:
    ws, bench_id = bench
    r = read_results(ws.store, bench_id)
    assert r.tasks == ("pendulum", "mountaincar") and r.methods == ("env", "sparse", "search")
    cell = r.cell("pendulum", "search")
    assert cell.fitness.mean == pytest.approx(0.8) and cell.fitness.std == pytest.approx(0.1)
    assert cell.normalized == pytest.approx((0.8 - 0.2) / (0.9 - 0.2))
    assert cell.fitness.policy == "deterministic" and cell.fitness.other == {
        "sampled": (0.45, 0.35)
    }
    assert cell.env_steps == 6000 + 2 * 2000
    undefined = r.cell("mountaincar", "search")
    assert undefined.normalized is None
    assert undefined.normalized_note == "undefined: env = sparse = 0"
    search = next(s for s in r.summaries if s.method == "search")
    assert (search.at_or_above_env, search.compared) == (1, 2)  # mountaincar 0.4 >= 0
    assert search.mean_normalized == pytest.approx(cell.normalized) and search.normalized_tasks == 1
    assert search.executable_first_try == pytest.approx(3 / 4)  # 4 answers, 3 at once
    assert search.executable_after_repair == 1.0
    assert search.wall_time_s == 50.0


def test_a_failed_or_pending_cell_is_shown_as_such(bench) -> None:
    ws, bench_id = bench
    cells = ws.store.get_run(bench_id).summary["cells"]
    cells["mountaincar|search"] = {"status": "failed", "run_id": None, "error": "RunError: boom"}
    del cells["mountaincar|env"]
    ws.store.update_run_summary(bench_id, {"cells": cells})
    r = read_results(ws.store, bench_id)
    failed = r.cell("mountaincar", "search")
    assert (failed.status, failed.error, failed.fitness) == ("failed", "RunError: boom", None)
    assert failed.normalized_note == "no result"


def test_the_three_files_hold_the_table(bench, tmp_path) -> None:
    ws, bench_id = bench
    paths = write_outputs(read_results(ws.store, bench_id), tmp_path / "out")
    md, data, html = (p.read_text() for p in paths)
    assert (
        "| pendulum | success rate | deterministic | 0.90 ± 0.10 | 0.20 ± 0.00 | 0.80 ± 0.10 |"
        in md
    )
    assert "| mountaincar | undefined: env = sparse = 0 |" in md
    assert "| search | 1/2 | 0.86 | 0.86 | 1 | 75% / 100% |" in md
    assert json.loads(data)["cells"][2]["fitness"]["mean"] == pytest.approx(0.8)
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert html.count('data-plot="bars-') == 2 and html.count('data-plot="curve-') == 2


def test_a_search_run_is_not_a_bench(bench) -> None:
    ws, _ = bench
    search = next(r for r in ws.store.list_runs() if r.strategy == "evolve")
    with pytest.raises(RunError, match=r"is a search, not a bench"):
        read_results(ws.store, search.id)


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed")
def test_bench_html_in_headless_chromium(bench, tmp_path) -> None:
    ws, bench_id = bench
    html = write_outputs(read_results(ws.store, bench_id), tmp_path / "out")[2]
    script = """JSON.stringify([...document.querySelectorAll('svg[data-plot]')]
        .filter(e => e.getBoundingClientRect().width > 50)
        .map(e => [e.dataset.plot, e.querySelectorAll('circle,polyline,rect').length]))"""
    result = open_page(file_url(html), script)
    assert result.errors == [], result.errors
    drawn = dict(json.loads(result.evaluated))
    assert set(drawn) == {
        "bars-pendulum",
        "bars-mountaincar",
        "curve-pendulum",
        "curve-mountaincar",
    }
    assert drawn["bars-pendulum"] >= 3 + 6  # a bar per method, a circle per seed
    assert all(n > 2 for n in drawn.values()), drawn
    assert result.screenshot.startswith(b"\x89PNG") and len(result.screenshot) > 10_000
