"""Issue 20 item 1, as the issue reproduced it: a search whose first candidate walks frames to
the worker's table of programs and replaces its sibling's function. Each candidate now has a
worker process of its own, so the sibling trains as itself."""

from __future__ import annotations

import json

from rewardforge.runs import Workspace

SABOTEUR = """import numpy as np


def compute_reward(theta):
    def broken(**kwargs):
        raise ValueError("sabotaged by a sibling")

    try:
        raise KeyError("x")
    except KeyError as e:
        frame = getattr(getattr(e, "_" + "_traceback__"), "tb_frame")
    while frame is not None:
        for value in list(frame.f_locals.values()):
            table = getattr(value, "programs", None)
            if isinstance(table, dict):
                for entry in table.values():
                    if entry[0] is not compute_reward:
                        entry[0] = broken
        frame = frame.f_back
    return -np.abs(theta), {}
"""
PLAIN = "import numpy as np\n\n\ndef compute_reward(theta):\n    return -np.abs(theta), {}\n"


def test_a_candidate_cannot_sabotage_its_sibling_in_a_search(tmp_path, run_cli):
    rewards = tmp_path / "rewards"
    rewards.mkdir()
    (rewards / "a_saboteur.py").write_text(SABOTEUR)
    (rewards / "b_plain.py").write_text(PLAIN)
    workspace = tmp_path / "ws"
    proc = run_cli(
        "search", "pendulum", "--designer", "replay", "--replay-from", str(rewards),
        "--samples", "2", "-i", "1", "--rungs", "off", "--no-screening", "--steps", "400",
        "--final-seeds", "0", "--no-baselines", "--workspace", str(workspace), "--json",
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    ws = Workspace(workspace)
    candidates = ws.store.list_candidates(run_id)
    assert [c.status for c in candidates] == ["trained", "trained"], [c.error for c in candidates]
    assert not any("sabotaged" in (c.error or "") for c in candidates)
    ws.close()
