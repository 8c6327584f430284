from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Expensive tests run only when asked for (``-m expensive``)."""
    if "expensive" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="expensive: run with -m expensive")
    for item in items:
        if "expensive" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def run_cli():
    """Run the real ``rewardforge`` console entry in a subprocess; returns CompletedProcess."""

    def _run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: str | None = None
    ):
        full_env = {**os.environ, **(env or {})}
        full_env.pop(
            "REWARDFORGE_DEBUG", None
        ) if env is None or "REWARDFORGE_DEBUG" not in env else None
        return subprocess.run(
            [sys.executable, "-m", "rewardforge.cli", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=cwd,
        )

    return _run


# Ray binds its processes to the machine's routable address even for a local cluster; with
# this (read when ray is imported, here and in every Ray process) it keeps to 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session")
def ray_cluster():
    """A Ray cluster on 127.0.0.1 (2 CPUs), started once for the whole test session."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    if ray.nodes()[0]["NodeManagerAddress"] != "127.0.0.1":
        ray.shutdown()
        raise RuntimeError("the test Ray cluster must stay on 127.0.0.1; import ray after conftest")
    try:
        yield ray
    finally:
        ray.shutdown()
