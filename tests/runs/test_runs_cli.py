from __future__ import annotations

import json

import pytest

from rewardforge.cli import main
from rewardforge.cli.output import console
from rewardforge.runs import Workspace
from tests.runs.fake_run import make_fake_run


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 250)


@pytest.fixture
def fake(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    yield ws, run
    ws.close()


def test_runs_json_and_table(fake, capsys):
    ws, run = fake
    assert main(["runs", "--workspace", str(ws.root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["id"] == run.id
    assert (rows[0]["status"], rows[0]["candidates"], rows[0]["best_fitness"]) == (
        "finished",
        8,
        0.9,
    )
    assert main(["runs", "--workspace", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "mountaincar" in out and "finished" in out


def test_runs_in_an_empty_workspace_creates_nothing(tmp_path, capsys):
    assert main(["runs", "--workspace", str(tmp_path / "none")]) == 0
    assert "no runs in workspace" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


def test_show_json(fake, capsys):
    ws, run = fake
    assert main(["show", run.id[:22], "--workspace", str(ws.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["id"] == run.id
    assert data["best"]["fitness"] == 0.9 and "def compute_reward" in data["best"]["code"]
    failed = [c for c in data["candidates"] if c["status"] == "failed"]
    assert failed[0]["error_kind"] == "raised" and "ZeroDivisionError" in failed[0]["error"]
    assert data["model_usage"]["cost_usd"] == pytest.approx(0.0028)


def test_show_table(fake, capsys, monkeypatch):
    ws, run = fake
    monkeypatch.setenv("REWARDFORGE_HOME", str(ws.root))
    assert main(["show", run.id]) == 0
    out = capsys.readouterr().out
    for text in (
        "iterations",
        "candidates",
        "ZeroDivisionError",
        "best reward",
        "compute_reward",
        "human-normalized",
        "1 from cache",
        "$0.0028",
    ):
        assert text in out


def test_show_unknown_run_suggests(fake, capsys):
    ws, run = fake
    assert main(["show", run.id[:-1] + "x", "--workspace", str(ws.root)]) == 1
    assert f"Did you mean '{run.id}'" in capsys.readouterr().err


def test_show_without_workspace_says_where(tmp_path, capsys):
    assert main(["show", "abc", "--workspace", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "there is no workspace at" in err and "REWARDFORGE_HOME" in err


def test_report_and_export_commands(fake, capsys, tmp_path):
    ws, run = fake
    assert main(["report", run.id, "--workspace", str(ws.root)]) == 0
    assert ws.report_path(run.id).is_file()
    out_dir = tmp_path / "export"
    assert main(["export", run.id, "--workspace", str(ws.root), "--out", str(out_dir)]) == 0
    assert {p.name for p in out_dir.iterdir()} == {"reward.py", "README.md", "policy.zip"}


def test_console_entry(fake, run_cli):
    ws, run = fake
    proc = run_cli("runs", "--json", env={"REWARDFORGE_HOME": str(ws.root)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["id"] == run.id
