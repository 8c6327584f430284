"""Policy checkpoints: one member's actor weights plus what is needed to rebuild and run it.

``load_policy(path)`` returns a ``Policy`` with ``act(obs)`` (deterministic, numpy in and out)
for evaluation, and ``to_module()`` (a plain ``torch.nn.Module`` from observation to action) for
export with ``torch.jit.trace``/``torch.onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardforge.errors import TrainerError
from rewardforge.rl.nets import BatchedMLP

FORMAT_VERSION = 1


def save_policy(path: str | Path, payload: dict[str, Any]) -> None:
    torch.save({"format": FORMAT_VERSION, **payload}, str(path))


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
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=False)
    except (OSError, RuntimeError) as exc:
        raise TrainerError(f"cannot load checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise TrainerError(
            f"{path} is not a rewardforge policy checkpoint (format {FORMAT_VERSION}); "
            "SB3 checkpoints load with stable_baselines3's own .load()"
        )
    return Policy(payload)
