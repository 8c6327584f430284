"""Tournament fitness from a teacher's pairwise comparisons of policies' final states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rewardforge.preference.judge import FinalStates, JudgedTrainer, judge_policies, tournament
from rewardforge.preference.teachers import ScriptedTeacher
from rewardforge.rl.types import EvalResult
from rewardforge.tasks.registry import get_task
from rewardforge.tasks.vecenv import ENV_REWARD_KEY

TASK = get_task("pendulum")


def test_round_robin_ranks_policies_by_their_final_states() -> None:
    # 3 policies x 2 starts; policy k ends with utility k (policy 1 ties with itself only)
    utility = np.repeat([0.0, 1.0, 2.0], 2)
    states = FinalStates({ENV_REWARD_KEY: utility}, num_members=3, episodes=2)
    result = tournament(states, ScriptedTeacher(TASK, "env"))
    assert result.fitness.tolist() == [0.0, 0.5, 1.0]
    assert result.comparisons == 6 and result.unlabelled == 0
    assert result.points[2, 0] == 2 and result.games[0, 1] == 2


def test_equal_policies_tie_and_a_random_anchor_plays() -> None:
    still = lambda obs: np.zeros((len(obs), 1), np.float32)  # noqa: E731
    result = judge_policies(TASK, still, 2, ScriptedTeacher(TASK, "env"), episodes=3)
    assert result.fitness.shape == (2,)
    assert result.fitness[0] == result.fitness[1]
    assert result.comparisons == 3 * 3  # policies 0, 1 and the anchor, pairwise, 3 starts each
    assert result.points[0, 1] == result.points[1, 0] == 1.5  # three ties


class _Pop:
    """A stand-in population: two members, one holds the pendulum still, one pushes hard."""

    num_members, task = 2, TASK

    def act(self, obs: np.ndarray) -> np.ndarray:
        half = len(obs) // 2
        return np.concatenate([np.zeros((half, 1)), np.full((len(obs) - half, 1), 2.0)]).astype(
            np.float32
        )

    def evaluate(
        self, num_episodes: Any = None, seed: Any = None, *, both: bool = True
    ) -> list[EvalResult]:
        return [EvalResult(0.0, 0.0, None, -1.0, 0.0, 1.0, (-1.0,), (1,), (False,))] * 2


class _Trainer:
    task = TASK

    def start(self, rewards: Any, seeds: Any, **kwargs: Any) -> _Pop:
        return _Pop()


def test_judged_trainer_reports_the_tournament_fitness() -> None:
    judged = JudgedTrainer(_Trainer(), ScriptedTeacher(TASK, "env"), episodes=2)
    pop = judged.start([None], [0])
    results = pop.evaluate()
    assert [r.fitness for r in results] == judged.last.fitness.tolist()  # type: ignore[union-attr]
    assert results[0].mean_return == -1.0  # the rest of the evaluation is kept
    assert pop.num_members == 2 and judged.task is TASK


def test_evolve_with_a_judge_selects_on_tournament_fitness(tmp_path, monkeypatch) -> None:
    from rewardforge.runs import Workspace
    from rewardforge.search import steps as steps_module
    from rewardforge.search.runner import Search
    from tests.search.support import make_config

    config = make_config(
        "pendulum", samples=2, iterations=1, steps=300, num_envs=2, rungs=(1.0,),
        final_seeds=0, screening=False, judge="scripted", designer="offline", seed=2,
    )  # fmt: skip
    made: list[Any] = []
    real = steps_module.make_search_trainer

    def keep(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(steps_module, "make_search_trainer", keep)
    search = Search(config, Workspace(tmp_path))
    summary = search.run().to_dict()
    trained = [
        c
        for c in search.workspace.store.list_candidates(summary["run_id"])
        if c.fitness is not None
    ]
    assert len(trained) == 2
    # two policies and the random anchor: each policy's share of points lies in [0, 1]
    assert all(0.0 <= c.fitness <= 1.0 for c in trained)
    [trainer] = made
    assert isinstance(trainer, JudgedTrainer)
    assert trainer.last is not None and trainer.last.comparisons == 3 * 4


def test_a_scripted_judge_travels_with_training_jobs(tmp_path) -> None:
    """Before: with ``--workers 2`` (or Ray) the judge was dropped during the search and
    applied only in the final evaluation. Here success is impossible, so without the judge
    every fitness is 0; with it, the two policies of a job share the points of the games
    between them, so their fitness adds up to at least 4 of 16 games per job."""
    import yaml

    from rewardforge.runs import Workspace
    from rewardforge.search.runner import Search
    from tests.search.support import make_config

    spec = yaml.safe_load(
        (Path(__file__).parents[2] / "src/rewardforge/tasks/builtin/pendulum.yaml").read_text()
    )
    spec["id"] = "pendulum-never"
    spec["success"]["code"] = "def is_success(theta):\n    return np.zeros(len(theta), bool)\n"
    task = tmp_path / "never.yaml"
    task.write_text(yaml.safe_dump(spec))
    config = make_config(
        str(task), samples=4, iterations=1, steps=200, num_envs=2, rungs="off",
        final_seeds=0, screening=False, judge="scripted", seed=2, workers=2,
    )  # fmt: skip
    search = Search(config, Workspace(tmp_path / "ws"))
    result = search.run()
    trained = search.workspace.store.list_candidates(result.run_id)
    jobs = {c.details.training.job.group for c in trained if c.details.training.job}
    assert jobs == {0, 1}  # two jobs of two candidates, in worker processes
    assert all(c.success_rate == 0.0 for c in trained)
    for group in jobs:
        fitness = [c.fitness for c in trained if c.details.training.job.group == group]
        assert len(fitness) == 2 and sum(fitness) >= 0.25
