"""The ``Strategy`` protocol: a search loop built from ``SearchSteps``.

A strategy is registered with its config section (``search/registry.py``) and built as
``Class(config)`` by ``Search``, which then calls, in order:

1. ``prepare(steps)`` before the run exists: build what can fail (a trainer name that does not
   exist, a designer without its model key), so a bad setting leaves no run behind. It must
   not write to the workspace;
2. ``run(steps)``: every iteration, recorded through ``steps``. A resumed run calls it again
   on the same store, so it must skip what is recorded (``steps.iteration_finished``) and
   read back what it needs, as the shared steps do;
3. ``evaluate(steps)``: the final evaluation (usually ``steps.final_evaluation()``);
4. ``close()``, always.

The built-in strategies are in ``search/iterative.py`` (evolve, refine, oneshot),
``search/population.py`` and ``search/preference.py``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from rewardforge.search.registry import StrategyConfig
from rewardforge.search.steps import SearchSteps


@runtime_checkable
class Strategy(Protocol):
    config: StrategyConfig

    def prepare(self, steps: SearchSteps) -> None:
        """Build the parts that may fail on a bad setting; write nothing."""

    def run(self, steps: SearchSteps) -> None:
        """Run (or continue) every iteration."""

    def evaluate(self, steps: SearchSteps) -> None:
        """The final evaluation of the best candidate."""

    def close(self) -> None:
        """Release what ``run`` holds (populations, rewards)."""


__all__ = ["Strategy"]
