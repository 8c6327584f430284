"""Thompson sampling over population members, on a true sliding window of episodes.

Each member (arm) keeps the outcomes of its own last ``window`` episodes, in order; its
posterior over "an episode it plays succeeds" is ``Beta(1 + successes, 1 + failures)`` counted
in that window. LaRes's reference code trims the lists of successes and of failures separately,
so an arm's window could hold up to ``2 * window`` episodes of very different ages; here the
window holds exactly the arm's last ``window`` episodes (fewer until it has played that many).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardforge.errors import ConfigError


class SlidingWindowThompson:
    """Beta-Bernoulli Thompson sampling with a sliding window of episodes per arm."""

    def __init__(self, num_arms: int, window: int, seed: int | np.random.SeedSequence = 0):
        if num_arms < 1 or window < 1:
            raise ConfigError(
                f"Thompson sampling needs at least one arm and a window of at least one "
                f"episode, got {num_arms} arms and window {window}"
            )
        self.window = int(window)
        self.history: list[deque[bool]] = [deque(maxlen=self.window) for _ in range(num_arms)]
        self.rng = np.random.default_rng(seed)

    @property
    def num_arms(self) -> int:
        return len(self.history)

    def update(self, arm: int, success: bool) -> None:
        """Record one finished episode of ``arm``; the oldest leaves a full window."""
        self.history[arm].append(bool(success))

    def reset(self, arm: int) -> None:
        """Forget ``arm``'s episodes (its policy changed): back to the ``Beta(1, 1)`` prior."""
        self.history[arm].clear()

    def posterior(self, arm: int) -> tuple[int, int]:
        """``(alpha, beta)`` of ``arm``'s Beta posterior over its window."""
        successes = sum(self.history[arm])
        return 1 + successes, 1 + len(self.history[arm]) - successes

    def sample(self, allowed: Sequence[bool] | None = None) -> int:
        """The arm whose posterior draw is highest, among ``allowed`` arms (default: all)."""
        alpha, beta = np.array([self.posterior(k) for k in range(self.num_arms)], float).T
        draws = self.rng.beta(alpha, beta)
        if allowed is not None and any(allowed):
            draws = np.where(np.asarray(allowed, dtype=bool), draws, -np.inf)
        return int(np.argmax(draws))

    def state_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "history": [list(h) for h in self.history],
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window = int(state["window"])
        self.history = [deque(map(bool, h), maxlen=self.window) for h in state["history"]]
        self.rng.bit_generator.state = state["rng"]
