"""Batched networks: K independent MLPs stored as stacked weights, run with one ``baddbmm``.

A population of K members (candidate x seed) is one model whose parameters have a leading
member axis. Inputs are ``(K, B, in)``; member ``k`` only ever touches ``weight[k]``, so one
optimizer step over the stacked tensors trains K independent networks (Adam is elementwise).
Each member is initialised from its own seed, so a member's initial weights do not depend on
which other members share the population.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
NORMS = ("none", "layer", "batch")


class BatchedLinear(nn.Module):
    """``y[k] = x[k] @ weight[k] + bias[k]`` for K members at once."""

    def __init__(self, num_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def init_member(self, k: int, gen: torch.Generator, scheme: str, gain: float) -> None:
        """Initialise member ``k``: ``orthogonal`` (PPO, CleanRL) or ``uniform`` (torch default)."""
        w = self.weight.data[k]  # (in, out)
        if scheme == "orthogonal":
            # nn.init.orthogonal_ with an explicit generator, on the (out, in) matrix
            rows, cols = w.shape[1], w.shape[0]
            flat = torch.randn(max(rows, cols), min(rows, cols), generator=gen)
            q, r = torch.linalg.qr(flat)
            q = q * torch.sign(torch.diagonal(r))
            q = q if rows >= cols else q.T
            w.copy_(gain * q[:rows, :cols].T)
            self.bias.data[k].zero_()
        else:
            bound = 1.0 / math.sqrt(w.shape[0])
            w.uniform_(-bound, bound, generator=gen)
            self.bias.data[k].uniform_(-bound, bound, generator=gen)


class BatchedNorm(nn.Module):
    """Per-member normalisation of ``(K, B, F)`` features, without learned scale or shift.

    ``layer``: over the features of each row (LayerNorm). ``batch``: over the rows of each
    member's batch (BatchNorm, as CrossQ's critics), with running statistics used in eval mode
    (``momentum`` is the weight of the newest batch)."""

    def __init__(self, num_members: int, features: int, kind: str, momentum: float = 0.01):
        super().__init__()
        if kind not in NORMS or kind == "none":
            raise ValueError(f"norm must be one of {', '.join(NORMS[1:])}, got {kind!r}")
        self.kind, self.momentum, self.features = kind, momentum, features
        self.running_mean: torch.Tensor
        self.running_var: torch.Tensor
        self.register_buffer("running_mean", torch.zeros(num_members, 1, features))
        self.register_buffer("running_var", torch.ones(num_members, 1, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "layer":
            return F.layer_norm(x, (self.features,))
        if self.training:
            var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + 1e-5)


class BatchedMLP(nn.Module):
    """K members of ``in -> hidden... -> out`` with one activation between layers, and a
    normalisation (``norm``: none, layer or batch) after each hidden layer when asked."""

    def __init__(
        self,
        num_members: int,
        in_features: int,
        out_features: int,
        net_arch: Sequence[int],
        activation: str = "tanh",
        norm: str = "none",
    ) -> None:
        super().__init__()
        sizes = [in_features, *net_arch, out_features]
        self.layers: list[BatchedLinear] = nn.ModuleList(  # type: ignore[assignment]
            BatchedLinear(num_members, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.norms: list[BatchedNorm] | None = None
        if norm != "none":
            self.norms = nn.ModuleList(  # type: ignore[assignment]
                BatchedNorm(num_members, width, norm) for width in net_arch
            )
        self.act = ACTIVATIONS[activation]()
        # plain tuples for the forward pass: slicing a ModuleList builds a new one per call,
        # which cost about 6% of a small SAC update
        self._hidden = tuple(self.layers)[:-1]
        self._hidden_norms = tuple(self.norms) if self.norms is not None else None
        self.num_members = num_members
        self.net_arch = list(net_arch)
        self.activation = activation
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._hidden_norms is None:
            for layer in self._hidden:
                x = self.act(layer(x))
        else:
            for layer, norm in zip(self._hidden, self._hidden_norms, strict=True):
                x = self.act(norm(layer(x)))
        return self.layers[-1](x)

    @torch.no_grad()
    def init_members(
        self, seeds: Sequence[int], scheme: str, hidden_gain: float = 1.0, out_gain: float = 1.0
    ) -> None:
        for k, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for i, layer in enumerate(self.layers):
                gain = out_gain if i == len(self.layers) - 1 else hidden_gain
                layer.init_member(k, gen, scheme, gain)


def select_members(module: nn.Module, index: torch.Tensor) -> None:
    """Keep only members ``index`` of every parameter and buffer (leading member axis), in place."""
    with torch.no_grad():
        for p in module.parameters():
            p.data = p.data.index_select(0, index).contiguous()
        for name, b in module.named_buffers():
            module.get_buffer(name).data = b.data.index_select(0, index).contiguous()
    for m in module.modules():
        if isinstance(m, BatchedMLP):
            m.num_members = int(index.numel())


def select_optimizer_state(optimizer: torch.optim.Optimizer, index: torch.Tensor) -> None:
    """Slice Adam's moment estimates to the kept members (the step counter is shared)."""
    for state in optimizer.state.values():
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key] = state[key].index_select(0, index).contiguous()


def member_state(module: nn.Module, k: int) -> dict[str, torch.Tensor]:
    """The state dict of member ``k`` alone (member axis of size 1), on the CPU."""
    return {name: t[k : k + 1].detach().cpu().clone() for name, t in module.state_dict().items()}


def clip_grad_norm_per_member(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """Clip each member's gradient to ``max_norm`` (global norm over that member's tensors)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    sq = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0)  # (K,)
    scale = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))


def make_adam(
    params: Sequence[torch.Tensor] | object,
    lr: float,
    device: torch.device,
    eps: float = 1e-8,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Adam:
    """Fused Adam (one kernel for all tensors) where the device supports it, else ``foreach``."""
    kwargs: dict[str, Any] = {"lr": lr, "eps": eps, "betas": betas}
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)  # type: ignore[arg-type]
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, foreach=True, **kwargs)  # type: ignore[arg-type]


class RunningNorm:
    """Running mean and variance of observations (float64, Chan's parallel update), applied as
    ``(x - mean) / sqrt(var + eps)`` clipped to ``[-clip, clip]``; one statistic for all members
    (they see the same environment)."""

    def __init__(self, dim: int, device: torch.device, clip: float = 10.0, eps: float = 1e-8):
        self.mean = np.zeros(dim)
        self.var = np.ones(dim)
        self.count = 0.0
        self.clip, self.eps, self.device = clip, eps, device
        self._tensors: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.mean.shape[0])
        n = float(len(x))
        if n == 0:
            return
        mean, var = x.mean(0), x.var(0)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total
        self._tensors = None

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var + self.eps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._tensors is None:
            self._tensors = (
                torch.as_tensor(self.mean, dtype=torch.float32, device=self.device),
                torch.as_tensor(1.0 / self.std, dtype=torch.float32, device=self.device),
            )
        mean, inv_std = self._tensors
        return ((x - mean) * inv_std).clamp(-self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var = np.asarray(state["mean"]), np.asarray(state["var"])
        self.count, self._tensors = float(state["count"]), None


def fold_normalization(
    state: dict[str, torch.Tensor], mean: np.ndarray, std: np.ndarray
) -> dict[str, torch.Tensor]:
    """A one-member actor state whose first layer reads raw observations: ``(x - m) / s @ W + b``
    equals ``x @ (W / s) + (b - (m / s) @ W)``. The clip of the normalised input is not kept."""
    out = dict(state)
    w, b = state["layers.0.weight"], state["layers.0.bias"]  # (1, in, out), (1, 1, out)
    inv = torch.as_tensor(1.0 / std, dtype=w.dtype)[None, :, None]
    m = torch.as_tensor(mean, dtype=w.dtype)
    out["layers.0.weight"] = w * inv
    out["layers.0.bias"] = b - (m[None, None, :] * inv.transpose(1, 2)) @ w
    return out
