"""Issue 20 item 5: ``resume`` on a run whose recorded owner process is alive is refused, so a
run never has two writers; once that process is gone the run can be claimed again."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from rewardforge.errors import RunError
from rewardforge.runs import Workspace

OWNER = textwrap.dedent("""\
    import sys, time
    from rewardforge.runs import Workspace
    store = Workspace(sys.argv[1]).store
    store.set_run_status(sys.argv[2], "running")
    print("owner", flush=True)
    time.sleep(120)
""")


@pytest.fixture
def owned_run(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = ws.store.create_run("pendulum", "evolve", {"task": "pendulum"})
    ws.store.set_run_status(run.id, "interrupted")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(ws.root), run.id], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None and owner.stdout.readline().strip() == "owner"
    yield ws, run, owner
    owner.kill()
    owner.wait()
    ws.close()


def test_resume_of_a_running_run_is_refused(owned_run, run_cli):
    ws, run, owner = owned_run
    proc = run_cli("resume", run.id, "--workspace", str(ws.root), timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"still running (process {owner.pid}" in lines[0] and "kill" in lines[0]
    assert ws.store.get_run(run.id).pid == owner.pid  # the owner keeps the run


def test_run_can_be_claimed_once_its_owner_is_gone(owned_run):
    ws, run, owner = owned_run
    with pytest.raises(RunError, match=f"still running \\(process {owner.pid}"):
        ws.store.set_run_status(run.id, "running")
    owner.kill()
    owner.wait()
    claimed = ws.store.set_run_status(run.id, "running")
    assert claimed.status == "running" and claimed.pid != owner.pid
