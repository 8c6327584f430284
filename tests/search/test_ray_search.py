"""An evolve search through ``RayExecutor`` on a local Ray cluster (127.0.0.1), with one Ray
worker process killed in the middle of a training: Ray runs the training again on another
worker, the run records the retry, and every candidate ends with a status."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from rewardforge.errors import ConfigError
from rewardforge.runs import Workspace
from rewardforge.runs.executors import RAY_TASK_NAME
from rewardforge.search.runner import Search
from rewardforge.tasks.registry import get_task, register_task
from tests.search.support import EventLog, make_config

#: mountaincar with 2 evaluation episodes (not 10) of 200 steps (not 999): faster rungs.
QUICK = "mountaincar-quick-eval"
TITLE = f"ray::{RAY_TASK_NAME}"  # the process title of a Ray worker while it runs our task
FINAL = {"trained", "stopped_early", "failed", "rejected", "screened_out"}


@pytest.fixture(scope="module", autouse=True)
def quick_task() -> None:
    base = get_task("mountaincar")
    fitness = base.fitness.model_copy(update={"num_episodes": 2})
    quick = base.model_copy(update={"id": QUICK, "fitness": fitness, "max_episode_steps": 200})
    register_task(quick, overwrite=True)


def training_pids() -> list[int]:
    """Ray worker processes of this test session's cluster (descendants of this process: not
    another suite's, on a shared machine) running one of our trainings, with its reward sandbox
    started."""
    procs = {int(p.name): _read(p / "stat") for p in Path("/proc").iterdir() if p.name.isdigit()}
    parent_of = {pid: int(stat.rsplit(")", 1)[1].split()[1]) for pid, stat in procs.items() if stat}
    parents = set(parent_of.values())

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parent_of.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [
        pid
        for pid in procs
        if pid in parents and _read(Path(f"/proc/{pid}/cmdline")).startswith(TITLE) and ours(pid)
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
    config = make_config(
        QUICK,
        samples=4,
        iterations=2,
        steps=1024,
        num_envs=2,
        rungs=(0.5, 1.0),
        seed=3,
        success_target=1.0,
        final_seeds=0,
        executor="ray",
        workers=None,
    )
    log = EventLog()
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_one_training, args=(stop, killed), daemon=True)
    killer.start()
    try:
        search = Search(config, Workspace(tmp_path), callbacks=[log])
        summary = search.run().to_dict()
    finally:
        stop.set()
        killer.join(5)
    assert len(killed) == 1, "no Ray worker was seen running a training"

    store = search.workspace.store
    run = store.get_run(summary["run_id"])
    assert run.status == "finished" and summary["iterations"] == 2
    candidates = store.list_candidates(run.id)
    assert len(candidates) >= 8  # K=4 in each of 2 iterations (plus any repairs)
    assert {c.status for c in candidates} <= FINAL
    trained = [c for c in candidates if c.status in ("trained", "stopped_early")]
    assert trained and all(c.details.training.job.executor == "ray" for c in trained)

    # the killed worker's job ran again elsewhere, and the run says so
    retried = [c for c in trained if len(c.details.training.job.attempts) > 1]
    assert retried, "no candidate records a second attempt"
    first, second = retried[0].details.training.job.attempts[:2]
    assert f":{killed[0]} " in first and f":{killed[0]} " not in second
    assert run.summary["worker_retries"] >= 1

    # two groups per iteration (the cluster's 2 CPUs), each halving on its own: 2 of 4 trained
    for it in (0, 1):
        statuses = sorted(c.status for c in trained if c.iteration == it)
        assert statuses == ["stopped_early", "stopped_early", "trained", "trained"]
    assert {e.group for e in log.of("on_training_progress")} == {0, 1}

    # checkpoints and logs came back into the run's folder on the driver (stored relative to it)
    trainings = store.list_trainings(run.id)
    stored = [Path(t.checkpoint) for t in trainings if t.checkpoint]
    assert all(not p.is_absolute() and p.parts[0] == "checkpoints" for p in stored)
    checkpoints = [tmp_path / run.id / p for p in stored]
    assert len(checkpoints) == 4 and all(p.is_file() for p in checkpoints)
    assert list((tmp_path / run.id / "tb" / "iteration_1").glob("group_*/metrics.jsonl"))


def test_ray_address_needs_the_ray_executor() -> None:
    with pytest.raises(ConfigError, match=r"executor.ray_address \(--ray-address\) is for the "
                       r"ray executor; set executor.name: ray \(--executor ray\)"):  # fmt: skip
        make_config("mountaincar", ray_address="auto")
    config = make_config("mountaincar", executor="ray", ray_address="auto", workers=None)
    assert config.executor.workers is None  # the cluster's CPUs
