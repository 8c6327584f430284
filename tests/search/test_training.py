"""Successive halving inside one population, final evaluation, trajectories, checks."""

from __future__ import annotations

import numpy as np
import pytest

from rewardforge.designers.base import Proposal
from rewardforge.rewards import RewardProgram, RewardSandbox, SandboxedReward
from rewardforge.rewards.base import get_baseline
from rewardforge.rl import load_policy
from rewardforge.rl.registry import make_trainer
from rewardforge.search.checking import check_proposal
from rewardforge.search.final import final_evaluation
from rewardforge.search.training import train_candidates
from rewardforge.search.trajectories import (
    collect_trajectories,
    load_trajectories,
    save_trajectories,
)
from rewardforge.tasks import get_task

TASK = get_task("mountaincar")
SPEED = """
import numpy as np

def compute_reward(velocity):
    r = {w} * np.abs(velocity)
    return r, {{"speed": r}}
"""
FAILS_LATE = """
import numpy as np

def compute_reward(velocity, episode_step):
    if np.any(episode_step > 280):
        raise ValueError("this reward breaks late in an episode")
    return np.abs(velocity), {"speed": np.abs(velocity)}
"""


@pytest.fixture(scope="module")
def sandbox():
    box = RewardSandbox()
    yield box
    box.close()


def trainer():
    return make_trainer("sac", TASK, num_envs=2, learning_starts=100, batch_size=32)


def test_halving_stops_the_weaker_half_at_each_rung(sandbox) -> None:
    rewards = [
        (i, SandboxedReward(sandbox, RewardProgram.from_source(SPEED.format(w=w), TASK)))
        for i, w in enumerate((1.0, 2.0, 3.0, 4.0))
    ]
    rungs_seen = []
    outcomes, trajectories = train_candidates(
        trainer(),
        rewards,
        seeds=[0],
        num_steps=800,
        rungs=(0.25, 0.5, 1.0),
        eta=2.0,
        on_rung=lambda i, steps, scores: rungs_seen.append((i, steps, sorted(scores))),
        trajectory_episodes=1,
    )
    assert [(i, steps, len(ids)) for i, steps, ids in rungs_seen] == [
        (0, 200, 4),
        (1, 400, 2),
        (2, 800, 1),
    ]
    statuses = sorted(o.status for o in outcomes)
    assert statuses == ["stopped_early"] * 3 + ["trained"]
    steps = sorted(o.steps for o in outcomes)
    assert steps == [200, 200, 400, 800]
    trained = next(o for o in outcomes if o.status == "trained")
    assert trained.curve["steps"] == [200, 400, 800]
    # trajectories from every member at every rung, with the task's variables
    assert len(trajectories) == 4 + 2 + 1
    assert {"position", "velocity"} <= trajectories[0].variables.keys()
    for _, fn in rewards:
        fn.close()


def test_a_reward_that_fails_while_training_stops_with_its_error(sandbox) -> None:
    good = SandboxedReward(sandbox, RewardProgram.from_source(SPEED.format(w=1.0), TASK))
    bad = SandboxedReward(sandbox, RewardProgram.from_source(FAILS_LATE, TASK))
    outcomes, _ = train_candidates(
        trainer(), [(1, good), (2, bad)], seeds=[0], num_steps=1200, rungs=(0.5, 1.0)
    )
    by_id = {o.candidate_id: o for o in outcomes}
    assert by_id[2].status == "failed"
    assert "breaks late in an episode" in by_id[2].error
    assert by_id[1].status == "trained" and by_id[1].steps == 1200
    good.close()
    bad.close()


def test_final_evaluation_trains_the_best_beside_both_baselines(sandbox, tmp_path) -> None:
    reward = SandboxedReward(sandbox, RewardProgram.from_source(SPEED.format(w=1.0), TASK))
    final = final_evaluation(
        trainer(), reward, seeds=[7, 8], num_steps=300, checkpoint_dir=tmp_path
    )
    assert final.seeds == (7, 8)
    assert set(final.baselines) == {"env", "sparse"}
    assert len(final.method.per_seed) == 2 and len(final.method.checkpoints) == 2
    assert all(p.endswith(".pt") for p in final.method.checkpoints)
    assert 0.0 <= final.method.mean <= 1.0
    reward.close()


def test_final_evaluation_stops_each_training_at_the_target_like_the_search(tmp_path) -> None:
    """Pendulum with a target of 0 (any policy reaches it): every arm and seed stops at the
    first check, with its own saved policy; without a target all train the full budget."""
    quick = make_trainer("sac", get_task("pendulum"), learning_starts=50, batch_size=16,
                         net_arch=[16])  # fmt: skip
    final = final_evaluation(
        quick, get_baseline("env"), seeds=[3, 4], num_steps=800, checkpoint_dir=tmp_path,
        target=0.0, eval_every=200,
    )  # fmt: skip
    arms = [final.method, *final.baselines.values()]
    paths = [p for arm in arms for p in arm.checkpoints]
    assert len(set(paths)) == 6 and all(p.endswith(".pt") for p in paths)
    assert {load_policy(p).info["steps"] for p in paths} == {200}
    full = final_evaluation(quick, get_baseline("env"), seeds=[3], num_steps=400,
                            checkpoint_dir=tmp_path / "full", target=2.0, eval_every=200)  # fmt: skip
    assert load_policy(full.method.checkpoints[0]).info["steps"] == 400


def test_trajectories_survive_a_round_trip(tmp_path) -> None:
    fn = get_baseline("env")
    assert fn is not None
    trajectories = collect_trajectories(
        TASK, lambda obs: np.zeros((len(obs), 1), np.float32), num_members=2, episodes=1
    )
    assert len(trajectories) == 2
    assert all(t.length == TASK.max_episode_steps for t in trajectories)  # never reaches the flag
    assert not any(t.success for t in trajectories)
    path = tmp_path / "t.npz"
    save_trajectories(path, trajectories)
    loaded = load_trajectories(path)
    assert [t.success for t in loaded] == [t.success for t in trajectories]
    np.testing.assert_array_equal(
        loaded[1].variables["position"], trajectories[1].variables["position"]
    )
    assert load_trajectories(tmp_path / "missing.npz") == []


@pytest.mark.parametrize(
    ("answer", "kind", "message"),
    [
        ("no code here", "extract", "no function named compute_reward"),
        ("def compute_reward(nope):\n    return nope, {}", "lint", "not a variable of this task"),
        (
            "import numpy as np\ndef compute_reward(position):\n    return position / 0.0, {}",
            "smoke",
            "inf",
        ),
    ],
)
def test_check_names_the_first_failure(sandbox, answer, kind, message) -> None:
    check = check_proposal(Proposal(code=answer, designer="test"), TASK, sandbox)
    assert not check.ok and check.error_kind == kind
    assert message in check.error.lower()


def test_check_passes_fenced_answers_and_reports_the_smoke_run(sandbox) -> None:
    answer = "Sure:\n```python\n" + SPEED.format(w=2.0) + "```\nThat should work."
    check = check_proposal(Proposal(code=answer, designer="test"), TASK, sandbox)
    assert check.ok and check.program is not None
    assert check.code.startswith("import numpy as np")
    assert check.smoke is not None and check.smoke["ok"] is True


def test_a_model_failure_is_a_check_failure_not_a_crash(sandbox) -> None:
    failed = Proposal(code="", designer="llm", meta={"model_error": "HTTP 500 after 3 attempts"})
    check = check_proposal(failed, TASK, sandbox)
    assert check.error_kind == "model" and "HTTP 500" in check.error


def test_halving_breaks_ties_by_success_while_training_then_score() -> None:
    from rewardforge.search.training import CandidateOutcome, _rank

    def outcome(cid: int, training: list[float], score: float) -> CandidateOutcome:
        out = CandidateOutcome(cid, fitness=0.0, success_rate=0.0)
        out.reflection = {"success_rate": training}
        out.per_seed = [
            type("E", (), {"score": score})()  # only .score is read
        ]
        return out

    nan = float("nan")
    sits = outcome(1, [nan, 0.0, nan, 0.0], score=0.3)
    explores = outcome(2, [0.0, 1.0, nan, 1.0, nan], score=0.1)
    further = outcome(3, [nan, nan], score=0.4)
    ranked = sorted([sits, explores, further], key=_rank, reverse=True)
    assert [o.candidate_id for o in ranked] == [2, 3, 1]


def test_a_candidate_that_reaches_the_target_stops_with_its_policy_saved(tmp_path) -> None:
    """Pendulum's env reward against the sparse one: a target of 0 is reached by any policy,
    so with a target every candidate stops at the first check and keeps its checkpoint."""
    task = get_task("pendulum")
    quick = make_trainer("sac", task, learning_starts=50, batch_size=16, net_arch=[16])
    rewards = [(1, get_baseline("env")), (2, get_baseline("sparse")), (3, get_baseline("env"))]
    outcomes, _ = train_candidates(
        quick, rewards, seeds=[0, 1], num_steps=800, rungs=(0.5, 1.0), eta=2.0,
        checkpoint_dir=tmp_path, target=0.0, eval_every=200,
    )  # fmt: skip
    assert [o.status for o in outcomes] == ["trained"] * 3
    assert [o.steps for o in outcomes] == [200] * 3  # not the 800 of the budget
    assert [o.curve["steps"] for o in outcomes] == [[200]] * 3
    for o in outcomes:
        assert len(o.checkpoints) == 2 and all(p and (tmp_path / p).exists() for p in o.checkpoints)
    assert len({p for o in outcomes for p in o.checkpoints}) == 6  # no policy overwrote another


def test_without_reaching_the_target_checks_do_not_change_halving(tmp_path) -> None:
    task = get_task("pendulum")
    quick = make_trainer("sac", task, learning_starts=50, batch_size=16, net_arch=[16])
    rewards = [(1, get_baseline("env")), (2, get_baseline("sparse"))]
    outcomes, _ = train_candidates(
        quick, rewards, seeds=[0], num_steps=800, rungs=(0.5, 1.0), eta=2.0,
        checkpoint_dir=tmp_path, target=2.0, eval_every=200,
    )  # fmt: skip
    assert sorted(o.status for o in outcomes) == ["stopped_early", "trained"]
    done = next(o for o in outcomes if o.status == "trained")
    assert done.steps == 800 and done.curve["steps"] == [200, 400, 600, 800]
    stopped = next(o for o in outcomes if o.status == "stopped_early")
    assert stopped.curve["steps"] == [200, 400]  # evaluated between the rungs, halved at 400
