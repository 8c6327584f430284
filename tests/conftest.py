from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
