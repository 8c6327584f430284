"""A run folder from someone else: ``report`` never runs code from it, and checkpoint paths are
stored relative to the run folder, so a copied workspace finds its own files (issue 20)."""

from __future__ import annotations

import os
import shutil
import sqlite3

import numpy as np
import torch

from rewardforge.rl.checkpoint import load_policy, save_policy
from rewardforge.rl.nets import BatchedMLP
from rewardforge.runs import Workspace
from rewardforge.runs.summary import best_candidate, best_training
from tests.runs.fake_run import make_fake_run


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _policy() -> dict:
    return {
        "kind": "squashed",
        "obs_dim": 2,
        "act_dim": 1,
        "act_shape": [1],
        "net_arch": [8],
        "activation": "tanh",
        "actor": BatchedMLP(1, 2, 2, [8], "tanh").state_dict(),
        "low": [-1.0],
        "high": [1.0],
    }


def test_report_on_a_crafted_checkpoint_runs_nothing(tmp_path, run_cli):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws, with_checkpoint=False)
    best = ws.store.get_run(run.id).best_candidate_id
    evil = ws.checkpoint_dir(run.id) / "member0_seed0.pt"
    marker = tmp_path / "pwned"
    torch.save(_Payload(str(marker)), evil)
    ws.store.record_training(best, seed=0, budget_steps=30_000, fitness=0.9, checkpoint=evil)
    ws.close()
    assert not ws.gif_path(run.id).exists()
    proc = run_cli("report", run.id, "--workspace", str(ws.root))
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "the checkpoint's payload ran"
    html = ws.report_path(run.id).read_text()
    assert "nothing from it was run" in html  # the report says why there is no animation


def test_checkpoints_are_stored_relative_and_found_in_a_copied_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws, with_checkpoint=False)
    best = ws.store.get_run(run.id).best_candidate_id
    path = ws.checkpoint_dir(run.id) / "iteration_1" / "member0_seed0.pt"
    path.parent.mkdir(parents=True)
    save_policy(path, _policy())
    ws.store.record_training(best, seed=0, budget_steps=30_000, fitness=0.9, checkpoint=path)
    stored = ws.store.find_training(best, 0, 30_000).checkpoint
    assert stored == "checkpoints/iteration_1/member0_seed0.pt"
    ws.close()
    shutil.copytree(ws.root, tmp_path / "copy")
    shutil.rmtree(ws.root)
    copy = Workspace(tmp_path / "copy")
    candidate = best_candidate(copy.store, copy.store.get_run(run.id))
    training = best_training(copy.store, candidate)
    assert training.checkpoint == str(copy.root / run.id / stored)
    copy.close()


def test_old_absolute_paths_still_resolve(tmp_path):
    ws = Workspace(tmp_path / "ws")
    run = make_fake_run(ws, with_checkpoint=False)
    best = ws.store.get_run(run.id).best_candidate_id
    path = ws.checkpoint_dir(run.id) / "member0_seed0.pt"
    save_policy(path, _policy())
    ws.store.record_training(best, seed=0, budget_steps=30_000, fitness=0.9, checkpoint=path)
    ws.close()
    with sqlite3.connect(ws.store_path) as conn:  # a row written before issue 20
        conn.execute(
            "UPDATE trainings SET checkpoint = ? WHERE candidate_id = ?", (str(path), best)
        )
    candidate = best_candidate(ws.store, ws.store.get_run(run.id))
    assert best_training(ws.store, candidate).checkpoint == str(path)  # there: as it is
    ws.close()
    shutil.move(ws.root, tmp_path / "moved")
    moved = Workspace(tmp_path / "moved")
    training = best_training(moved.store, candidate)  # gone: the same file in this copy
    assert training.checkpoint == str(moved.root / run.id / "checkpoints" / "member0_seed0.pt")
    assert load_policy(training.checkpoint).act(np.zeros((1, 2), np.float32)).shape == (1, 1)
    moved.close()
