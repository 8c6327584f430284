"""Training jobs: a group of candidates trained in another process gives what it gives here."""

from __future__ import annotations

import pytest

from rewardforge.errors import RunError
from rewardforge.runs.executors import LocalExecutor
from rewardforge.search.jobs import (
    JobOutput,
    failed_outcomes,
    run_training_job,
    split_jobs,
    store_files,
)
from rewardforge.tasks.registry import get_task

REWARDS = [
    "import numpy as np\n\ndef compute_reward(velocity):\n"
    "    s = np.abs(velocity) * 100.0\n    return s, {'speed': s}",
    "def compute_reward(position):\n    return position, {'position': position}",
    "import numpy as np\n\ndef compute_reward(position, goal_position):\n"
    "    d = -np.abs(goal_position - position)\n    return d, {'distance': d}",
    "import numpy as np\n\ndef compute_reward(position):\n"
    "    r = np.zeros_like(position)\n    return r, {'nothing': r}",
]


def quick_task():
    base = get_task("mountaincar")
    fitness = base.fitness.model_copy(update={"num_episodes": 2})
    return base.model_copy(update={"fitness": fitness, "max_episode_steps": 200})


def make_jobs(num_groups: int):
    return split_jobs(
        list(enumerate(REWARDS, start=1)),
        num_groups,
        task=quick_task(),
        trainer="ppo",
        hparams={"num_envs": 2},
        device="cpu",
        seeds=(3,),
        num_steps=1024,
        rungs=(0.5, 1.0),
        eta=2.0,
        folder="iteration_0",
    )


def test_split_deals_candidates_round_robin() -> None:
    jobs = make_jobs(2)
    assert [[cid for cid, _ in j.candidates] for j in jobs] == [[1, 3], [2, 4]]
    assert [j.folder for j in jobs] == ["iteration_0/group_0", "iteration_0/group_1"]
    assert len(make_jobs(8)) == 4  # never an empty group


def test_local_workers_train_groups_as_this_process_does(tmp_path) -> None:
    jobs = make_jobs(2)
    here = [run_training_job(job) for job in jobs]
    with LocalExecutor(workers=2) as ex:
        there = {r.index: r.result for r in ex.map_unordered(run_training_job, jobs)}
    for g, expected in enumerate(here):
        got = there[g]
        assert isinstance(got, JobOutput)
        assert [(o.candidate_id, o.status, o.steps, o.fitness) for o in got.outcomes] == [
            (o.candidate_id, o.status, o.steps, o.fitness) for o in expected.outcomes
        ]
        # halving inside the group: one of its two candidates goes on to the full budget
        assert sorted(o.status for o in got.outcomes) == ["stopped_early", "trained"]
        assert [r[:2] for r in got.rungs] == [(0, 512), (1, 1024)]
        assert got.sandbox_layers == expected.sandbox_layers
        assert "seccomp" in " ".join(got.sandbox_layers)
    # checkpoints and logs come back as bytes and land in the run folder
    output = there[0]
    assert output is not None
    store_files(output, tmp_path)
    trained = next(o for o in output.outcomes if o.status == "trained")
    checkpoint = trained.checkpoints[0]
    assert checkpoint is not None
    assert checkpoint.startswith(str(tmp_path / "checkpoints" / "iteration_0" / "group_0"))
    assert (tmp_path / "tb" / "iteration_0" / "group_0" / "metrics.jsonl").is_file()


def test_store_files_refuses_paths_outside_the_artifact_folders(tmp_path) -> None:
    output = JobOutput(outcomes=[], trajectories=[], files={"../escape.txt": b"x"})
    with pytest.raises(RunError, match="outside checkpoints/ and tb/"):
        store_files(output, tmp_path / "run")


def test_a_failed_job_fails_each_of_its_candidates_with_the_error() -> None:
    job = make_jobs(2)[1]
    outcomes = failed_outcomes(job, "WorkerCrashedError: the worker died")
    assert [(o.candidate_id, o.status) for o in outcomes] == [(2, "failed"), (4, "failed")]
    assert outcomes[0].error == (
        "training job iteration_0/group_1 failed: WorkerCrashedError: the worker died"
    )
