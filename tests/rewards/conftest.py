from __future__ import annotations

import os

import numpy as np
import pytest

from rewardforge.errors import SandboxUnavailableError
from rewardforge.rewards.sandbox import RewardSandbox

SECRET_NAME = "REWARDFORGE_TEST_SECRET"
SECRET = "sk-test-4f1c9a-do-not-leak"


@pytest.fixture(scope="module")
def sandbox():
    """One worker shared by a module's tests (it is restarted whenever a test kills it); the
    parent holds a secret in its environment that the worker must never see."""
    os.environ[SECRET_NAME] = SECRET
    try:
        box = RewardSandbox(deadline_s=1.0, memory_mb=768, mode="strict")
    except SandboxUnavailableError as exc:  # e.g. a container without user namespaces
        pytest.skip(f"this machine cannot run the full sandbox: {exc}")
    yield box
    box.close()
    os.environ.pop(SECRET_NAME, None)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=8),
        "y": rng.normal(size=8),
        "pos": rng.normal(size=(8, 3)),
        "_env_reward": np.ones(8),
        "_success": np.zeros(8, dtype=bool),
    }
