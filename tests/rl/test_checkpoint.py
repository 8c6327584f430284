"""Checkpoints hold weights and JSON only: any payload round-trips, old ones still load, and a
file that would run code when unpickled is refused without running it (issue 20)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from rewardforge.errors import TrainerError
from rewardforge.rl.checkpoint import load_policy, read_checkpoint, save_policy
from rewardforge.rl.nets import BatchedMLP


def _policy_payload() -> dict:
    actor = BatchedMLP(1, 3, 2, [8], "tanh")
    return {
        "algo": "sac",
        "kind": "squashed",
        "obs_dim": 3,
        "act_dim": 1,
        "act_shape": [1],
        "net_arch": [8],
        "activation": "tanh",
        "actor": actor.state_dict(),
        "low": [-2.0],
        "high": [2.0],
    }


def test_any_nested_payload_round_trips(tmp_path):
    payload = {
        **_policy_payload(),
        "obs_rms": {"mean": torch.arange(3.0), "var": np.ones(3, np.float32), "count": 7},
        "history": [1, 2.5, {"nested": torch.zeros(2, 2)}],
        "note": None,
        "lost": math.nan,
    }
    save_policy(tmp_path / "p.pt", payload)
    back = read_checkpoint(tmp_path / "p.pt")
    assert torch.equal(back["obs_rms"]["mean"], torch.arange(3.0))
    assert isinstance(back["obs_rms"]["var"], np.ndarray) and back["obs_rms"]["count"] == 7
    assert torch.equal(back["history"][2]["nested"], torch.zeros(2, 2))
    assert back["history"][:2] == [1, 2.5] and back["note"] is None and back["lost"] == "nan"
    for name, tensor in payload["actor"].items():
        assert torch.equal(back["actor"][name], tensor)
    obs = np.zeros((4, 3), np.float32)
    assert load_policy(tmp_path / "p.pt").act(obs).shape == (4, 1)


def test_payload_with_an_object_is_refused_when_saving(tmp_path):
    with pytest.raises(TrainerError, match="'scheduler' is a object"):
        save_policy(tmp_path / "p.pt", {**_policy_payload(), "scheduler": object()})


def test_format_1_checkpoints_still_load(tmp_path):
    """Written before issue 20: the payload pickled as it was (tensors, lists, strings)."""
    torch.save({"format": 1, **_policy_payload()}, tmp_path / "old.pt")
    assert load_policy(tmp_path / "old.pt").act(np.zeros((2, 3), np.float32)).shape == (2, 1)


class _Payload:
    """What an attacker puts in a shared run folder: unpickling it runs a command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "inside_a_payload"])
def test_crafted_pickle_is_refused_and_never_run(tmp_path, wrapped):
    marker = tmp_path / "pwned"
    evil = _Payload(str(marker))
    torch.save(
        {"format": 2, "meta": "{}", "tensors": {}, "x": evil} if wrapped else evil,
        tmp_path / "evil.pt",
    )
    with pytest.raises(TrainerError, match="nothing from it was run"):
        load_policy(tmp_path / "evil.pt")
    assert not marker.exists()
