from __future__ import annotations

import inspect

import numpy as np
import pytest

from rewardforge.designers.base import CandidateResult, DesignContext
from rewardforge.designers.offline import OfflineDesigner, sample_variables
from rewardforge.designers.terms import parse_genome
from rewardforge.tasks import get_task


def run_reward(code: str, variables: dict[str, np.ndarray]):
    namespace: dict = {}
    exec(code, namespace)  # trusted: the test's own generated code
    func = namespace["compute_reward"]
    return func(*(variables[p] for p in inspect.signature(func).parameters))


@pytest.mark.parametrize("task_id", ["mountaincar", "pendulum", "cartpole"])
def test_proposals_follow_the_reward_contract(task_id: str) -> None:
    task = get_task(task_id)
    designer = OfflineDesigner(task, seed=1)
    samples = sample_variables(task, num_steps=64, seed=3)
    proposals = designer.propose(6, DesignContext(task=task, iteration=0))
    assert len(proposals) == 6
    assert len({p.code for p in proposals}) == 6, "proposals are distinct"
    for p in proposals:
        reward, components = run_reward(p.code, samples)
        assert reward.shape == (64,)
        assert np.all(np.isfinite(reward))
        np.testing.assert_allclose(reward, sum(components.values()))
        assert parse_genome(p.code), "the genome rides along for evolution and resume"


def _result(code: str, success: float, components: dict) -> CandidateResult:
    return CandidateResult(
        candidate_id=7,
        code=code,
        fitness=success,
        success_rate=success,
        reflection={"components": components},
    )


def test_reflection_rules_drop_constant_rescale_dominating_and_rewrite() -> None:
    task = get_task("mountaincar")
    designer = OfflineDesigner(task, seed=0)
    code = next(
        p.code
        for p in designer.propose(6, DesignContext(task=task, iteration=0))
        if "effort" in p.code and "dist_" in p.code
    )
    names = [t.name for t in parse_genome(code)]
    assert names == ["dist_position_goal_position", "effort", "success_bonus"]
    stats = {
        "dist_position_goal_position": {
            "mean": [500.0, 510.0],
            "min": [400.0, 410.0],
            "max": [600.0, 610.0],
        },
        "effort": {"mean": [-3.0, -3.0], "min": [-3.0, -3.0], "max": [-3.0, -3.0]},
        "success_bonus": {"mean": [1.0, 2.0], "min": [0.0, 0.0], "max": [10.0, 10.0]},
    }
    genome = designer.apply_reflection(_result(code, 0.5, stats))
    by_name = {t.name: t for t in genome}
    assert "effort" not in by_name, "near-constant component dropped"
    assert by_name["dist_position_goal_position"].weight < 1.0, "dominating component rescaled"
    rewritten = designer.apply_reflection(_result(code, 0.0, stats))
    bonus = {t.name: t for t in rewritten}["success_bonus"]
    assert bonus.weight == pytest.approx(30.0), "success stuck at zero: bonus strengthened"
    assert len(rewritten) > len(genome), "and a new shaping term added"


def test_later_iterations_descend_from_the_best() -> None:
    task = get_task("pendulum")
    designer = OfflineDesigner(task, seed=0)
    first = designer.propose(4, DesignContext(task=task, iteration=0))
    history = tuple(
        _result(p.code, s, {}) for p, s in zip(first, [0.1, 0.8, 0.0, 0.2], strict=True)
    )
    history = tuple(
        CandidateResult(
            candidate_id=i,
            code=r.code,
            fitness=r.fitness,
            success_rate=r.success_rate,
            reflection={},
        )
        for i, r in enumerate(history)
    )
    nxt = designer.propose(
        4, DesignContext(task=task, iteration=1, best=history[1], history=history)
    )
    assert nxt[0].parent_id == 1 and nxt[0].notes == "reflection rules on the best"
    assert any(p.parent_id is None for p in nxt), "one fresh structure keeps exploring"
