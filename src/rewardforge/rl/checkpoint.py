"""Policy checkpoints: one member's actor weights plus what is needed to rebuild and run it.

``load_policy(path)`` returns a ``Policy`` with ``act(obs)`` (deterministic, numpy in and out)
for evaluation, and ``to_module()`` (a plain ``torch.nn.Module`` from observation to action) for
export with ``torch.jit.trace``/``torch.onnx``.

Run folders get shared, so loading a checkpoint must never run code from it. A checkpoint is a
``torch.save`` file holding only tensors and one JSON string: ``{"format": 2, "meta": JSON,
"tensors": {path: tensor}}``. ``save_policy`` takes any nested dict (lists, numbers, strings,
tensors, numpy arrays) and splits it: every tensor goes to ``tensors`` under its path in the
payload, everything else stays in the JSON with a ``{"__tensor__": path}`` in each tensor's
place. It is read back with ``torch.load(weights_only=True)``, which builds tensors and plain
containers and refuses anything else (a pickled object, a function), and ``json``. Format-1
checkpoints (before issue 20: the payload pickled as it was) are read the same restricted way.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardforge.errors import TrainerError
from rewardforge.rl.nets import BatchedMLP

FORMAT_VERSION = 2
TENSOR = "__tensor__"
NUMPY = "__numpy__"


def _split(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` as JSON, its tensors moved to ``tensors`` (see the module docstring)."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().cpu().contiguous()
        return {TENSOR: path}
    if isinstance(value, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(value))
        return {TENSOR: path, NUMPY: True}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key in (TENSOR, NUMPY):
                raise TrainerError(f"checkpoint keys must be strings (not {TENSOR}), got {key!r}")
            out[key] = _split(item, f"{path}/{key}" if path else key, tensors)
        return out
    if isinstance(value, (list, tuple)):
        return [_split(item, f"{path}/{i}", tensors) for i, item in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN or infinity; read back as a string
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TrainerError(
        f"a checkpoint holds tensors, arrays, numbers, strings, lists and dicts; {path!r} is a "
        f"{type(value).__name__}"
    )


def _join(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if TENSOR in value:
            tensor = tensors.get(value[TENSOR])
            if not isinstance(tensor, torch.Tensor):
                raise TrainerError(f"the checkpoint lacks tensor {value[TENSOR]!r}")
            return tensor.numpy() if value.get(NUMPY) else tensor
        return {k: _join(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    return value


def save_policy(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (any nested dict of tensors, arrays and JSON values) as a checkpoint."""
    tensors: dict[str, torch.Tensor] = {}
    meta = _split(dict(payload), "", tensors)
    torch.save({"format": FORMAT_VERSION, "meta": json.dumps(meta), "tensors": tensors}, str(path))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload ``save_policy`` wrote, read without running anything from the file."""
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainerError(
            f"cannot load checkpoint {path}: it is not a rewardforge policy checkpoint, or it "
            f"holds more than weights and metadata (nothing from it was run; {first[:200]})"
        ) from None
    if isinstance(raw, dict) and raw.get("format") == FORMAT_VERSION:
        try:
            meta = json.loads(raw["meta"])
        except (KeyError, TypeError, json.JSONDecodeError):
            raise TrainerError(f"checkpoint {path} has no readable metadata") from None
        tensors = raw.get("tensors")
        if not isinstance(meta, dict) or not isinstance(tensors, dict):
            raise TrainerError(f"checkpoint {path} is malformed (format {FORMAT_VERSION})")
        return dict(_join(meta, tensors), format=FORMAT_VERSION)
    if isinstance(raw, dict) and raw.get("format") == 1:  # before issue 20: read as it is
        return raw
    raise TrainerError(
        f"{path} is not a rewardforge policy checkpoint (format {FORMAT_VERSION}); "
        "SB3 checkpoints load with stable_baselines3's own .load()"
    )


class _ActionHead(nn.Module):
    """Observation ``(B, obs_dim)`` -> deterministic action ``(B, ...)``."""

    def __init__(self, actor: BatchedMLP, kind: str, act_dim: int, low: Any, high: Any) -> None:
        super().__init__()
        self.actor, self.kind, self.act_dim = actor, kind, act_dim
        low_t = torch.as_tensor(low if low is not None else [0.0], dtype=torch.float32)
        high_t = torch.as_tensor(high if high is not None else [0.0], dtype=torch.float32)
        self.low: torch.Tensor
        self.high: torch.Tensor
        self.register_buffer("low", low_t)
        self.register_buffer("high", high_t)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs.unsqueeze(0)).squeeze(0)
        if self.kind == "categorical":
            return out.argmax(-1)
        if self.kind == "squashed":  # SAC: the first act_dim outputs are the mean
            scale, bias = (self.high - self.low) / 2, (self.high + self.low) / 2
            return torch.tanh(out[..., : self.act_dim]) * scale + bias
        return torch.max(torch.min(out, self.high), self.low)


class Policy:
    """A loaded checkpoint: ``act(obs)`` and ``to_module()``; ``info`` holds its metadata."""

    def __init__(self, payload: dict[str, Any]) -> None:
        out_dim = payload["act_dim"] * (2 if payload["kind"] == "squashed" else 1)
        actor = BatchedMLP(
            1, payload["obs_dim"], out_dim, payload["net_arch"], payload["activation"]
        )
        actor.load_state_dict(payload["actor"])
        self.module = _ActionHead(
            actor, payload["kind"], payload["act_dim"], payload.get("low"), payload.get("high")
        ).eval()
        self.act_shape = tuple(payload.get("act_shape", ()))
        self.info = {k: v for k, v in payload.items() if k != "actor"}

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        out = self.module(t.reshape(t.shape[0], -1)).numpy()
        return out.reshape(out.shape[0], *self.act_shape)

    def to_module(self) -> nn.Module:
        return self.module


def load_policy(path: str | Path) -> Policy:
    """The policy in a checkpoint (weights and JSON only: nothing in the file is run)."""
    payload = read_checkpoint(path)
    try:
        return Policy(payload)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise TrainerError(f"checkpoint {path} does not describe a policy: {exc}") from None
