"""An evolve search through ``RayExecutor`` on a local Ray cluster (127.0.0.1), with one Ray
worker process killed in the middle of a training: Ray runs the training again on another
worker, the run records the retry, and every candidate ends with a status."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from rewardforge.runs import Workspace
from rewardforge.runs.executors import RAY_TASK_NAME
from rewardforge.search.config import SearchConfig
from rewardforge.search.runner import Search, SearchEvent
from rewardforge.tasks.registry import get_task, register_task

#: mountaincar with 2 evaluation episodes (not 10) of 200 steps (not 999): faster rungs.
QUICK = "mountaincar-quick-eval"
TITLE = f"ray::{RAY_TASK_NAME}"  # the process title of a Ray worker while it runs our task
FINAL = {"trained", "stopped_early", "failed", "rejected", "screened_out"}


@pytest.fixture(scope="module", autouse=True)
def quick_task() -> None:
    register_task(
        replace(get_task("mountaincar"), id=QUICK, num_eval_episodes=2, max_episode_steps=200),
        overwrite=True,
    )


def training_pids() -> list[int]:
    """Ray worker processes running one of our trainings, with its reward sandbox started."""
    procs = {int(p.name): _read(p / "stat") for p in Path("/proc").iterdir() if p.name.isdigit()}
    parents = {int(stat.rsplit(")", 1)[1].split()[1]) for stat in procs.values() if stat}
    return [
        pid
        for pid in procs
        if pid in parents and _read(Path(f"/proc/{pid}/cmdline")).startswith(TITLE)
    ]


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:
        return ""


def kill_one_training(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first Ray worker seen training (its reward sandbox is a child of it)."""
    while not stop.is_set():
        for pid in training_pids():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)


def test_evolve_search_on_ray_survives_a_killed_worker(ray_cluster, tmp_path) -> None:
    config = SearchConfig(
        task=QUICK,
        samples=4,
        iterations=2,
        num_steps=1024,
        num_envs=2,
        rungs=(0.5, 1.0),
        seed=3,
        success_target=1.0,
        final_seeds=0,
        executor="ray",
    )
    events: list[SearchEvent] = []
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_one_training, args=(stop, killed), daemon=True)
    killer.start()
    try:
        search = Search(config, Workspace(tmp_path), on_event=events.append)
        summary = search.run_search()
    finally:
        stop.set()
        killer.join(5)
    assert len(killed) == 1, "no Ray worker was seen running a training"

    store = search.store
    run = store.get_run(summary["run_id"])
    assert run.status == "finished" and summary["iterations"] == 2
    candidates = store.list_candidates(run.id)
    assert len(candidates) >= 8  # K=4 in each of 2 iterations (plus any repairs)
    assert {c.status for c in candidates} <= FINAL
    trained = [c for c in candidates if c.status in ("trained", "stopped_early")]
    assert trained and all(c.details["training_job"]["executor"] == "ray" for c in trained)

    # the killed worker's job ran again elsewhere, and the run says so
    retried = [c for c in trained if len(c.details["training_job"]["attempts"]) > 1]
    assert retried, "no candidate records a second attempt"
    first, second = retried[0].details["training_job"]["attempts"][:2]
    assert f":{killed[0]} " in first and f":{killed[0]} " not in second
    assert run.summary["worker_retries"] >= 1

    # two groups per iteration (the cluster's 2 CPUs), each halving on its own: 2 of 4 trained
    for it in (0, 1):
        statuses = sorted(c.status for c in trained if c.iteration == it)
        assert statuses == ["stopped_early", "stopped_early", "trained", "trained"]
    assert {e.data.get("group") for e in events if e.kind == "rung"} == {0, 1}

    # checkpoints and logs came back into the run's folder on the driver (stored relative to it)
    trainings = store.list_trainings(run.id)
    stored = [Path(t.checkpoint) for t in trainings if t.checkpoint]
    assert all(not p.is_absolute() and p.parts[0] == "checkpoints" for p in stored)
    checkpoints = [tmp_path / run.id / p for p in stored]
    assert len(checkpoints) == 4 and all(p.is_file() for p in checkpoints)
    assert list((tmp_path / run.id / "tb" / "iteration_1").glob("group_*/metrics.jsonl"))


def test_ray_address_needs_the_ray_executor() -> None:
    with pytest.raises(ValueError, match="it is for the ray executor; add --executor ray"):
        SearchConfig(task="mountaincar", ray_address="auto")
    assert SearchConfig(task="mountaincar", executor="ray", ray_address="auto").workers is None
