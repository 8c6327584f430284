from __future__ import annotations

import json


def test_version(run_cli) -> None:
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("rewardforge ")


def test_tasks_lists_the_three_classic_tasks(run_cli) -> None:
    out = run_cli("tasks", "--json")
    assert out.returncode == 0, out.stderr
    ids = {t["id"] for t in json.loads(out.stdout)}
    assert {"mountaincar", "pendulum", "cartpole"} <= ids
    table = run_cli("tasks")
    assert "mountaincar" in table.stdout and "MountainCarContinuous" in table.stdout


def test_task_show_lists_variables(run_cli) -> None:
    out = run_cli("task", "show", "mountaincar")
    assert out.returncode == 0, out.stderr
    for name in ("position", "velocity", "goal_position", "action", "is_success"):
        assert name in out.stdout
    data = json.loads(run_cli("task", "show", "mountaincar", "--json").stdout)
    assert [v["name"] for v in data["variables"]][:4] == [
        "position",
        "velocity",
        "goal_position",
        "action",
    ]
    assert data["variables"][3]["shape"] == [1]
    roles = {v["name"]: (v["role"], v["role_declared"]) for v in data["variables"]}
    assert roles["position"] == ("effector", True) and roles["goal_position"] == ("goal", True)
    assert "effector" in out.stdout, "the table shows each variable's role"


def test_unknown_task_fails_with_suggestion_and_no_traceback(run_cli) -> None:
    out = run_cli("task", "show", "mountaincr")
    assert out.returncode == 1
    assert "Did you mean 'mountaincar'?" in out.stderr
    assert "Traceback" not in out.stderr


def test_debug_flag_shows_traceback(run_cli) -> None:
    out = run_cli("--debug", "task", "show", "mountaincr")
    assert out.returncode == 1
    assert "Traceback" in out.stderr
