from __future__ import annotations

import json
import re


def test_train_prints_fitness_json(run_cli, tmp_path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "cartpole",
        "--steps",
        "1024",
        "--seeds",
        "2",
        "--json",
        "--out",
        str(out),
        "--eval-episodes",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["summary"]["trainer"] == "ppo" and len(data["members"]) == 2
    assert len(data["members"][0]["fitness"]["returns"]) == 2
    assert len(data["members"][0]["reflection"]) == 10
    assert (out / "results.json").exists() and (out / "checkpoints").is_dir()


def test_train_table_and_errors(run_cli) -> None:
    proc = run_cli(
        "train", "cartpole", "--steps", "256", "--eval-episodes", "1", "--set", "rollout_steps=32"
    )
    assert proc.returncode == 0, proc.stderr
    assert "mean ± std" in proc.stdout
    bad = run_cli("train", "cartpole", "--trainer", "sacc")
    assert bad.returncode == 1 and "Did you mean 'sac'" in bad.stderr


def test_train_until_solved_prints_the_time_and_steps_to_solve(run_cli, tmp_path) -> None:
    proc = run_cli(
        "train", "pendulum", "--until-solved", "--steps", "4000", "--eval-every", "1000",
        "--set", "learning_starts=500", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"seed 0: (reached 0.9 in [\d.]+ s, [\d,]+ steps|did not reach 0.9)", proc.stdout
    )
    summary = json.loads((tmp_path / "out" / "results.json").read_text())["summary"]
    assert summary["target"] == 0.9 and len(summary["time_to_solve"]) == 1
    if summary["steps_to_solve"][0] is not None:
        assert summary["steps_to_solve"][0] % 1000 == 0


def test_train_until_solved_needs_a_target(run_cli) -> None:
    proc = run_cli("train", "ant", "--until-solved", "--steps", "10")
    assert proc.returncode == 1
    assert "task ant sets no fitness target" in proc.stderr
