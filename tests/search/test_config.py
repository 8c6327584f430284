"""``SearchConfig``: defaults and checks live in the model, so Python, the command line and
config files agree; errors name the key and the flag."""

from __future__ import annotations

import os

import pytest
import yaml

import rewardforge as rf
from rewardforge.errors import ConfigError
from rewardforge.search.config import SearchConfig
from rewardforge.search.options import build_config, options, parse_override, to_yaml
from rewardforge.search.registry import list_strategies
from rewardforge.search.strategy_configs import EvolveConfig, OneshotConfig

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY",
        "OPENROUTER_API_KEY", "AZURE_OPENAI_API_KEY", "REWARDFORGE_MODEL")  # fmt: skip


@pytest.fixture
def no_keys(monkeypatch):
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)


def test_a_named_model_means_the_llm_designer_in_python_and_on_the_command_line(no_keys):
    """Before: ``SearchConfig(model="openai/gpt-4o")`` ran the offline designer."""
    in_python = SearchConfig(task="pendulum", model={"name": "openai/gpt-4o"})
    from_flags = build_config("pendulum", values={"model": "openai/gpt-4o"})
    assert in_python.designer.name == from_flags.designer.name == "llm"
    assert SearchConfig(task="pendulum").designer.name == "offline"  # no model, no key


def test_a_provider_key_makes_the_llm_designer_the_default(monkeypatch, no_keys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = SearchConfig(task="pendulum")
    assert (config.designer.name, config.model.name) == ("llm", "openai/gpt-4o")


def test_oneshot_trains_one_sample_in_python_and_on_the_command_line() -> None:
    """Before: ``SearchConfig(strategy="oneshot")`` trained 8 samples, the CLI 1."""
    assert SearchConfig(task="pendulum", strategy="oneshot").strategy.num_samples == 1
    assert build_config("pendulum", values={"strategy": "oneshot"}).strategy.samples == 1
    assert isinstance(SearchConfig(task="pendulum", strategy="oneshot").strategy, OneshotConfig)


def test_workers_default_to_the_usable_cores() -> None:
    assert SearchConfig(task="pendulum").executor.workers == len(os.sched_getaffinity(0))
    assert SearchConfig(task="pendulum", executor={"workers": 1}).executor.workers == 1


def test_strategies_that_train_in_this_process_resolve_one_worker() -> None:
    for strategy in ("population", "preference"):
        assert SearchConfig(task="pendulum", strategy=strategy).executor.workers == 1
    judged = SearchConfig(task="pendulum", strategy={"name": "evolve", "judge": "vlm"})
    assert judged.executor.workers == 1
    scripted = SearchConfig(task="pendulum", strategy={"name": "evolve", "judge": "scripted"})
    assert scripted.executor.workers == len(os.sched_getaffinity(0))  # it travels with jobs


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"judge": "vlm", "workers": 2}, r"--judge vlm.*executor.workers \(--workers 2\) cannot"),
        ({"judge": "vlm", "executor": "ray"}, r"--judge vlm.*--executor ray.* drop --executor ray"),
        ({"strategy": "preference", "executor": "ray"}, r"preference strategy.*--executor ray"),
        ({"gpus_per_task": 0.5}, r"executor.gpus_per_task \(--gpus-per-task\) is for the ray"),
        ({"strategy": "oneshot", "generate_success": True}, r"--generate-success.*--archie"),
        ({"replay_from": "x.py"}, r"designer.replay_from \(--replay-from\) is for the replay"),
        ({"designer": "replay"}, r"--designer replay\) needs designer.replay_from"),
        ({"teacher_beta": 2.0}, r"teacher settings .* add --judge scripted\|vlm"),
        ({"strategy": "refine", "samples": 4}, r"strategy.samples \(--samples\) is an option of "
                                               r"the evolve and oneshot strategies, not of refine"),
    ],
)  # fmt: skip
def test_settings_that_cannot_go_together_name_both(values, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config("pendulum", values=values)


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_tokens", -1), ("max_tokens", 0), ("max_cost", 0), ("max_cost", -0.5),
     ("steps", 0), ("steps", -100), ("samples", 0), ("iterations", -1), ("num_envs", 0),
     ("seeds", 0), ("workers", 0), ("label_budget", 0), ("render_size", -1)],
)  # fmt: skip
def test_zero_and_negative_counts_and_budgets_are_errors(option, value) -> None:
    """Before: ``--max-tokens -1`` was accepted and 0 meant "the default"."""
    values = {option: value}
    if option in ("label_budget", "render_size"):
        values["strategy"] = "preference"
    with pytest.raises(ConfigError, match=rf"bad value {value} for \S+ \(--[a-z-]+\): Input "
                       r"should be greater than 0"):  # fmt: skip
        build_config("pendulum", values=values)


def test_a_budget_cannot_be_nan_or_infinite() -> None:
    with pytest.raises(ConfigError, match="model.max_cost .*finite number"):
        build_config("pendulum", values={"max_cost": float("nan")})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["strategy.sampels=3"], r"unknown key strategy.sampels. Did you mean 'strategy.samples'"),
        (["samples=3"], r"unknown key samples. Did you mean 'strategy.samples'"),
        (["trainnig.steps=3"], r"unknown key trainnig. Did you mean 'training'"),
        (["strategy.name=evolv"], r"unknown strategy 'evolv'. Did you mean 'evolve'"),
        (["strategy.elites=1"], r"strategy.elites \(--elites\) is an option of the population "
                                r"strategy, not of evolve: add --strategy population"),
    ],
)  # fmt: skip
def test_unknown_keys_are_errors_with_a_suggestion(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config("pendulum", overrides=overrides)


def test_unknown_python_options_are_errors_with_a_suggestion(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown option 'sampels'. Did you mean 'samples'"):
        rf.search("pendulum", sampels=2, workspace=tmp_path)
    assert not (tmp_path / "runs.sqlite").exists()


def test_overrides_read_values_as_yaml_but_keep_on_and_off_as_words() -> None:
    assert parse_override("training.steps=20000") == ("training.steps", 20000)
    assert parse_override("strategy.rungs=off") == ("strategy.rungs", "off")
    assert parse_override("strategy.rungs=[0.5, 1]") == ("strategy.rungs", [0.5, 1])
    assert parse_override("model.name=null") == ("model.name", None)
    config = build_config("pendulum", overrides=["strategy.rungs=off", "training.steps=20000"])
    assert config.strategy.rungs == (1.0,) and config.training.steps == 20000
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("strategy.samples")


def test_a_printed_config_reads_back_to_the_same_config(no_keys) -> None:
    for spec in list_strategies():
        config = build_config("pendulum", values={"strategy": spec.name, "seed": 4})
        again = SearchConfig.model_validate(yaml.safe_load(to_yaml(config)))
        assert again == config, spec.name


def test_layers_apply_in_order_file_then_options_then_overrides() -> None:
    base = {"task": "cartpole", "strategy": {"name": "evolve", "samples": 3, "eta": 3.0}}
    config = build_config(base=base, values={"samples": 5}, overrides=["strategy.samples=6"])
    assert (config.task, config.strategy.samples, config.strategy.eta) == ("cartpole", 6, 3.0)
    switched = build_config(base=base, values={"strategy": "oneshot"})
    assert isinstance(switched.strategy, OneshotConfig)  # the file's shared options kept
    assert (switched.strategy.samples, switched.strategy.eta) == (3, 3.0)


def test_stored_flat_configs_read_into_sections() -> None:
    flat = {"task": "mountaincar", "strategy": "refine", "designer": "offline", "samples": 8,
            "iterations": 4, "num_steps": 900, "workers": None, "executor": "local",
            "final_seeds": 0, "teacher_beta": None, "judge": None}  # fmt: skip
    config = SearchConfig.from_stored(flat)
    assert config.strategy.name == "refine" and config.strategy.num_iterations == 4
    assert (config.training.steps, config.executor.workers) == (900, 1)
    assert config.evaluation.final_seeds == 0 and config.teacher is None


def test_every_option_has_one_flag_and_help() -> None:
    flags = [o.flag for o in options()]
    assert len(flags) == len(set(flags))
    assert all(o.help for o in options()), [o.path for o in options() if not o.help]
    samples = next(o for o in options() if o.path == "strategy.samples")
    assert (samples.flag, samples.short, samples.defaults) == ("--samples", "-k",
                                                               {"evolve": 8, "oneshot": 1})  # fmt: skip
    assert isinstance(SearchConfig(task="x").strategy, EvolveConfig)
