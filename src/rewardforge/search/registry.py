"""The strategy registry: a strategy is a name, a config section and an entry point.

``register_strategy`` adds one; ``SearchConfig`` validates its ``strategy`` section with the
config class registered under the section's ``name`` (a union discriminated by ``name``, open to
plug-ins), and ``Search`` builds the strategy from the entry point (``"package.module:Class"``,
imported when first used, or the class itself)::

    class MyConfig(StrategyConfig):
        name: Literal["mine"] = "mine"
        iterations: int = Field(3, gt=0, description="iterations")

    register_strategy("mine", MyConfig, "mypackage.strategy:MyStrategy")

Installed packages may register strategies through the entry-point group
``rewardforge.strategies``: each entry point names a module (or object) whose import registers
one; they are loaded the first time the registry is read.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from rewardforge.errors import ConfigError, did_you_mean

logger = logging.getLogger(__name__)

#: Entry-point group of strategy plug-ins (each names a module whose import registers one).
ENTRY_POINT_GROUP = "rewardforge.strategies"


class Section(BaseModel):
    """A frozen config section that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StrategyConfig(Section):
    """The settings of one strategy; subclasses set ``name`` to a ``Literal`` of their name.

    ``num_iterations`` and ``num_samples`` tell the live view (and the run's records) what a
    run of this strategy does; strategies with a fixed shape override them.
    ``required_trainer`` names the only trainer the strategy works with (None: any), and
    ``writes_code`` says whether a designer writes its candidates."""

    required_trainer: ClassVar[str | None] = None
    writes_code: ClassVar[bool] = True

    name: str

    def in_process_reason(self) -> str | None:
        """Why this strategy's training cannot leave this process (None: it can)."""
        return None

    @property
    def num_iterations(self) -> int:
        return int(getattr(self, "iterations", 1))

    @property
    def num_samples(self) -> int:
        return int(getattr(self, "samples", 1))


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy."""

    name: str
    config: type[StrategyConfig]
    entry_point: str | type[Any]
    description: str = ""

    def load(self) -> type[Any]:
        """The strategy class (imports the entry point on first use)."""
        if not isinstance(self.entry_point, str):
            return self.entry_point
        module, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


_STRATEGIES: dict[str, StrategySpec] = {}
_PLUGINS = {"loaded": False}


def load_plugins() -> None:
    """Import the strategy plug-ins installed packages declare (once)."""
    if _PLUGINS["loaded"]:
        return
    _PLUGINS["loaded"] = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not stop the others
            logger.warning(
                "strategy plug-in %s (%s) did not load: %s", entry.name, entry.value, exc
            )


def register_strategy(
    name: str,
    config: type[StrategyConfig],
    entry_point: str | type[Any],
    *,
    description: str = "",
    replace: bool = False,
) -> StrategySpec:
    """Add a strategy: ``config`` is its section's model, ``entry_point`` its class or
    ``"package.module:Class"``; the class is built as ``Class(config)`` (see ``Strategy``)."""
    if name in _STRATEGIES and not replace:
        raise ConfigError(f"a strategy named {name!r} is already registered; pass replace=True")
    default = config.model_fields["name"].default
    if default != name:
        raise ConfigError(
            f"{config.__name__}.name must default to {name!r} (name: Literal[{name!r}] = "
            f"{name!r}), got {default!r}"
        )
    spec = StrategySpec(name, config, entry_point, description)
    _STRATEGIES[name] = spec
    return spec


def get_strategy(name: str) -> StrategySpec:
    """The registered strategy called ``name``; an unknown name is an error with a suggestion."""
    if name not in _STRATEGIES:
        load_plugins()
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}.{did_you_mean(name, _STRATEGIES)} "
            f"Registered: {', '.join(_STRATEGIES)}"
        ) from None


def list_strategies() -> list[StrategySpec]:
    load_plugins()
    return list(_STRATEGIES.values())


__all__ = [
    "ENTRY_POINT_GROUP",
    "Section",
    "StrategyConfig",
    "StrategySpec",
    "get_strategy",
    "list_strategies",
    "load_plugins",
    "register_strategy",
]
