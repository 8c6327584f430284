"""The search loop end to end on mountaincar with tiny budgets: real trainer, real sandbox,
real SQLite store."""

from __future__ import annotations

import numpy as np
import pytest

from rewardforge.designers.replay import ReplayDesigner
from rewardforge.errors import RunError
from rewardforge.runs import Workspace
from rewardforge.search.runner import Search
from rewardforge.search.screening import Trajectory
from rewardforge.search.steps import SearchSteps
from rewardforge.search.trajectories import load_trajectories, save_trajectories
from rewardforge.tasks.registry import get_task
from tests.search.support import EventLog, make_config

TINY = dict(steps=1200, num_envs=2, seed=3)


def config(**values):
    return make_config("mountaincar", **{**TINY, **values})


GOOD = """
import numpy as np

def compute_reward(position, velocity, goal_position):
    speed = np.abs(velocity) * 100.0
    bonus = 10.0 * (position >= goal_position)
    return speed + bonus, {"speed": speed, "bonus": bonus}
"""


def test_search_records_candidates_trainings_and_final_evaluation(tmp_path) -> None:
    log = EventLog()
    cfg = config(samples=4, iterations=2, success_target=1.0, final_seeds=1)
    search = Search(cfg, Workspace(tmp_path), callbacks=[log])
    result = search.run()
    summary = result.to_dict()

    store = search.workspace.store
    run = store.get_run(result.run_id)
    assert run.status == "finished"
    candidates = store.list_candidates(run.id)
    assert {c.iteration for c in candidates} == {0, 1}
    assert all(c.status in ("trained", "stopped_early") for c in candidates)
    # halving: 4 candidates -> 2 -> 1 per iteration, so one is trained fully per iteration
    assert [c.status for c in candidates].count("trained") == 2
    assert summary["env_steps"] < summary["full_budget_env_steps"]
    assert summary["env_steps"] == (4 * 300 + 2 * 300 + 1 * 600) * 2
    # iteration 1 was written from iteration 0's results
    assert any(c.parent_id is not None for c in candidates if c.iteration == 1)
    best = store.get_candidate(run.best_candidate_id)
    assert best.status == "trained"
    assert (tmp_path / run.id / "best_reward.py").read_text() == best.code
    trainings = store.list_trainings(run.id)
    assert {t.candidate_id for t in trainings} == {c.id for c in candidates}
    assert all("curve" in t.metrics and "components" in t.metrics for t in trainings)
    assert any(t.checkpoint for t in trainings if t.candidate_id == best.id)
    kinds = {(e.kind, e.baseline) for e in store.list_evaluations(run.id)}
    assert kinds == {("final", None), ("baseline", "env"), ("baseline", "sparse")}
    assert {"final", "env", "sparse"} <= summary.keys()
    assert result.best is not None and result.best.candidate_id == best.id
    assert result.best.code_path.read_text() == best.code
    assert result.final is not None and set(result.final.baselines) == {"env", "sparse"}
    assert [i.iteration for i in result.iterations] == [0, 1]
    assert log.hooks >= {
        "on_search_start", "on_iteration_start", "on_candidates_proposed",
        "on_candidate_checked", "on_training_progress", "on_candidate_scored",
        "on_iteration_end", "on_final_evaluation_start", "on_search_end",
    }  # fmt: skip
    scored = log.of("on_candidate_scored")
    assert {e.candidate_id for e in scored} == {c.id for c in candidates}
    assert all(e.success_rate is not None for e in scored)
    assert [e.iteration for e in log.of("on_iteration_end")] == [0, 1]
    assert log.of("on_search_end") == [result]


def test_broken_candidates_are_recorded_with_their_errors(tmp_path) -> None:
    broken = {
        "syntax": "def compute_reward(position:\n    return position",
        "unknown variable": "def compute_reward(positon):\n    return positon, {}",
        "nan": "import numpy as np\n\ndef compute_reward(position):\n"
        "    r = np.full(position.shape, np.nan)\n    return r, {'r': r}",
        "open a file": "def compute_reward(position):\n"
        "    open('/etc/passwd').read()\n    return position, {}",
        "escape via numpy": "import numpy as np\n\ndef compute_reward(position):\n"
        "    secret = np.fromfile('/etc/hostname', dtype=np.uint8)\n"
        "    return position + secret.sum(), {}",
        "no function": "I could not write a reward for this task, sorry.",
    }
    designer = ReplayDesigner.from_codes([GOOD, *broken.values()])
    cfg = config(samples=7, iterations=1, max_repairs=0, final_seeds=0)
    search = Search(cfg, Workspace(tmp_path), designer=designer)
    summary = search.run().to_dict()
    candidates = {c.slot: c for c in search.workspace.store.list_candidates(summary["run_id"])}
    assert candidates[0].status == "trained"
    kinds = {name: candidates[i + 1].error_kind for i, name in enumerate(broken)}
    assert kinds == {
        "syntax": "lint",
        "unknown variable": "lint",
        "nan": "smoke",
        "open a file": "lint",
        "escape via numpy": "smoke",
        "no function": "extract",
    }
    assert all(candidates[i].status == "rejected" for i in range(1, 7))
    assert "did you mean 'position'" in candidates[2].error.lower()
    assert "compute_reward" in candidates[6].error
    print({n: candidates[i + 1].error for i, n in enumerate(broken)})
    assert summary["best_candidate"] == candidates[0].id


def test_offline_repairs_a_failed_candidate_and_keeps_the_attempts(tmp_path) -> None:
    class Once(ReplayDesigner):
        """Serves one broken answer, then repairs it like a model would."""

        def repair(self, proposal, error, context):
            from rewardforge.designers.base import Proposal

            assert "positon" in error
            return Proposal(code=GOOD, designer="replay", notes="repair", meta={"attempt": 1})

    designer = Once.from_codes(["def compute_reward(positon):\n    return positon, {}"])
    cfg = config(samples=1, iterations=1, final_seeds=0)
    search = Search(cfg, Workspace(tmp_path), designer=designer)
    summary = search.run().to_dict()
    attempts = sorted(
        search.workspace.store.list_candidates(summary["run_id"]), key=lambda c: c.attempt
    )
    assert [(c.attempt, c.status) for c in attempts] == [(0, "rejected"), (1, "trained")]
    assert attempts[0].error_kind == "lint"


def test_resume_continues_without_redoing_recorded_work(tmp_path) -> None:
    cfg = config(samples=3, iterations=2, success_target=1.0, final_seeds=0)
    workspace = Workspace(tmp_path)

    def stop_in_iteration_1(hook: str, event) -> None:
        if hook == "on_training_progress" and event.iteration == 1:
            raise KeyboardInterrupt

    first = Search(cfg, workspace, callbacks=[EventLog(stop_in_iteration_1)])
    with pytest.raises(KeyboardInterrupt):
        first.run()
    store = workspace.store
    run = store.get_run(first.run_id)
    assert run.status == "interrupted"
    before = {c.id: c for c in store.list_candidates(run.id)}
    trainings_before = {
        (t.candidate_id, t.seed, t.budget_steps): t for t in store.list_trainings(run.id)
    }
    assert {c.iteration for c in before.values()} == {0, 1}

    class NoNewProposals:
        """Iteration 1's answers are stored: resume must not ask the designer again."""

        name = "offline"

        def propose(self, k, context):
            raise AssertionError("resume asked the designer for answers it already has")

        def repair(self, proposal, error, context):
            raise AssertionError("resume asked for a repair it already has")

    resumed = Search.resume(workspace, run.id, designer=NoNewProposals())
    assert resumed.config == cfg  # the stored config, resolved when the run began
    summary = resumed.run().to_dict()
    assert store.get_run(run.id).status == "finished"
    after = {c.id: c for c in store.list_candidates(run.id)}
    assert after.keys() == before.keys()
    assert all(after[i].code == before[i].code for i in before)
    for key, training in trainings_before.items():  # iteration 0 was not trained again
        assert store.find_training(*key).created_at == training.created_at
    assert summary["iterations"] == 2
    with pytest.raises(RunError, match="already finished"):
        Search.resume(workspace, run.id)


def test_resumed_training_is_deterministic(tmp_path) -> None:
    """Redoing an interrupted iteration gives the same fitness as the uninterrupted run."""
    cfg = config(samples=2, iterations=1, final_seeds=0, rungs="off")
    a = Search(cfg, Workspace(tmp_path / "a")).run().to_dict()
    b = Search(cfg, Workspace(tmp_path / "b")).run().to_dict()
    store_a, store_b = Workspace(tmp_path / "a").store, Workspace(tmp_path / "b").store
    fit_a = [c.fitness for c in store_a.list_candidates(a["run_id"])]
    fit_b = [c.fitness for c in store_b.list_candidates(b["run_id"])]
    assert fit_a == fit_b
    curves_a = [t.metrics["reflection"] for t in store_a.list_trainings(a["run_id"])]
    curves_b = [t.metrics["reflection"] for t in store_b.list_trainings(b["run_id"])]
    assert curves_a == curves_b


def test_screening_skips_rewards_that_rank_failures_above_successes(tmp_path) -> None:
    inverted = GOOD.replace("return speed + bonus", "return -(speed + bonus)")
    iteration_1 = [GOOD, inverted, GOOD.replace("100.0", "50.0")]
    designer = ReplayDesigner.from_codes([GOOD] * 3 + iteration_1)
    cfg = config(
        samples=3, iterations=1, final_seeds=0,
        screen_fraction=0.0,
    )  # fmt: skip
    workspace = Workspace(tmp_path)
    steps = SearchSteps(cfg, get_task("mountaincar"), workspace, designer=designer)
    steps.bind(workspace.store.create_run("mountaincar", "evolve", cfg.to_dict()).id)
    rng = np.random.default_rng(0)

    def trajectory(success: bool) -> Trajectory:
        pos = np.linspace(-0.5, 0.5 if success else -0.3, 50)
        return Trajectory(
            {
                "position": pos,
                "velocity": rng.normal(0, 0.03 if success else 0.005, 50),
                "goal_position": np.full(50, 0.45),
            },
            success,
        )

    path = steps.trajectory_path(0)
    save_trajectories(path, [trajectory(i % 2 == 0) for i in range(8)])
    assert len(load_trajectories(path)) == 8
    # pretend iteration 0 ran: screening uses trajectories of earlier iterations
    context = steps.context(1)
    checked = steps.check(1, steps.propose(1, 3, context), context)
    kept = steps.screen(1, checked, min_auc=0.5, fraction=0.0)
    assert len(kept) == 2
    out = [c for c in workspace.store.list_candidates(steps.run_id) if c.status == "screened_out"]
    assert len(out) == 1 and out[0].details.screen is not None
    assert "ranks failed episodes above successful ones" in out[0].details.screen.reason
    steps.close()


def test_a_replay_source_that_runs_out_ends_the_search_early(tmp_path) -> None:
    designer = ReplayDesigner.from_codes([GOOD, GOOD.replace("100.0", "50.0")])
    cfg = config(
        samples=2, iterations=3, final_seeds=0,
        success_target=1.0,
    )  # fmt: skip
    summary = Search(cfg, Workspace(tmp_path), designer=designer).run().to_dict()
    assert summary["iterations"] == 1 and summary["best_candidate"] is not None


def test_a_designer_with_nothing_to_propose_is_an_error(tmp_path) -> None:
    class Empty:
        name = "replay"

        def propose(self, k, context):
            return []

        def repair(self, proposal, error, context):
            return None

    cfg = config(samples=1, iterations=1, final_seeds=0)
    search = Search(cfg, Workspace(tmp_path), designer=Empty())
    with pytest.raises(RunError, match="proposed no candidate for iteration 0"):
        search.run()
    assert search.workspace.store.get_run(search.run_id).status == "failed"
