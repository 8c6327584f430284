"""The bench end to end through the real CLI: two tasks, three methods, tiny budgets; SIGKILLed
in the middle (a cell done, a search half way), resumed with `rewardforge resume`, and then
its table and its searches are those of a bench that was never interrupted, with nothing
trained twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewardforge.runs import Workspace

SUITE = """
name: tiny
tasks: [cartpole, pendulum]
seeds: 2
methods:
  env: {baseline: env}
  sparse: {baseline: sparse}
  evolve: {strategy: evolve, designer: offline, samples: 2, iterations: 2, rungs: off}
budget: 2048
"""
#: Three cells at once on the 2-core machine: both searches and a baseline.
WORKERS = "3"


def bench(
    workspace: Path, *args: str, kill_when=None, timeout: float = 600
) -> subprocess.CompletedProcess | None:
    """Run the CLI; with ``kill_when(store)``, SIGKILL its process group once that is true
    (returns None then)."""
    env = {**os.environ}
    env.pop("REWARDFORGE_HOME", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardforge.cli", *args, "--workspace", str(workspace), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    if kill_when is None:
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if Workspace(workspace).exists and kill_when(Workspace(workspace).store):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None
            time.sleep(0.2)
        raise AssertionError(f"the bench ended before the kill: {proc.communicate()[1][-2000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def mid_way(store) -> bool:
    """A cell recorded, and a search that recorded trainings but has not finished."""
    benches = [r for r in store.list_runs() if r.strategy == "bench"]
    if not benches:
        return False
    cells = benches[0].summary.get("cells", {})
    done = any(c.get("status") == "done" for c in cells.values())
    searches = [r for r in store.list_runs() if r.strategy == "evolve"]
    half = any(r.status != "finished" and store.list_trainings(r.id) for r in searches)
    return done and half


def trainings(store) -> dict:
    """Every training and baseline record, keyed, with what a second training would change."""
    out = {}
    for run in store.list_runs():
        for t in store.list_trainings(run.id):
            out[(run.task_id, t.candidate_id, t.seed, t.budget_steps)] = (t.created_at, t.metrics)
        for e in store.list_evaluations(run.id):
            out[(run.id, e.kind, e.baseline, str(e.details.get("task")))] = (
                e.created_at,
                e.per_seed,
            )
    return out


def figures(table: dict, store) -> dict:
    """What must not depend on kills: every cell's fitness and normalized score, and each
    search's candidates with their fitness and evaluation returns (timings and ids aside)."""
    out = {}
    for cell in table["cells"]:
        out[(cell["task"], cell["method"])] = (cell["status"], cell["fitness"], cell["normalized"],
                                               cell["normalized_note"], cell["env_steps"])  # fmt: skip
        if cell["run_id"]:
            out[(cell["task"], cell["method"], "candidates")] = [
                (c.iteration, c.slot, c.content_hash, c.status, c.fitness,
                 [t.metrics["eval"]["mean_return"] for t in store.list_trainings(candidate_id=c.id)])
                for c in store.list_candidates(cell["run_id"])
            ]  # fmt: skip
    return out


@pytest.mark.timeout(900)
def test_a_sigkilled_bench_resumes_to_the_uninterrupted_table_training_nothing_twice(
    tmp_path,
) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SUITE)

    ref = bench(tmp_path / "a", "bench", str(suite), "--workers", WORKERS)
    assert ref.returncode == 0, ref.stderr[-3000:]
    expected = json.loads(ref.stdout)
    assert expected["status"] == "finished"
    assert [(c["task"], c["method"]) for c in expected["cells"]] == [
        (t, m) for t in ("cartpole", "pendulum") for m in ("env", "sparse", "evolve")
    ]
    assert "candidate #" in ref.stderr  # a line per finished training
    assert "[6/6]" in ref.stderr and "left" in ref.stderr

    b = tmp_path / "b"
    assert bench(b, "bench", str(suite), "--workers", WORKERS, kill_when=mid_way) is None
    store = Workspace(b).store
    (killed,) = [r for r in store.list_runs() if r.strategy == "bench"]
    before = trainings(store)
    assert killed.status == "running"  # as a SIGKILL leaves it

    resumed = bench(b, "resume", killed.id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming bench" in resumed.stderr
    table = json.loads(resumed.stdout)
    store = Workspace(b).store
    assert store.get_run(killed.id).status == "finished"

    # nothing recorded before the kill was trained again, and nothing was trained twice
    after = trainings(store)
    for key, row in before.items():
        assert after[key] == row, f"{key} was trained again after the kill"
    searches = [r for r in store.list_runs() if r.strategy == "evolve"]
    assert sorted(r.task_id for r in searches) == ["cartpole", "pendulum"]  # one run per cell
    baselines = store.list_evaluations(killed.id, kind="baseline")
    assert sorted((e.details["task"], e.baseline) for e in baselines) == sorted(
        (t, m) for t in ("cartpole", "pendulum") for m in ("env", "sparse")
    )
    # and the table is the uninterrupted bench's
    assert figures(table, store) == figures(expected, Workspace(tmp_path / "a").store)
    folder = b / killed.id
    md = (folder / "bench.md").read_text()
    assert (
        "| cartpole | success rate | sampled |" in md
        and "| pendulum | success rate | deterministic |" in md
    )
    assert (folder / "bench.html").read_text().count("data-plot=") >= 4

    # a finished bench is not resumed; show and report read it like any run
    again = bench(b, "resume", killed.id)
    assert again.returncode == 1 and "has already finished" in again.stderr
