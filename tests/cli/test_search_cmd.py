"""``rewardforge search`` and ``rewardforge resume`` as a user runs them: the real console
entry in a subprocess, the offline designer, tiny budgets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rewardforge.cli import main
from rewardforge.runs import Workspace
from rewardforge.search.config import SearchConfig
from rewardforge.search.steps import REPLACE_PREFIX, SearchSteps
from rewardforge.tasks.registry import get_task

TINY = [
    "mountaincar", "--designer", "offline", "--samples", "2", "--steps", "800",
    "--num-envs", "2", "--final-seeds", "0", "--success-target", "1.0",
]  # fmt: skip


def search(workspace: Path, *extra: str, stdin: str = "") -> subprocess.CompletedProcess:
    """``rewardforge search TINY... --workspace W EXTRA...`` with ``stdin`` as its input."""
    env = {k: v for k, v in os.environ.items() if k != "REWARDFORGE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "rewardforge.cli", "search", *TINY, "--workspace", str(workspace),
         *extra],
        input=stdin, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def test_search_prints_a_json_summary_and_a_finished_run_cannot_be_resumed(
    run_cli, tmp_path
) -> None:
    # the default --workers: both candidates train at once in worker processes
    out = search(tmp_path, "--iterations", "1", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    store = Workspace(tmp_path).store
    run = store.get_run(summary["run_id"])
    assert run.status == "finished"
    assert summary["best_candidate"] is not None
    assert summary["best_candidate"] == run.best_candidate_id
    best = store.get_candidate(summary["best_candidate"])
    assert summary["best_fitness"] == best.fitness
    assert Path(summary["reward_path"]).read_text() == best.code
    assert summary["iterations"] == 1
    assert {c.iteration for c in store.list_candidates(run.id)} == {0}
    assert "final" not in summary  # --final-seeds 0
    groups = {c.details.training.job.group for c in store.list_candidates(run.id)}
    assert groups == {0, 1}  # two candidates, two workers on this 2-core machine
    assert run.config["executor"]["workers"] == 2

    # the report renders the best policy's animation from its checkpoint and embeds it
    report = run_cli("report", run.id, "--workspace", str(tmp_path))
    assert report.returncode == 0, report.stderr[-3000:]
    gif = Workspace(tmp_path).gif_path(run.id)
    assert gif.read_bytes().startswith(b"GIF89a")
    html = Workspace(tmp_path).report_path(run.id).read_text()
    assert 'data-plot="animation"' in html and "data:image/gif;base64," in html

    again = run_cli("resume", run.id, "--workspace", str(tmp_path))
    assert again.returncode == 1
    assert "already finished" in again.stderr and run.id in again.stderr
    assert "Traceback" not in again.stderr
    assert store.get_run(run.id).status == "finished"  # the refused resume changed nothing


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--rungs", "0.5,0.2", "rungs must be increasing fractions"),
        (
            "--eta",
            "0.5",
            "bad value 0.5 for strategy.eta (--eta): Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_flag_values_fail_before_any_run_is_created(capsys, tmp_path, flag, value, message):
    code = main(["search", *TINY, "--workspace", str(tmp_path), flag, value])  # the console entry
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and "Traceback" not in err
    assert not Workspace(tmp_path).exists  # no run was created


def test_human_feedback_is_read_from_stdin_after_each_iteration_but_the_last(tmp_path) -> None:
    text = f"{REPLACE_PREFIX} the car rocks back and forth; reward going up the right hill"
    stdin = f"{text}\n\n"  # iteration 0: replace the reflection; iteration 1: keep it
    out = search(
        tmp_path, "--iterations", "3", "--feedback", "human", "--workers", "1", "--json",
        stdin=stdin,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = json.loads(out.stdout)["run_id"]
    store = Workspace(tmp_path).store
    iterations = store.list_iterations(run_id)
    assert [i.human_feedback for i in iterations] == [text, "", None]  # the last asks nothing

    # before each question, the digest lists the iteration's best candidate first
    prompt = "Your feedback for the next iteration"
    digests = out.stderr.split(prompt)[:-1]
    assert len(digests) == 2
    for iteration, digest in zip(iterations, digests, strict=False):
        assert f"iteration {iteration.iteration}: 2 candidates" in digest
        listed = [int(c) for c in re.findall(r"candidate #(\d+) \(slot", digest)]
        assert listed and listed[0] == iteration.best_candidate_id, digest
        # and where to watch the best policy: a GIF rendered from its checkpoint
        (gif,) = re.findall(r"animation of the best policy: (\S+\.gif)", digest)
        assert Path(gif).name == f"iteration_{iteration.iteration}.gif"
        assert Path(gif).read_bytes().startswith(b"GIF89a")

    # iteration 1 was designed from the person's text instead of the reflection, iteration 2
    # from the reflection alone
    run = store.get_run(run_id)
    steps = SearchSteps(SearchConfig.from_stored(run.config), get_task("mountaincar"),
                        Workspace(tmp_path))  # fmt: skip
    steps.bind(run_id)
    context = steps.context(1)
    assert context.human_feedback == text[len(REPLACE_PREFIX) :].strip()
    assert context.human_feedback_mode == "replace"
    context = steps.context(2)
    assert (context.human_feedback, context.human_feedback_mode) == ("", "join")
    # text without the prefix joins the reflection
    store.set_iteration_feedback(run_id, 1, human_feedback="  Go right  ")
    context = steps.context(2)
    assert (context.human_feedback, context.human_feedback_mode) == ("Go right", "join")


def test_print_config_round_trips_and_a_config_file_with_overrides_runs(
    capsys, tmp_path, monkeypatch
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REWARDFORGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    args = ["search", "pendulum", "--samples", "3", "training.steps=20000", "--print-config"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "samples: 3" in printed and "steps: 20000" in printed
    config_file = tmp_path / "search.yaml"
    config_file.write_text(printed)
    assert main(["search", "--config", str(config_file), "--print-config"]) == 0
    assert capsys.readouterr().out == printed  # its output used as --config: the same config
    assert not (tmp_path / "runs.sqlite").exists()  # printing runs nothing

    # the config file, then flags, then dotted overrides; the run keeps the resolved config
    out = search_with(
        tmp_path, "search", "pendulum", "--config", str(config_file), "strategy.samples=2",
        "strategy.iterations=1", "training.steps=300", "training.num_envs=2",
        "evaluation.final_seeds=0", "executor.workers=1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    run = Workspace(tmp_path / "ws").store.get_run(json.loads(out.stdout)["run_id"])
    expected = {**yaml.safe_load(printed)}
    expected["strategy"].update(samples=2, iterations=1)
    expected["training"].update(steps=300, num_envs=2)
    expected["evaluation"]["final_seeds"] = 0
    expected["executor"]["workers"] = 1
    assert run.config == expected
    assert len(Workspace(tmp_path / "ws").store.list_candidates(run.id)) == 2


def search_with(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "REWARDFORGE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "rewardforge.cli", *args, "--workspace", str(tmp_path / "ws")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-tokens", "-1"], "bad value -1 for model.max_tokens (--max-tokens): Input should be greater than 0"),
        (["--steps", "0"], "bad value 0 for training.steps (--steps): Input should be greater than 0"),
        (["--samples", "0"], "bad value 0 for strategy.samples (--samples): Input should be greater than 0"),
        (["strategy.sampels=2"], "unknown key strategy.sampels. Did you mean 'strategy.samples'?"),
        (["--judge", "vlm", "--workers", "2"], "executor.workers (--workers 2) cannot be used"),
    ],
)  # fmt: skip
def test_bad_settings_fail_before_anything_is_written(capsys, tmp_path, flags, message) -> None:
    code = main(["search", "pendulum", *flags, "--workspace", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not Workspace(tmp_path).exists


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trainer", "bogus"], "unknown trainer 'bogus'"),
        (["--designer", "replay", "--replay-from", "/no/such/rewards"],
         "--replay-from '/no/such/rewards' is neither a file, a directory, nor a run"),
    ],
)  # fmt: skip
def test_a_search_that_fails_its_checks_leaves_no_run_behind(capsys, tmp_path, flags, message):
    """Before: the run was created first, then marked failed."""
    assert Workspace(tmp_path).store.list_runs() == []  # a workspace that exists, no runs
    code = main(["search", "pendulum", *flags, "--workspace", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert Workspace(tmp_path).store.list_runs() == []


def test_a_named_model_without_its_key_fails_at_once_naming_the_variable(
    capsys, tmp_path, monkeypatch
) -> None:
    """Before: ``--model openai/gpt-4o`` without a key ran the offline designer and exited 0."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["search", "pendulum", "--model", "openai/gpt-4o", "--workspace", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "needs an API key: set OPENAI_API_KEY" in err
    assert not Workspace(tmp_path).exists  # no run, not even a store
