"""The reward model: an ensemble learned from preference labels with the Bradley-Terry model.

``P(second preferred) = sigmoid(r(second) - r(first))``; each member minimises the cross-entropy
to the labels (0, 1, or 0.5 for "equal"; pairs without a label are dropped), on its own
shuffle of the data, as in PEBBLE (Lee et al., ICML 2021). Members disagree most on the pairs
worth asking about next (:meth:`RewardLearner.disagreement`).

Two kinds of member:
- :class:`EnsembleMLP` (default, fast): the task's variables, flattened and normalised by
  :class:`VariableEncoder` (not ``episode_step``, ``sim_state`` or ``frame``);
- :class:`EnsembleCNN`: frames ``(H, W, 3)`` from the variable ``frame``
  (see ``render.frame_task``), for tasks that are easier seen than written down.

:class:`LearnedReward` exposes the ensemble's mean as a ``RewardFunction``, so any trainer
trains on it. Until its first labels it pays PEBBLE's unsupervised exploration reward instead:
the distance from each state to its k-th nearest neighbour among recent states.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardforge.errors import ConfigError
from rewardforge.preference.render import FRAME, HIDDEN_VARIABLES
from rewardforge.rewards.base import RewardOutput
from rewardforge.rl.nets import BatchedMLP, make_adam
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

ModelKind = Literal["mlp", "cnn"]
#: Rows evaluated per forward pass when relabelling a whole replay buffer.
CHUNK_ROWS = 65_536
#: Training stops early once every member labels this fraction of the data right (PEBBLE).
TARGET_ACCURACY = 0.97


@dataclass(frozen=True)
class RewardModelConfig:
    """Reward-model hyperparameters (PEBBLE's, with smaller networks for CPUs)."""

    kind: ModelKind = "mlp"
    """mlp over the task's variables, or cnn over rendered frames"""
    ensemble_size: int = 3
    """members of the ensemble"""
    net_arch: tuple[int, ...] = (64, 64)
    """hidden sizes of each MLP member (the CNN's head uses the last one)"""
    learning_rate: float = 1e-3
    """Adam step size"""
    batch_size: int = 128
    """labelled pairs per gradient step (per member)"""
    epochs: int = 50
    """passes over the labels after each update (fewer once the target accuracy is reached)"""
    seed: int = 0
    """initialisation and shuffling"""
    num_threads: int | None = 1
    """torch threads while fitting (one per process is fastest on small networks; None: torch's)"""

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "cnn"):
            raise ConfigError(f"reward model kind must be mlp or cnn, got {self.kind!r}")
        if self.ensemble_size < 1:
            raise ConfigError(f"ensemble_size must be at least 1, got {self.ensemble_size}")


# --- inputs ---------------------------------------------------------------------------------------
def input_variables(task: Task, kind: ModelKind = "mlp") -> tuple[str, ...]:
    """The variables a reward model reads: ``frame`` for a CNN, else every task variable
    except ``episode_step``, ``sim_state`` and ``frame``."""
    if kind == "cnn":
        if FRAME not in task.variable_names:
            raise ConfigError(f"a CNN reward model needs frames: use render.frame_task({task.id})")
        return (FRAME,)
    return tuple(n for n in task.variable_names if n not in HIDDEN_VARIABLES)


class VariableEncoder:
    """Flattens variables into ``(B, D)`` float32 and normalises them with statistics fitted
    once (on the states of the first update), so the reward changes only with the weights."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def flat(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = [np.asarray(variables[n], dtype=np.float32) for n in self.names]
        return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)

    def fit(self, variables: Mapping[str, np.ndarray]) -> None:
        x = self.flat(variables)
        self.mean = x.mean(0)
        self.std = np.maximum(x.std(0), 1e-6).astype(np.float32)

    def __call__(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        x = self.flat(variables)
        if self.mean is None or self.std is None:
            self.fit(variables)
        assert self.mean is not None and self.std is not None
        return ((x - self.mean) / self.std).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {"names": list(self.names), "mean": self.mean, "std": self.std}


class FrameEncoder:
    """Frames ``(B, H, W, 3)`` uint8 as float32 ``(B, 3, H, W)`` in [0, 1]."""

    names = (FRAME,)

    def fit(self, variables: Mapping[str, np.ndarray]) -> None:
        pass

    def __call__(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        frames = np.asarray(variables[FRAME], dtype=np.float32) / 255.0
        return np.ascontiguousarray(frames.transpose(0, 3, 1, 2))

    def state(self) -> dict[str, Any]:
        return {"names": [FRAME]}


# --- the ensembles --------------------------------------------------------------------------------
class EnsembleMLP(nn.Module):
    """``M`` MLPs ``(B, D) -> (M, B)``, bounded by tanh as in PEBBLE."""

    def __init__(self, input_dim: int, config: RewardModelConfig) -> None:
        super().__init__()
        m = config.ensemble_size
        self.net = BatchedMLP(m, input_dim, 1, config.net_arch, "relu")
        self.net.init_members([config.seed * 1009 + k for k in range(m)], "uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.net.num_members
        return torch.tanh(self.net(x.unsqueeze(0).expand(m, -1, -1)).squeeze(-1))

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, B, D)``: member ``k`` scores its own rows ``x[k]``."""
        return torch.tanh(self.net(x).squeeze(-1))


class EnsembleCNN(nn.Module):
    """``M`` small CNNs over ``(B, 3, H, W)`` frames -> ``(M, B)``, bounded by tanh."""

    def __init__(self, frame_size: int, config: RewardModelConfig) -> None:
        super().__init__()
        torch.manual_seed(config.seed)
        hidden = config.net_arch[-1] if config.net_arch else 64
        self.members = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(3, 16, 5, stride=2, padding=2),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(4),
                nn.Flatten(),
                nn.Linear(32 * 16, hidden),
                nn.ReLU(),
                nn.Linear(hidden, 1),
            )  # fmt: skip
            for _ in range(config.ensemble_size)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.stack([m(x).squeeze(-1) for m in self.members]))

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.stack([m(x[k]).squeeze(-1) for k, m in enumerate(self.members)]))


def bradley_terry_loss(
    r_first: torch.Tensor, r_second: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of ``sigmoid(r_second - r_first)`` to ``labels`` (1: second preferred)."""
    return F.binary_cross_entropy_with_logits(r_second - r_first, labels, reduction="mean")


# --- training and prediction ----------------------------------------------------------------------
class RewardLearner:
    """An ensemble, its input encoder and its labelled pairs; fits and predicts."""

    def __init__(self, task: Task, config: RewardModelConfig | None = None) -> None:
        self.task = task
        self.config = config or RewardModelConfig()
        names = input_variables(task, self.config.kind)
        self.encoder: VariableEncoder | FrameEncoder = (
            FrameEncoder() if self.config.kind == "cnn" else VariableEncoder(names)
        )
        self.model: nn.Module | None = None
        self.first: list[np.ndarray] = []
        self.second: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.num_fits = 0
        self._gen = torch.Generator().manual_seed(self.config.seed)

    @property
    def fitted(self) -> bool:
        return self.num_fits > 0

    @property
    def num_labels(self) -> int:
        return int(sum(len(y) for y in self.labels))

    def _build(self, x: np.ndarray) -> nn.Module:
        if self.config.kind == "cnn":
            return EnsembleCNN(x.shape[-1], self.config)
        return EnsembleMLP(x.shape[-1], self.config)

    def observe(self, pool: Mapping[str, np.ndarray]) -> None:
        """Fit the input normalisation on ``pool`` (states seen before the first labels)."""
        if self.model is None:
            self.encoder.fit(pool)

    def add(
        self, first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray], labels: np.ndarray
    ) -> int:
        """Keep the labelled pairs (NaN labels dropped); returns how many were kept."""
        labels = np.asarray(labels, dtype=np.float32)
        keep = ~np.isnan(labels)
        if not keep.any():
            return 0
        x1, x2 = self.encoder(first), self.encoder(second)
        if self.model is None:
            self.model = self._build(x1)
            self.optimizer = make_adam(
                self.model.parameters(), self.config.learning_rate, torch.device("cpu")
            )
        self.first.append(x1[keep])
        self.second.append(x2[keep])
        self.labels.append(labels[keep])
        return int(keep.sum())

    def fit(self) -> dict[str, float]:
        """Train every member on all labels kept so far; returns the final loss and accuracy."""
        if self.model is None or not self.labels:
            return {"loss": float("nan"), "accuracy": float("nan"), "epochs": 0}
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        x1 = torch.as_tensor(np.concatenate(self.first))
        x2 = torch.as_tensor(np.concatenate(self.second))
        y = torch.as_tensor(np.concatenate(self.labels))
        n, m, bs = len(y), self.config.ensemble_size, self.config.batch_size
        model: Any = self.model
        loss_value, accuracy, epochs = float("nan"), 0.0, 0
        for _ in range(self.config.epochs):
            epochs += 1
            order = torch.stack([torch.randperm(n, generator=self._gen) for _ in range(m)])
            correct, total, losses = torch.zeros(m), 0, []
            for start in range(0, n, bs):
                idx = order[:, start : start + bs]  # (M, b)
                r1, r2 = model.forward_members(x1[idx]), model.forward_members(x2[idx])
                target = y[idx]
                loss = bradley_terry_loss(r1, r2, target) * m
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                losses.append(float(loss.detach()) / m)
                with torch.no_grad():
                    hard = target != 0.5
                    correct += (((r2 > r1).float() == target) & hard).sum(1)
                    total += int(hard[0].sum())
            loss_value = float(np.mean(losses))
            accuracy = float((correct / max(total, 1)).min())
            if accuracy >= TARGET_ACCURACY:
                break
        self.num_fits += 1
        return {"loss": loss_value, "accuracy": accuracy, "epochs": epochs}

    @torch.no_grad()
    def predict(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        """Every member's reward ``(M, B)``."""
        assert self.model is not None
        x = self.encoder(variables)
        outs = [
            self.model(torch.as_tensor(x[i : i + CHUNK_ROWS])) for i in range(0, len(x), CHUNK_ROWS)
        ]
        return torch.cat(outs, dim=1).numpy() if outs else np.zeros((self.config.ensemble_size, 0))

    def disagreement(
        self, first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Standard deviation over members of P(second preferred), ``(B,)``."""
        p = 1.0 / (1.0 + np.exp(-(self.predict(second) - self.predict(first))))
        return p.std(0)

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.__dict__,
            "encoder": self.encoder.state(),
            "model": self.model.state_dict() if self.model is not None else None,
            "num_labels": self.num_labels,
        }


# --- the reward a trainer sees -------------------------------------------------------------------
class StateEntropyReward:
    """PEBBLE's unsupervised reward: ``log(1 + distance to the k-th nearest recent state)``, in
    units of the recent states' spread, so the policy seeks states unlike those it has seen."""

    def __init__(self, names: Sequence[str], k: int = 5, capacity: int = 2048, seed: int = 0):
        self.encoder = VariableEncoder(names)
        self.k, self.capacity = k, capacity
        self._memory: np.ndarray | None = None
        self._filled = 0
        self._rng = np.random.default_rng(seed)

    def __call__(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        x = self.encoder.flat(variables)
        if self._memory is None:
            self._memory = np.zeros((self.capacity, x.shape[1]), np.float32)
        memory = self._memory[: self._filled]
        if len(memory) > self.k:
            scale = np.maximum(memory.std(0), 1e-6)
            d = np.linalg.norm((x[:, None, :] - memory[None]) / scale, axis=-1)
            reward = np.log1p(np.partition(d, self.k, axis=1)[:, self.k])
        else:
            reward = np.zeros(len(x))
        for row in x:  # reservoir of recent states: fill, then overwrite at random
            slot = (
                self._filled if self._filled < self.capacity else self._rng.integers(self.capacity)
            )
            self._memory[slot] = row
            self._filled = min(self._filled + 1, self.capacity)
        return reward.astype(np.float64)


class LearnedReward:
    """The ensemble's mean reward as a ``RewardFunction``; the exploration reward before the
    first labels. Its weights change in place, so relabel stored transitions after a fit."""

    def __init__(self, learner: RewardLearner, *, explore: bool = True, name: str = "preference"):
        self.learner = learner
        self.name = name
        names = input_variables(learner.task, "mlp")
        self.exploration = StateEntropyReward(names, seed=learner.config.seed) if explore else None

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        if not self.learner.fitted:
            rows = len(next(iter(transition.values())))
            reward = self.exploration(transition) if self.exploration else np.zeros(rows)
            return RewardOutput(reward, {"exploration": reward})
        members = self.learner.predict(transition).astype(np.float64)
        reward = members.mean(0)
        return RewardOutput(reward, {"learned": reward, "disagreement": members.std(0)})


# --- export ---------------------------------------------------------------------------------------
def _array(values: np.ndarray) -> str:
    return "np.array(" + np.array2string(
        np.asarray(values, dtype=np.float64), separator=",", threshold=10**9,
        max_line_width=96, precision=7, floatmode="maxprec",
    ) + ")"  # fmt: skip


def export_program(learner: RewardLearner, note: str = "") -> str:
    """The MLP ensemble as a reward program: ``compute_reward(<its input variables>)`` in plain
    numpy with the weights inlined, so the learned reward can be checked, trained on, reported
    and exported like any other candidate. A CNN model is not exportable (returns a stub)."""
    encoder = learner.encoder
    if not isinstance(encoder, VariableEncoder) or learner.model is None or encoder.mean is None:
        return f'"""Learned reward (preference strategy), not exportable as code. {note}"""\n'
    assert encoder.std is not None
    net: BatchedMLP = learner.model.net  # type: ignore[union-attr,assignment]
    lines = [
        f'"""Learned reward (preference strategy): an ensemble of {net.num_members} MLPs fitted with',
        f"Bradley-Terry to {learner.num_labels} pairwise labels. {note}".rstrip(),
        '"""',
        "import numpy as np",
        "",
        f"MEAN = {_array(encoder.mean)}",
        f"STD = {_array(encoder.std)}",
    ]
    for i, layer in enumerate(net.layers):
        lines.append(f"W{i} = {_array(layer.weight.detach().numpy())}")
        lines.append(f"B{i} = {_array(layer.bias.detach().numpy())}")
    params = ", ".join(encoder.names)
    flat = ", ".join(
        f"np.reshape(np.asarray({n}, dtype=np.float64), (rows, -1))" for n in encoder.names
    )
    body = [
        "",
        "",
        f"def compute_reward({params}):",
        f"    rows = np.shape({encoder.names[0]})[0]",
        f"    x = (np.concatenate([{flat}], axis=1) - MEAN) / STD",
        "    h = np.broadcast_to(x, (W0.shape[0],) + x.shape)",
    ]
    last = len(net.layers) - 1
    for i in range(last):
        body.append(f"    h = np.maximum(np.matmul(h, W{i}) + B{i}, 0.0)")
    body += [
        f"    members = np.tanh(np.matmul(h, W{last}) + B{last})[..., 0]",
        "    reward = members.mean(axis=0)",
        '    return reward, {"learned": reward}',
        "",
    ]
    return "\n".join(lines + body)
