"""The bench command's listing, dry run and errors (nothing trains here), and what show,
report, export and resume do with a bench's id."""

from __future__ import annotations

import json

import pytest

from rewardforge.bench.estimate import Speed, save_speeds
from rewardforge.bench.plan import build_plan
from rewardforge.bench.suite import load_suite
from rewardforge.cli import main
from tests.bench.support import make_bench


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_the_built_in_suites(capsys) -> None:
    code, out, _ = run(capsys, "bench", "--list")
    assert code == 0
    for name in ("classic", "core", "metaworld", "fetch", "locomotion", "manip2d"):
        assert f"{name}:" in out
    assert "tasks: cartpole, mountaincar, pendulum" in out


def test_a_dry_run_prints_the_plan_and_the_time_at_this_machines_speed(capsys, tmp_path) -> None:
    plan = build_plan(load_suite("classic")[0])
    save_speeds(tmp_path, {f"{c.task}|{c.trainer}|{c.num_envs}": Speed(1e-3, 2e-3, 1e-5)
                           for c in plan.cells})  # fmt: skip
    code, out, err = run(capsys, "bench", "classic", "--dry-run", "--json", "--workers", "2",
                         "--workspace", str(tmp_path))  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert len(data["cells"]) == 9 and data["total"]["workers"] == 2
    assert data["total"]["trainings"] == 3 * (3 + 3 + 27)
    assert data["total"]["estimate_s"] > 0 and "measuring" not in err  # the speeds were known
    assert not (tmp_path / "runs.sqlite").exists()  # a dry run creates no run
    code, out, _ = run(capsys, "bench", "classic", "--dry-run", "--workspace", str(tmp_path))
    assert "9 cells, 99 trainings" in out and "An upper bound" in out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((), r"give a suite: `rewardforge bench classic`"),
        (("clasic",), r"no built-in suite 'clasic'\. Did you mean 'classic'\?"),
        (
            ("classic", "--budget", "-3"),
            r"--budget is `task` or a positive number of steps, got '-3'",
        ),
        (("classic", "--seeds", "0"), r"--seeds must be a whole number from 1 to 100, got 0"),
        (("classic", "--ray-address", "auto"), r"--ray-address is for --executor ray"),
        (("classic", "--workers", "0"), r"--workers must be a whole number from 1 to 4,096, got 0"),
        (
            ("classic", "--tasks", "pendulm"),
            r"suite classic has no task 'pendulm'\. Did you mean 'pendulum'\?",
        ),
        (("classic", "--methods", "evolve"), r"suite classic has no method 'evolve'"),
    ],
)
def test_a_bad_bench_command_says_what_to_fix(capsys, tmp_path, args, match) -> None:
    code, _, err = run(capsys, "bench", *args, "--dry-run", "--workspace", str(tmp_path))
    assert code == 1
    import re

    assert re.search(match, err), err


def test_show_report_export_and_resume_know_a_bench(capsys, tmp_path) -> None:
    ws, bench_id = make_bench(tmp_path)
    ws.store.set_run_status(bench_id, "finished")
    where = ("--workspace", str(ws.root))
    code, out, _ = run(capsys, "show", bench_id, *where)
    assert code == 0 and "## Human-normalized score" in out and "| pendulum | 0.86 |" in out
    code, out, _ = run(capsys, "show", bench_id, *where, "--json")
    assert json.loads(out)["bench_id"] == bench_id
    code, out, _ = run(capsys, "report", bench_id, *where)
    assert code == 0 and (ws.root / bench_id / "bench.html").is_file()
    code, _, err = run(capsys, "export", bench_id, *where)
    assert code == 1 and "is a bench: it has no reward of its own" in err
    code, _, err = run(capsys, "resume", bench_id, *where)
    assert code == 1 and "has already finished" in err
