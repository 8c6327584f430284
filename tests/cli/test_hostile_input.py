"""Issue 20: careless and hostile input gets one clear error and a non-zero exit, never a
traceback, a hang or a run that silently does something else. Table-driven through the CLI's
entry point (``main``, what the ``rewardforge`` script calls); a few cases also as the real
process, where the exit code and the whole of stderr are what a user sees."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time

import pytest

from rewardforge.cli import main
from rewardforge.runs import Workspace
from tests.runs.fake_run import make_fake_run

OK_REWARD = "import numpy as np\n\ndef compute_reward(theta):\n    return -np.abs(theta), {}\n"
#: Passes the lint, fails in the sandbox (numpy's f2py is not importable there).
FAILING_REWARD = (
    "import numpy as np\n\ndef compute_reward(theta):\n"
    "    np.f2py.os.system('true')\n    return -np.abs(theta), {}\n"
)
TASK = """\
id: {id}
description: {description}
env: {{id: Pendulum-v1}}
max_episode_steps: {steps}
variables:
  theta: {{shape: [], unit: rad, description: angle, source: "np.arctan2(obs[:, 1], obs[:, 0])"}}
success:
  code: |
    def is_success(theta):
        return np.abs(theta) < 0.2
budget: {{trainer: sac, num_steps: 1000, num_envs: {num_envs}}}
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A folder of good and bad inputs, as the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "binary.py").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "ok.py").write_text(OK_REWARD)
    (tmp_path / "failing.py").write_text(FAILING_REWARD)
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "huge.py").write_text(OK_REWARD + "# " + "x" * 10_000_000 + "\n")
    for name, fields in {
        "long_episodes.yaml": {"steps": "100000000000000000000000000000000", "num_envs": 4},
        "many_envs.yaml": {"steps": 200, "num_envs": "1.0e+8"},
    }.items():
        task = TASK.format(id="bounds", description="a pendulum", **fields)
        (tmp_path / name).write_text(task)
    return tmp_path


def _one_error(capsys, argv: list[str], match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0, f"{argv} exited 0"
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert match in err[0], err[0]


# item 11: each once a traceback; item 6 (train, check): zero and negative values
ONE_LINE = [
    (["task", "show", "binary.yaml"], "is not a text file (it is not UTF-8)"),
    (["check", "pendulum", "binary.py"], "reward file binary.py is not a text file"),
    (["check", "binary.yaml", "ok.py"], "task file binary.yaml is not a text file"),
    (["train", "pendulum", "--reward", "binary.py"], "reward file binary.py is not a text file"),
    (["search", "binary.yaml"], "task file binary.yaml is not a text file"),
    (["train", "pendulum", "--set", "learning_rate=abc"], "learning_rate must be a positive"),
    (["train", "pendulum", "--set", "batch_size=-1"], "batch_size must be a whole number from 1"),
    (["train", "pendulum", "--set", "net_arch=[0]"], "net_arch must be a list of layer widths"),
    (["train", "pendulum", "--set", "gamma=1.5"], "gamma must be a number from 0 to 1"),
    (["train", "pendulum", "--device", "tpu"], "device must be cpu, cuda, cuda:N or mps"),
    (["train", "pendulum", "--out", "a_file"], "--out a_file is a file"),
    (["train", "pendulum", "--out", "/proc/rewardforge"], "--out /proc/rewardforge cannot be"),
    (["train", "pendulum", "--steps", "0"], "--steps must be a whole number from 1"),
    (["train", "pendulum", "--steps", "-3"], "--steps must be a whole number from 1"),
    (["train", "pendulum", "--eval-episodes", "0"], "--eval-episodes must be a whole number"),
    (["train", "pendulum", "--seeds", "0"], "--seeds must be a whole number from 1"),
    (["check", "pendulum", "ok.py", "--num-states", "0"], "--num-states must be a whole number"),
    (["check", "pendulum", "ok.py", "--num-states", "-5"], "--num-states must be a whole number"),
    (["check", "pendulum", "ok.py", "--deadline", "nan"], "--deadline must be a number of seconds"),
    (["check", "pendulum", "ok.py", "--deadline", "-1"], "--deadline must be a number of seconds"),
    (["runs", "--workspace", "a_file"], "is a file, not a folder"),
    (["show", "x", "--workspace", "a_file"], "is a file, not a folder"),
    (["search", "pendulum", "--workspace", "a_file"], "is a file, not a folder"),
    # item 12: limits are refused at once, with the bound
    (["check", "pendulum", "ok.py", "--num-states", "100000000"], "from 1 to 100,000"),
    (["check", "pendulum", "huge.py"], "a reward program may be at most 1,000,000"),
]


@pytest.mark.parametrize(("argv", "match"), ONE_LINE, ids=[" ".join(c[0]) for c in ONE_LINE])
def test_one_line_error(files, capsys, argv, match):
    _one_error(capsys, argv, match)


@pytest.mark.parametrize(
    ("task_file", "match"),
    [
        ("long_episodes.yaml", "max_episode_steps: Input should be less than or equal to 1000000"),
        ("many_envs.yaml", "budget.num_envs: Input should be less than or equal to 65536"),
    ],
)
def test_task_limits_are_refused_with_the_bound(files, capsys, task_file, match):
    started = time.monotonic()
    assert main(["check", task_file, "ok.py", "--num-states", "8"]) == 1
    assert match in capsys.readouterr().err
    assert time.monotonic() - started < 30


def test_oversized_reward_is_rejected_at_once(files, capsys):
    started = time.monotonic()
    _one_error(capsys, ["check", "pendulum", "huge.py"], "10,000,0")
    assert time.monotonic() - started < 10  # not parsed, not sent to the sandbox


def test_the_real_process_prints_one_line(files, run_cli):
    for argv in (
        ["task", "show", "binary.yaml"],
        ["train", "pendulum", "--set", "learning_rate=abc"],
        ["check", "pendulum", "ok.py", "--deadline", "nan"],
    ):
        proc = run_cli(*argv, cwd=str(files), timeout=120)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


# item 7: a failed training is a failed command
def test_train_with_a_failing_reward_exits_non_zero(files, run_cli):
    proc = run_cli(
        "train", "pendulum", "--reward", "failing.py", "--steps", "200", "--eval-episodes", "1",
        cwd=str(files), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "reward failed" in proc.stdout  # the table still shows what happened
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the reward failed in 1 of 1")


# item 10: text in square brackets is printed as it is
MARKUP = "[/bold] and [red]"


def test_markup_in_a_task_is_printed_as_text(files, capsys):
    task = TASK.format(
        id='"pend[/bold]"', description=f'"swing up {MARKUP}"', steps=200, num_envs=4
    )
    (files / "markup.yaml").write_text(task)
    assert main(["task", "show", "markup.yaml"]) == 0
    out = capsys.readouterr().out
    assert "pend[/bold]" in out and f"swing up {MARKUP}" in out
    assert "markup.yaml is code, like a setup.py" in out  # item 3: said plainly


def test_markup_in_a_run_is_printed_as_text(tmp_path, capsys, monkeypatch):
    from rewardforge.cli.output import console

    monkeypatch.setattr(console, "width", 400)
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    cand = ws.store.list_candidates(run.id)[0]
    ws.store.update_candidate(cand.id, error_kind="raised", error=f"ValueError: {MARKUP}")
    ws.store.set_run_status(run.id, "failed", error=f"RuntimeError: {MARKUP}")
    ws.close()
    assert main(["show", run.id, "--workspace", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert f"RuntimeError: {MARKUP}" in out and f"ValueError: {MARKUP}" in out


# item 11: a store with a corrupted page
@pytest.fixture
def damaged(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    ws.store.set_run_status(run.id, "interrupted")
    ws.close()
    with sqlite3.connect(ws.store_path) as conn:  # a config resume accepts
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", ('{"task": "mountaincar"}', run.id))
        roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type='table'"))
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(ws.store_path, "r+b") as f:
        for table in ("candidates", "trainings", "evaluations"):
            f.seek(size * (roots[table] - 1))
            f.write(b"\xde\xad\xbe\xef" * 16)
    return ws, run


@pytest.mark.parametrize("command", ["runs", "show", "report", "resume"])
def test_damaged_store_is_one_error(damaged, capsys, command):
    ws, run = damaged
    argv = [command, "--workspace", str(ws.root)] + ([] if command == "runs" else [run.id])
    _one_error(capsys, argv, "is damaged (database disk image is malformed)")


# item 13: store edges
def test_empty_store_beside_run_folders_is_reported(tmp_path, capsys):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    ws.close()
    ws.store_path.write_bytes(b"")
    for name in ("runs.sqlite-wal", "runs.sqlite-shm"):
        (ws.root / name).unlink(missing_ok=True)
    _one_error(capsys, ["runs", "--workspace", str(ws.root)], "is empty (0 bytes)")
    _one_error(capsys, ["show", run.id, "--workspace", str(ws.root)], "1 run folder(s)")
    assert ws.store_path.stat().st_size == 0  # nothing written over the evidence


def _read_only(argv: list[str]) -> list[str]:
    """``argv`` run without write access: as root, without the capabilities that bypass file
    permissions (root would write anyway)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot take write access away")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, "--bounding-set", caps, "--inh-caps", "-all", "--", *argv]


def test_read_only_workspace_still_reads(tmp_path, run_cli):
    import subprocess
    import sys

    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws)
    ws.close()
    for path in [ws.root, *ws.root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    out = tmp_path / "out"
    out.mkdir()
    try:
        cli = [sys.executable, "-m", "rewardforge.cli"]
        where = ["--workspace", str(ws.root)]

        def cli_run(*args: str) -> subprocess.CompletedProcess:
            argv = _read_only([*cli, *args, *where])
            return subprocess.run(argv, capture_output=True, text=True, timeout=300)

        listing = cli_run("runs", "--json")
        assert listing.returncode == 0, listing.stderr
        assert json.loads(listing.stdout)[0]["id"] == run.id
        shown = cli_run("show", run.id)
        assert shown.returncode == 0 and run.id in shown.stdout, shown.stderr
        report = cli_run("report", run.id, "--out", str(out / "report.html"), "--no-animation")
        assert report.returncode == 0, report.stderr
        assert (out / "report.html").is_file()
        refused = cli_run("report", run.id)
        assert refused.returncode == 1
        assert "read-only" in refused.stderr and "--out FILE" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        for path in [ws.root, *ws.root.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
