"""Executors: jobs come back as they finish, errors are reports, dead workers are retried.

The job functions live at module level so that worker processes (spawned, or Ray's) can
import them; this module imports nothing heavy, so its workers start quickly."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rewardforge.errors import ConfigError
from rewardforge.runs.executors import LocalExecutor, RayExecutor, make_executor


def square_after(job: tuple[int, float]) -> int:
    value, delay = job
    time.sleep(delay)
    return value * value


def fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three is not allowed")
    return value


def die_once(marker: str) -> int:
    """Kills its own worker process the first time it runs, succeeds the second time."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(1)
    return os.getpid()


def cores_after(seconds: float) -> list[int]:
    time.sleep(seconds)
    return sorted(os.sched_getaffinity(0))


def test_local_executor_defaults_to_the_usable_cores_and_pins_each_worker() -> None:
    usable = sorted(os.sched_getaffinity(0))
    with LocalExecutor() as ex:
        assert ex.workers == len(usable)
        reports = list(ex.map_unordered(cores_after, [1.5] * ex.workers))
    seen = [r.result for r in reports]
    if len(usable) >= 2:
        assert all(len(cores) == 1 for cores in seen)
        assert sorted(c for cores in seen for c in cores) == usable  # one core each
    else:
        assert seen == [usable]


def test_local_executor_reports_each_job_as_it_finishes() -> None:
    with LocalExecutor(workers=2) as ex:
        reports = list(ex.map_unordered(square_after, [(2, 1.5), (3, 0.0), (4, 0.0)]))
    assert [r.index for r in reports][-1] == 0  # the slow job came back last
    assert {r.index: r.result for r in reports} == {0: 4, 1: 9, 2: 16}
    assert all(r.error is None and r.retries == 0 for r in reports)
    assert all(":" in r.attempts[0] for r in reports)  # host:pid of the worker


def test_local_executor_reports_a_job_error_without_retrying() -> None:
    with LocalExecutor(workers=1) as ex:
        reports = {r.index: r for r in ex.map_unordered(fail_on_three, [1, 3])}
    assert reports[0].result == 1
    assert reports[1].result is None
    assert reports[1].error == "ValueError: three is not allowed"
    assert reports[1].retries == 0


def test_local_executor_runs_a_job_again_when_its_worker_dies(tmp_path) -> None:
    with LocalExecutor(workers=1, max_retries=1) as ex:
        (report,) = ex.map_unordered(die_once, [str(tmp_path / "marker")])
    assert report.error is None and isinstance(report.result, int)
    assert report.retries == 1
    assert report.attempts[0].startswith("lost")


def test_local_executor_gives_up_after_its_retries(tmp_path) -> None:
    markers = [str(tmp_path / "a"), str(tmp_path / "b")]
    with LocalExecutor(workers=1, max_retries=0) as ex:
        reports = list(ex.map_unordered(die_once, markers))
    assert len(reports) == 2
    assert all(r.result is None and "died" in (r.error or "") for r in reports)


def test_make_executor_explains_bad_settings() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'dask'; use one of: local, ray"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="--ray-address is for --executor ray"):
        make_executor("local", address="auto")
    with pytest.raises(ConfigError, match="at least 1 worker"):
        LocalExecutor(workers=0)


def test_ray_executor_runs_tasks_and_reports_errors(ray_cluster) -> None:
    with RayExecutor(num_cpus_per_task=1) as ex:
        assert ex.parallelism == 2  # the test cluster's 2 CPUs
        reports = {r.index: r for r in ex.map_unordered(fail_on_three, [1, 2, 3])}
    assert {i: r.result for i, r in reports.items()} == {0: 1, 1: 2, 2: None}
    assert reports[2].error == "ValueError: three is not allowed"
    assert all(len(r.attempts) == 1 and "(node " in r.attempts[0] for r in reports.values())
    assert ray_cluster.is_initialized()  # it joined the session's cluster and left it running
