"""Strategies are plug-ins: a name, a config section and an entry point in a registry."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import types
from typing import Literal

import pytest
from pydantic import Field

from rewardforge.cli import search_cmd
from rewardforge.errors import ConfigError
from rewardforge.search import registry
from rewardforge.search.config import SearchConfig
from rewardforge.search.registry import StrategyConfig, get_strategy, register_strategy
from rewardforge.search.strategy import Strategy


class ToyConfig(StrategyConfig):
    name: Literal["toy"] = "toy"
    rounds: int = Field(2, gt=0, description="rounds of the toy strategy")


class Toy:
    def __init__(self, config: ToyConfig) -> None:
        self.config = config

    def prepare(self, steps) -> None: ...

    def run(self, steps) -> None: ...

    def evaluate(self, steps) -> None: ...

    def close(self) -> None: ...


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(registry, "_STRATEGIES", dict(registry._STRATEGIES))
    register_strategy("toy", ToyConfig, Toy)


def test_a_registered_strategy_gets_a_config_section_flags_and_its_class(toy) -> None:
    config = SearchConfig(task="pendulum", strategy={"name": "toy", "rounds": 5})
    assert isinstance(config.strategy, ToyConfig) and config.strategy.rounds == 5
    assert get_strategy("toy").load() is Toy
    assert isinstance(Toy(config.strategy), Strategy)  # the protocol, checked at run time
    parser = argparse.ArgumentParser()
    search_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["search", "pendulum", "--strategy", "toy", "--rounds", "3"])
    assert search_cmd.config_from_args(args).strategy.rounds == 3


def test_registering_twice_or_under_another_name_is_an_error(toy) -> None:
    with pytest.raises(ConfigError, match="'toy' is already registered; pass replace=True"):
        register_strategy("toy", ToyConfig, Toy)
    with pytest.raises(ConfigError, match=r"ToyConfig.name must default to 'other'"):
        register_strategy("other", ToyConfig, Toy)


def test_entry_point_plug_ins_are_loaded_when_the_registry_is_read(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_STRATEGIES", dict(registry._STRATEGIES))
    monkeypatch.setattr(registry, "_PLUGINS", {"loaded": False})
    module = types.ModuleType("toy_plugin")

    def load() -> None:
        sys.modules["toy_plugin"] = module
        register_strategy("toy", ToyConfig, Toy)

    entry = types.SimpleNamespace(name="toy", value="toy_plugin", load=load)
    broken = types.SimpleNamespace(name="bad", value="nowhere", load=lambda: 1 / 0)

    def entry_points(group: str):
        assert group == registry.ENTRY_POINT_GROUP
        return [broken, entry]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert get_strategy("toy").config is ToyConfig  # found on the first miss
    assert "toy" in [s.name for s in registry.list_strategies()]


def test_an_unknown_strategy_names_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'evolv'. Did you mean 'evolve'"):
        get_strategy("evolv")
