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

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


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


class BatchedMLP(nn.Module):
    """K members of ``in -> hidden... -> out`` with one activation between layers."""

    def __init__(
        self,
        num_members: int,
        in_features: int,
        out_features: int,
        net_arch: Sequence[int],
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        sizes = [in_features, *net_arch, out_features]
        self.layers: list[BatchedLinear] = nn.ModuleList(  # type: ignore[assignment]
            BatchedLinear(num_members, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.act = ACTIVATIONS[activation]()
        self.num_members = num_members
        self.net_arch = list(net_arch)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
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
    params: Sequence[torch.Tensor] | object, lr: float, device: torch.device, eps: float = 1e-8
) -> torch.optim.Adam:
    """Fused Adam (one kernel for all tensors) where the device supports it, else ``foreach``."""
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)  # type: ignore[arg-type]
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)  # type: ignore[arg-type]
