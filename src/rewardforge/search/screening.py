"""Screening before training: does a new reward rank successful trajectories above failed ones?

Once earlier iterations have left trajectories (variables per step, and whether the episode
succeeded), each new reward is scored on them: its episode returns should order successes above
failures. The score is the AUC (probability that a random success outscores a random failure).
A reward below ``min_auc``, or in the lowest ``fraction`` of its batch, is skipped without
training and recorded as screened out, with the reason; at most half of a batch is skipped."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    variables: dict[str, np.ndarray]  # each (T, ...)
    success: bool

    @property
    def length(self) -> int:
        return len(next(iter(self.variables.values())))


@dataclass(frozen=True)
class ScreenVerdict:
    auc: float | None
    keep: bool
    reason: str


def has_contrast(trajectories: Sequence[Trajectory]) -> bool:
    """Screening needs at least one successful and one failed trajectory."""
    labels = {t.success for t in trajectories}
    return labels == {True, False}


def episode_returns(
    reward: Callable[[Mapping[str, np.ndarray]], np.ndarray], trajectories: Sequence[Trajectory]
) -> np.ndarray:
    """Returns of every trajectory under ``reward``, evaluated in one batch."""
    keys = trajectories[0].variables.keys()
    batch = {k: np.concatenate([t.variables[k] for t in trajectories]) for k in keys}
    per_step = np.asarray(reward(batch), dtype=np.float64)
    bounds = np.cumsum([0] + [t.length for t in trajectories])
    return np.add.reduceat(per_step, bounds[:-1]) if len(per_step) else np.zeros(len(trajectories))


def ranking_auc(returns: np.ndarray, success: np.ndarray) -> float:
    """P(return of a success > return of a failure), ties counted half (Mann-Whitney U)."""
    pos, neg = returns[success], returns[~success]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs both successful and failed trajectories")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def screen(
    aucs: Sequence[float | None], min_auc: float = 0.5, fraction: float = 0.25
) -> list[ScreenVerdict]:
    """Verdicts for a batch: drop AUC below ``min_auc`` and the lowest ``fraction`` of the batch,
    lowest first, but never more than half of the batch (the trajectories screening relies on
    come from a few policies and can mislead; training is the judge)."""
    scored = [a for a in aucs if a is not None]
    cutoff = float(np.quantile(scored, fraction)) if scored and fraction > 0 else -np.inf
    order = sorted((a, i) for i, a in enumerate(aucs) if a is not None)
    lowest = {i for a, i in order[: int(len(aucs) * fraction)] if a <= cutoff and a < max(scored)}
    dropped = [i for a, i in order if a < min_auc or i in lowest][: len(aucs) // 2]
    verdicts = []
    for i, auc in enumerate(aucs):
        if auc is None:
            verdicts.append(ScreenVerdict(None, True, "not screened (no scored trajectories)"))
        elif i not in dropped:
            verdicts.append(ScreenVerdict(auc, True, f"AUC {auc:.2f}"))
        elif auc < min_auc:
            verdicts.append(
                ScreenVerdict(
                    auc,
                    False,
                    f"ranks failed episodes above successful ones (AUC {auc:.2f} < {min_auc})",
                )
            )
        else:
            verdicts.append(
                ScreenVerdict(
                    auc,
                    False,
                    f"lowest {fraction:.0%} of its batch at ranking successes (AUC {auc:.2f})",
                )
            )
    return verdicts
