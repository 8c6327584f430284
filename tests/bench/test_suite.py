"""Suites: the built-in ones, suite files, methods, and every way a suite can be wrong."""

from __future__ import annotations

import pytest

from rewardforge.bench.suite import BenchSuite, builtin_suites, load_suite, parse_method
from rewardforge.errors import ConfigError

SUITES = ("classic", "core", "metaworld", "fetch", "locomotion", "manip2d")


def write(tmp_path, text: str):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_the_issues_built_in_suites_exist_with_baselines_and_the_offline_designer() -> None:
    suites = builtin_suites()
    assert set(SUITES) <= set(suites)
    assert suites["classic"].tasks == ("cartpole", "mountaincar", "pendulum")
    for suite in suites.values():
        methods = {m.name: m for m in suite.methods_parsed()}
        assert methods["env"].baseline == "env" and methods["sparse"].baseline == "sparse"
        assert dict(methods["offline-evolve"].options)["designer"] == "offline"


def test_a_suite_file_keeps_its_method_order_through_a_store_that_sorts_keys(tmp_path) -> None:
    path = write(
        tmp_path,
        """
name: mine
tasks: [pendulum]
methods:
  zeta: {strategy: evolve, samples: 2}
  env: {baseline: env}
  alpha: {baseline: sparse}
budget: 1000
""",
    )
    suite, base = load_suite(path)
    assert base == tmp_path.resolve()
    assert list(suite.methods) == ["zeta", "env", "alpha"] and suite.budget == 1000
    import json

    stored = json.loads(json.dumps(suite.model_dump(mode="json"), sort_keys=True))
    assert list(BenchSuite.model_validate(stored).methods) == ["zeta", "env", "alpha"]


def test_task_in_a_value_is_each_tasks_id() -> None:
    method = parse_method("answers", {"designer": "replay", "replay_from": "answers/{task}/"})
    assert method.options_for("pendulum")["replay_from"] == "answers/pendulum/"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "name: x\ntasks: [pendulum]\nmethods: {env: {baseline: envv}}",
            r"baseline 'envv' does not exist\. Did you mean 'env'\?",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {env: {baseline: env, samples: 2}}",
            r"method 'env' is a baseline; samples cannot be set on it",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {e: {strategy: evolve, steps: 10}}",
            r"method 'e' sets steps, which the suite's budget sets for every method alike",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {e: {training: {steps: 10}}}",
            r"method 'e' sets training\.steps, which the suite's budget sets",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {e: {final_seeds: 5}}",
            r"sets final_seeds, which the suite's seeds sets",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {e: {workers: 4}}",
            r"sets workers, which the bench \(each search trains in one process\) sets",
        ),
        (
            "name: x\ntasks: [pendulum, pendulum]\nmethods: {env: {baseline: env}}",
            r"task 'pendulum' is listed twice",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {env: {baseline: env}}\nbudget: -5",
            r"the budget is `task` or a positive number of steps, got -5",
        ),
        (
            "name: x\ntasks: [pendulum]\nmethods: {env: {baseline: env}}\nbudjet: task",
            r"unknown key 'budjet'\. Did you mean 'budget'\?",
        ),
        (
            "name: x\ntasks: []\nmethods: {env: {baseline: env}}",
            r"tasks: a suite needs at least one task",
        ),
        ("name: x\ntasks: [pendulum]\nmethods: {env: 3}", r"method 'env' must be a mapping"),
        ("- just a list", r"must be a mapping with name, tasks and methods"),
    ],
)
def test_a_wrong_suite_file_says_what_is_wrong(tmp_path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_suite(write(tmp_path, text))


def test_an_unknown_suite_name_suggests_one_and_a_missing_file_says_so(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no built-in suite 'clasic'\. Did you mean 'classic'\?"):
        load_suite("clasic")
    with pytest.raises(ConfigError, match=r"suite file .*nope\.yaml does not exist"):
        load_suite(tmp_path / "nope.yaml")


def test_a_subset_keeps_the_suites_order_and_refuses_what_it_does_not_have() -> None:
    suite, _ = load_suite("classic")
    small = suite.subset(["pendulum", "cartpole"], ["offline-evolve", "env"])
    assert small.tasks == ("cartpole", "pendulum") and list(small.methods) == [
        "env",
        "offline-evolve",
    ]
    with pytest.raises(
        ConfigError, match=r"suite classic has no task 'pendulm'\. Did you mean 'pendulum'\?"
    ):
        suite.subset(["pendulm"], None)


def test_the_readmes_suite_file_is_a_valid_suite() -> None:
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Benchmarking", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    suite = BenchSuite.model_validate(yaml.safe_load(block.group(1)))
    kinds = {m.name: m.baseline or dict(m.options).get("designer") for m in suite.methods_parsed()}
    assert kinds == {"env": "env", "sparse": "sparse", "offline-evolve": "offline",
                     "llm-evolve": "llm", "answers": "replay"}  # fmt: skip
