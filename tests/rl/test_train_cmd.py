from __future__ import annotations

import json


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
