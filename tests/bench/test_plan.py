"""Plans: a suite expanded into checked cells, what each trains, and what that costs here."""

from __future__ import annotations

import pytest

from rewardforge.bench.estimate import Speed, estimate, pack, save_speeds, speed_key
from rewardforge.bench.plan import BenchSettings, build_plan
from rewardforge.bench.suite import BenchSuite, load_suite
from rewardforge.errors import ConfigError

EVOLVE = {"strategy": "evolve", "designer": "offline", "samples": 8, "iterations": 3}


def suite(methods, tasks=("pendulum",), **extra) -> BenchSuite:
    return BenchSuite(name="t", tasks=tasks, methods=methods, **extra)


def test_every_search_gets_the_benchs_settings_and_baselines_the_final_seeds() -> None:
    plan = build_plan(load_suite("classic")[0], seed=7)
    assert len(plan.cells) == 9 and plan.tasks == ["cartpole", "mountaincar", "pendulum"]
    search = plan.cell("cartpole", "offline-evolve")
    config = search.config
    assert config is not None and config.seed == 7
    assert config.executor.workers == 1  # a result that does not depend on the machine's cores
    assert (config.evaluation.final_seeds, config.evaluation.baselines) == (3, False)
    assert config.training.steps is None and search.num_steps == 100_000  # the task's budget
    env = plan.cell("cartpole", "env")
    assert env.baseline == "env" and env.seeds == search.seeds == (1007, 1008, 1009)
    assert env.trainer == search.trainer == "ppo"


def test_what_a_search_trains_at_most_follows_its_halving_and_iterations() -> None:
    plan = build_plan(load_suite("classic")[0])
    cell = plan.cell("cartpole", "offline-evolve")
    # per iteration: 8 x 25k, 4 x 25k, 2 x 50k; three iterations; the final 3 x 100k
    assert [(s.members, s.steps) for s in cell.segments[:3]] == [
        (8, 25_000),
        (4, 25_000),
        (2, 50_000),
    ]
    assert cell.env_steps == 3 * 400_000 + 300_000
    assert cell.trainings == 3 * 8 + 3
    assert plan.cell("cartpole", "sparse").env_steps == 300_000


def test_methods_as_flags_sections_or_dotted_keys_and_a_number_budget() -> None:
    methods = {
        "flat": {"strategy": "evolve", "samples": 2, "rungs": "off"},
        "sections": {"strategy": {"name": "evolve", "samples": 2}, "designer": {"name": "offline"}},
        "dotted": {"strategy.samples": 3, "strategy.rungs": "off"},
        "learned": {"strategy": "preference"},
    }
    plan = build_plan(suite(methods, budget=5000, seeds=2))
    configs = {c.method: c.config for c in plan.cells}
    assert configs["flat"].strategy.rungs == (1.0,) and configs["flat"].training.steps == 5000
    assert (
        configs["sections"].strategy.samples == 2 and configs["sections"].designer.name == "offline"
    )
    assert configs["dotted"].strategy.samples == 3
    # a learned reward's run is its own final evaluation: over the suite's seeds
    assert configs["learned"].training.seeds == 2 and configs["learned"].training.trainer == "sac"


def test_replay_sources_are_read_beside_the_suite_file_per_task(tmp_path) -> None:
    (tmp_path / "answers" / "pendulum").mkdir(parents=True)
    (tmp_path / "answers" / "pendulum" / "a.py").write_text(
        "def compute_reward(angle):\n    return -abs(angle), {}\n"
    )
    (tmp_path / "s.yaml").write_text(
        "name: s\ntasks: [pendulum, mountaincar]\nmethods:\n"
        "  answers: {designer: replay, replay_from: 'answers/{task}/'}\n"
    )
    loaded, base = load_suite(tmp_path / "s.yaml")
    one = loaded.subset(["pendulum"], None)
    cell = build_plan(one, base_dir=base, workspace=None).cells[0]
    assert cell.config.designer.replay_from == str(tmp_path.resolve() / "answers/pendulum/")
    with pytest.raises(
        ConfigError,
        match=r"task mountaincar, method answers: --replay-from 'answers/mountaincar/' is neither",
    ):
        build_plan(loaded, base_dir=base)


def test_a_bad_method_fails_before_anything_runs_naming_task_and_method(monkeypatch) -> None:
    with pytest.raises(
        ConfigError,
        match=r"task pendulum, method m: unknown option 'sampels'\. Did you mean 'samples'\?",
    ):
        build_plan(suite({"m": {"sampels": 2}}))
    with pytest.raises(ConfigError, match=r"method m: .*unknown trainer 'sack'"):
        build_plan(suite({"m": {"trainer": "sack"}}))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"method llm: .*OPENAI_API_KEY"):
        build_plan(suite({"llm": {"designer": "llm", "model": "openai/gpt-4o"}}))
    with pytest.raises(
        ConfigError, match=r"suite t: no task named 'pendulm'\. Did you mean 'pendulum'\?"
    ):
        build_plan(suite({"env": {"baseline": "env"}}, tasks=("pendulm",)))


def test_the_estimate_prices_each_cell_at_the_measured_speed_and_packs_them(tmp_path) -> None:
    plan = BenchSettings(
        suite=suite(
            {"env": {"baseline": "env"}, "sparse": {"baseline": "sparse"}},
            tasks=("pendulum", "mountaincar"),
            budget=4000,
            seeds=2,
        )
    ).plan()
    speeds = {speed_key(c): Speed(0.01, 0.02, 1e-5) for c in plan.cells}
    save_speeds(tmp_path, speeds)
    est = estimate(plan, 2, tmp_path, measure=False)
    assert est.measured == ()
    # 2 members: 1000 vector steps of 4 envs at 0.01 + (0.02 - 0.01) / 3 s, and 8 evaluations
    # (a check each eighth of the budget, as a final evaluation does) of both policies:
    # 2 x 200 steps x (2 members x 10 episodes x 1e-5 s + 50 us)
    one = 1000 * (0.01 + 0.01 / 3) + 8 * 2 * 200 * (20 * 1e-5 + 50e-6)
    assert est.of("pendulum|env") == pytest.approx(one)
    assert est.seconds == pytest.approx(pack([c.seconds for c in est.cells], 2))
    assert pack([5, 4, 3, 3], 2) == 8 and pack([5, 4, 3, 3], 1) == 15
