from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from rewardforge.errors import (
    ConfigError,
    RewardError,
    RewardOutputError,
    RewardTimeoutError,
    RewardWorkerDiedError,
)
from rewardforge.rewards.base import RewardFunction
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import (
    REQUIRED_LAYERS,
    RewardSandbox,
    SandboxedReward,
    describe_layers,
)

BATCHED = RewardProgram(
    "import numpy as np\ndef compute_reward(pos, y):\n    d = np.linalg.norm(pos, axis=-1)\n"
    "    return -d + y, {'dist': -d, 'y': y}\n",
    ("pos", "y"),
)
SCALAR = RewardProgram(
    "import math\ndef compute_reward(x):\n    if x > 0:\n        return math.sqrt(x), {'pos': 1.0}\n"
    "    return 0.0, {'pos': 0.0}\n",
    ("x",),
)


def test_batched_program(sandbox, batch):
    key = sandbox.add(BATCHED)
    out = sandbox.evaluate(key, batch)
    dist = np.linalg.norm(batch["pos"], axis=-1)
    assert out.reward.shape == (8,) and out.reward.dtype == np.float64
    assert np.allclose(out.reward, -dist + batch["y"])
    assert list(out.components) == ["dist", "y"]
    assert sandbox.components(key) == ("dist", "y")
    assert not sandbox.row_mode(key)


def test_single_sample_code_runs_row_by_row(sandbox, batch):
    key = sandbox.add(SCALAR)
    out = sandbox.evaluate(key, batch)
    x = batch["x"]
    assert np.allclose(out.reward, np.where(x > 0, np.sqrt(np.abs(x)), 0.0))
    assert np.allclose(out.components["pos"], x > 0)
    assert sandbox.row_mode(key)
    one = sandbox.evaluate(key, {"x": x[:1]})
    assert one.reward.shape == (1,)


def test_evaluate_many_returns_errors_in_place(sandbox, batch):
    bad = sandbox.add(
        RewardProgram("def compute_reward(x):\n    return x / 0.0 * 0.0, {}\n", ("x",))
    )
    slow = sandbox.add(
        RewardProgram("def compute_reward(x):\n    while True:\n        pass\n", ("x",))
    )
    good = sandbox.add(BATCHED)
    results = sandbox.evaluate_many([good, bad, slow, good], batch)
    assert np.allclose(results[0].reward, results[3].reward)
    assert isinstance(results[1], RewardOutputError)
    assert isinstance(results[2], RewardTimeoutError)
    assert sandbox.evaluate(good, batch).reward.shape == (8,)  # reloaded into the new worker


def test_component_names_must_stay_the_same(sandbox, batch):
    source = (
        "import numpy as np\ndef compute_reward(x):\n    if x.shape[0] > 4:\n"
        "        return x, {'a': x}\n    return x, {'b': x}\n"
    )
    key = sandbox.add(RewardProgram(source, ("x",)))
    sandbox.evaluate(key, batch)
    with pytest.raises(RewardOutputError, match=r"returned components \['b'\] but \['a'\] before"):
        sandbox.evaluate(key, {"x": batch["x"][:2]})


def test_bounds_are_configurable(batch):
    with RewardSandbox(bounds=(-1.0, 1.0)) as box:
        key = box.add(RewardProgram("def compute_reward(x):\n    return x * 0 + 5.0, {}\n", ("x",)))
        with pytest.raises(RewardOutputError, match=r"outside the allowed range \[-1, 1\]"):
            box.evaluate(key, batch)


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for an init that reaps slowly."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" in f.read()
    except FileNotFoundError:
        return True


def test_dead_worker_is_replaced(sandbox, batch):
    key = sandbox.add(BATCHED)
    old = sandbox.pid(key)
    os.kill(old, signal.SIGKILL)  # from outside, between calls: no program is to blame
    time.sleep(0.05)
    assert sandbox.evaluate(key, batch).reward.shape == (8,)
    assert sandbox.pid(key) != old and sandbox.quarantined(key) is None


def test_dead_template_is_replaced(sandbox, batch):
    """Killing the template takes its workers with it; the next call starts both again."""
    key = sandbox.add(BATCHED)
    template, worker = sandbox.worker_pid, sandbox.pid(key)
    os.kill(template, signal.SIGKILL)
    time.sleep(0.1)
    assert _gone(worker)  # died with its template (parent-death signal)
    assert sandbox.evaluate(key, batch).reward.shape == (8,)
    assert sandbox.worker_pid != template and sandbox.quarantined(key) is None


def test_worker_killed_mid_call_is_reported(sandbox, batch):
    slow = RewardProgram(
        "def compute_reward(x):\n    import time\n    time.sleep(0.5)\n    return x, {}\n", ("x",)
    )
    key = sandbox.add(slow)
    pid = sandbox.pid(key)
    import threading

    threading.Timer(0.1, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(RewardWorkerDiedError, match="SIGKILL") as caught:
        sandbox.evaluate(key, batch)
    assert caught.value.reason == "signal"


def test_template_killed_mid_call_does_not_blame_the_program(sandbox, batch):
    slow = RewardProgram(
        "def compute_reward(x):\n    import time\n    time.sleep(0.5)\n    return x, {}\n", ("x",)
    )
    key = sandbox.add(slow)
    import threading

    threading.Timer(0.1, os.kill, (sandbox.worker_pid, signal.SIGKILL)).start()
    with pytest.raises(RewardWorkerDiedError, match="template process died") as caught:
        sandbox.evaluate(key, batch)
    assert caught.value.reason == "sandbox" and not caught.value.quarantined
    assert sandbox.quarantined(key) is None
    assert sandbox.evaluate(key, batch).reward.shape == (8,)  # a new template, a new worker


def test_only_named_variables_are_sent_and_missing_ones_are_reported(sandbox, batch):
    key = sandbox.add(BATCHED)
    assert sandbox.evaluate(key, {"pos": batch["pos"], "y": batch["y"]}).reward.shape == (8,)
    with pytest.raises(ConfigError, match="no variable 'y'"):
        sandbox.evaluate(key, {"pos": batch["pos"]})
    with pytest.raises(ConfigError, match="same leading batch axis"):
        sandbox.evaluate(key, {"pos": batch["pos"], "y": batch["y"][:3]})


def test_sandboxed_reward_is_a_reward_function(sandbox, batch):
    reward = SandboxedReward(sandbox, BATCHED, name="reach")
    assert isinstance(reward, RewardFunction)
    assert reward.name == "reach" and reward.components is None
    assert reward(batch).reward.shape == (8,)
    assert reward.components == ("dist", "y")
    reward.close()


def test_large_batches_grow_shared_memory(sandbox):
    rng = np.random.default_rng(1)
    big = {"pos": rng.normal(size=(100_000, 3)), "y": rng.normal(size=100_000)}
    key = sandbox.add(BATCHED)
    out = sandbox.evaluate(key, big)
    assert np.allclose(out.reward, -np.linalg.norm(big["pos"], axis=-1) + big["y"])


def test_strict_mode_refuses_missing_layers():
    report = {name: [True, "ok"] for name in REQUIRED_LAYERS}
    assert all(layer.active for layer in describe_layers(report) if layer.required)
    report["landlock"] = [False, "kernel has no Landlock"]
    missing = [
        layer.name for layer in describe_layers(report) if layer.required and not layer.active
    ]
    assert missing == ["landlock"]
    with pytest.raises(ConfigError, match="'strict' or 'default'"):
        RewardSandbox(mode="paranoid")  # type: ignore[arg-type]


def test_this_machine_has_every_layer(sandbox):
    """The shared fixture runs in strict mode; here every required layer must be active."""
    missing = [layer.name for layer in sandbox.layers if layer.required and not layer.active]
    assert sandbox.mode == "strict" and not missing
    names = [layer.name for layer in sandbox.layers]
    assert {"seccomp", "landlock", "network namespace", "empty environment"} <= set(names)
    assert "program isolation" in names


def test_closed_sandbox_refuses_work(batch):
    box = RewardSandbox()
    key = box.add(BATCHED)
    pids = (box.pid(key), box.worker_pid)
    box.close()
    with pytest.raises(ConfigError, match="closed"):
        box.evaluate(key, batch)
    assert all(_gone(pid) for pid in pids)
    assert isinstance(RewardOutputError("x"), RewardError)


def test_cpu_limit_kills_the_worker(batch):
    loop = RewardProgram("def compute_reward(x):\n    while True:\n        pass\n", ("x",))
    with RewardSandbox(cpu_s=1, deadline_s=10.0) as box:
        key = box.add(loop)
        with pytest.raises(RewardWorkerDiedError, match="CPU time limit") as caught:
            box.evaluate(key, batch)
        assert caught.value.reason == "cpu" and not caught.value.quarantined


def test_batch_too_large_for_the_memory_limit_is_a_config_error(sandbox):
    key = sandbox.add(BATCHED)
    huge = {"pos": np.zeros((1, 3)), "y": np.zeros(1)}
    huge["pos"] = np.broadcast_to(np.zeros(3), (20_000_000, 3))
    huge["y"] = np.broadcast_to(np.zeros(1), (20_000_000,))
    with pytest.raises(ConfigError, match="split the batch or raise memory_mb"):
        sandbox.evaluate(key, huge)
    assert sandbox.quarantined(key) is None


def test_oversized_program_is_refused_before_it_reaches_a_worker(sandbox):
    from rewardforge.errors import RewardRejectedError
    from rewardforge.rewards.program import MAX_PROGRAM_BYTES

    padding = "#" * (MAX_PROGRAM_BYTES + 1)
    big = RewardProgram(f"def compute_reward(x):\n    return x, {{}}\n{padding}\n", ("x",))
    started = time.monotonic()
    with pytest.raises(RewardRejectedError, match="a reward program may be at most 1,000,000"):
        sandbox.add(big)
    assert time.monotonic() - started < 1.0
