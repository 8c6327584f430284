from __future__ import annotations

import re
from html import escape

import numpy as np
import pytest

from rewardforge.errors import RunError
from rewardforge.report import ensure_best_animation, render_policy_gif, write_report
from rewardforge.report.plots import nice_ticks
from rewardforge.runs import Workspace
from rewardforge.tasks import get_task
from tests.report.chromium import file_url, find_chromium, open_page
from tests.runs.fake_run import make_fake_run

PLOTS = ("fitness", "learning-curves", "baselines", "lineage")


@pytest.fixture
def fake(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    yield ws, run
    ws.close()


def test_report_is_one_self_contained_file(fake):
    ws, run = fake
    path = write_report(ws.store, run.id, ws.report_path(run.id))
    html = path.read_text()
    for plot in PLOTS:
        assert f'data-plot="{plot}"' in html
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), (
        "a report must not load anything"
    )
    # the best reward's code, highlighted and escaped; errors and cost are shown
    assert "compute_reward" in html and "20.0" in html and "&gt;=" in html
    assert "ZeroDivisionError" in html and "$0.0028" in html
    assert "Human-normalized score: <b>1.529</b>" in html
    assert "No animation was recorded" in html


def test_report_embeds_the_gif_and_escapes_hostile_text(fake, tmp_path):
    ws, run = fake
    store = ws.store
    cand = store.add_candidate(
        run.id, 1, 9, "def compute_reward(x):\n    return x, {}\n", designer="x"
    )
    store.update_candidate(
        cand.id, status="failed", error_kind="raised", error="<script>alert(1)</script>"
    )
    gif = ws.gif_path(run.id)
    gif.write_bytes(b"GIF89a fake")
    html = write_report(store, run.id, tmp_path / "r.html").read_text()
    assert 'data-plot="animation"' in html and "data:image/gif;base64,R0lGODlh" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_a_run_without_a_policy_to_render_gets_no_animation_and_the_report_says_why(fake, tmp_path):
    ws, run = fake
    assert ensure_best_animation(ws.store, run.id, ws.gif_path(run.id)) is None
    reason = ws.store.get_run(run.id).summary["animation_error"]
    assert re.match(r"candidate #\d+ was trained by Stable-Baselines3; its animation", reason)
    html = write_report(ws.store, run.id, tmp_path / "r.html").read_text()
    assert escape(reason) in html
    assert not ws.gif_path(run.id).exists()


def test_report_of_an_empty_run_says_so(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = ws.store.create_run("mountaincar", "oneshot", {})
    store = ws.store
    store.set_run_status(run.id, "running", summary={"animation_error": "pygame is missing"})
    html = write_report(store, run.id, tmp_path / "r.html").read_text()
    assert html.count("no data recorded") >= 2
    assert "No candidate has a fitness yet" in html and "pygame is missing" in html


def test_nice_ticks():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3.0, 3.0)[0] <= 3.0 <= nice_ticks(3.0, 3.0)[-1]
    one = nice_ticks(2000.0, 2000.0)  # every curve ends at the same step count
    assert one[0] < 2000.0 < one[-1] and len({f"{t:.4g}" for t in one}) == len(one)
    assert nice_ticks(float("nan"), 1.0) == [0.0, 1.0]


def test_render_policy_gif_of_mountaincar(tmp_path):
    pytest.importorskip("pygame", reason="classic-control rendering needs pygame")
    task = get_task("mountaincar")
    path = render_policy_gif(
        task, lambda obs: np.ones((len(obs), 1), np.float32), tmp_path / "a.gif", 6
    )
    import imageio.v2 as imageio

    frames = imageio.mimread(path)
    assert len(frames) == 6 and frames[0].shape[:2] == (400, 600)


def test_render_policy_gif_reports_a_bad_policy(tmp_path):
    pytest.importorskip("pygame", reason="classic-control rendering needs pygame")
    task = get_task("mountaincar")

    def bad(obs):
        raise ValueError("no policy")

    with pytest.raises(RunError, match="rendering task mountaincar failed: ValueError: no policy"):
        render_policy_gif(task, bad, tmp_path / "a.gif", 3)


@pytest.mark.skipif(
    find_chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_report_in_headless_chromium(fake, tmp_path):
    ws, run = fake
    ws.gif_path(run.id)  # make the run dir
    task = get_task("mountaincar")
    try:
        render_policy_gif(
            task, lambda obs: np.ones((len(obs), 1), np.float32), ws.gif_path(run.id), 4
        )
    except RunError as exc:  # no pygame: the report says why instead
        ws.store.set_run_status(run.id, "finished", summary={"animation_error": str(exc)})
    path = write_report(ws.store, run.id, ws.report_path(run.id))
    script = """JSON.stringify({
        plots: [...document.querySelectorAll('svg[data-plot]')]
            .filter(e => e.getBoundingClientRect().width > 50)
            .map(e => [e.dataset.plot, e.querySelectorAll('circle,polyline,rect,path').length]),
        images: [...document.images].map(i => [i.dataset.plot, i.complete, i.naturalWidth]),
        title: document.title})"""
    result = open_page(file_url(path), script)
    import json

    page = json.loads(result.evaluated)
    assert result.errors == [], result.errors
    assert result.screenshot.startswith(b"\x89PNG") and len(result.screenshot) > 10_000
    (tmp_path / "report.png").write_bytes(result.screenshot)
    drawn = dict(page["plots"])
    for plot in PLOTS:
        assert drawn.get(plot, 0) > 2, f"plot {plot} is missing or empty: {page['plots']}"
    assert page["title"].startswith("rewardforge report")
    for name, complete, width in page["images"]:
        assert complete and width > 0, f"image {name} did not load"


@pytest.mark.skipif(
    find_chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_chromium_harness_sees_console_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img src="missing.png"><script>console.error("bad thing");'
        'throw new Error("uncaught thing")</script></body></html>'
    )
    result = open_page(file_url(page), "1 + 1")
    text = " ".join(result.errors)
    assert result.evaluated == 2
    assert "bad thing" in text and "uncaught thing" in text and "failed to load" in text
