from __future__ import annotations

import inspect
from collections.abc import Iterator

import numpy as np
import pytest

from rewardforge.designers.base import CandidateResult, DesignContext
from rewardforge.designers.offline import OfflineDesigner, sample_variables
from rewardforge.designers.stages import stage_names
from rewardforge.designers.terms import parse_genome
from rewardforge.rewards import RewardSandbox
from rewardforge.search.checking import check_proposal
from rewardforge.tasks import get_task
from rewardforge.tasks.spec import Task


def run_reward(code: str, variables: dict[str, np.ndarray]):
    namespace: dict = {}
    exec(code, namespace)  # trusted: the test's own generated code
    func = namespace["compute_reward"]
    return func(*(variables[p] for p in inspect.signature(func).parameters))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RewardSandbox]:
    box = RewardSandbox()
    yield box
    box.close()


@pytest.mark.parametrize("task_id", ["mountaincar", "pendulum", "cartpole", "place"])
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


def _result(code: str, success: float, components: dict, cid: int = 7) -> CandidateResult:
    return CandidateResult(
        candidate_id=cid,
        code=code,
        fitness=success,
        success_rate=success,
        reflection={"components": components, "episode_length": [100.0, 100.0]},
    )


ROBOT_ARMS = [pytest.param(t, marks=pytest.mark.expensive) for t in ("fetch-push", "button-press")]


@pytest.mark.parametrize("task_id", ["point-reach", "place", "slide", *ROBOT_ARMS])
def test_rendered_code_passes_the_checks_model_answers_pass(
    task_id: str, sandbox: RewardSandbox
) -> None:
    """Every template, mutation and reflection goes through extraction, lint and a smoke run
    in the sandbox, as a model's answer does (the robot arms: 50 s, each check builds the
    environment)."""
    task = get_task(task_id)
    designer = OfflineDesigner(task, seed=0)
    first = designer.propose(8, DesignContext(task=task, iteration=0))
    history = tuple(_result(p.code, 0.0, {}, cid=i) for i, p in enumerate(first))
    later = designer.propose(
        6, DesignContext(task=task, iteration=1, best=history[0], history=history)
    )
    for p in first + later:
        check = check_proposal(p, task, sandbox, num_states=64)
        assert check.ok, f"{p.notes}: {check.error}"
        assert check.program is not None and parse_genome(check.code) == parse_genome(p.code)


def test_iteration_zero_covers_the_stage_structures() -> None:
    task = get_task("place")
    proposals = OfflineDesigner(task, seed=0).propose(8, DesignContext(task=task, iteration=0))
    notes = [p.notes for p in proposals]
    assert notes[:4] == [
        "staged: reach, grasp, carry, release (hard gates)",
        "staged: reach, grasp, carry, release (smooth gates)",
        "remaining work, near and far",
        "push from behind: approach, carry (smooth gates)",
    ]
    genome = parse_genome(proposals[0].code) or ()
    assert stage_names(genome) == ["reach", "grasp", "carry", "release"]
    assert "SUCCESS_BONUS = " in proposals[0].code
    reach = get_task("point-reach")
    first = OfflineDesigner(reach, seed=0).propose(4, DesignContext(task=reach, iteration=0))
    assert first[0].notes == "reach: tolerance of gripper_pos to target_pos"


def test_a_task_without_roles_gets_staged_templates_from_inferred_roles() -> None:
    task = get_task("slide")
    data = task.model_dump()
    data["variables"] = {n: {**s, "role": None} for n, s in data["variables"].items()}
    bare = Task.model_validate(data)
    designer = OfflineDesigner(bare, seed=0)
    assert (designer.lib.scene.effector, designer.lib.scene.object) == ("gripper_pos", "puck_pos")
    notes = [p.notes for p in designer.propose(3, DesignContext(task=bare, iteration=0))]
    assert notes[0] == "staged: reach, carry (hard gates)"


def test_reflection_rules_drop_constant_rescale_dominating_and_rewrite() -> None:
    task = get_task("mountaincar")
    designer = OfflineDesigner(task, seed=0)
    code = next(
        p.code
        for p in designer.propose(6, DesignContext(task=task, iteration=0))
        if p.notes == "pump energy"
    )
    names = [t.name for t in parse_genome(code)]
    assert names == ["mag_velocity", "success_bonus", "effort"]
    stats = {
        "mag_velocity": {"mean": [500.0, 510.0], "min": [400.0, 410.0], "max": [600.0, 610.0]},
        "effort": {"mean": [-3.0, -3.0], "min": [-3.0, -3.0], "max": [-3.0, -3.0]},
        "success_bonus": {"mean": [1.0, 2.0], "min": [0.0, 0.0], "max": [10.0, 10.0]},
    }
    genome = designer.apply_reflection(_result(code, 0.5, stats))
    by_name = {t.name: t for t in genome}
    assert "effort" not in by_name, "near-constant component dropped"
    assert by_name["mag_velocity"].weight == pytest.approx(10 * 1.5 / 505.0), "rescaled"
    assert by_name["success_bonus"].weight == 2.0, "the bonus is sized to dominate: kept"
    rewritten = designer.apply_reflection(_result(code, 0.0, stats))
    bonus = {t.name: t for t in rewritten}["success_bonus"]
    assert bonus.weight == pytest.approx(3.0), "success stuck at zero: bonus strengthened"
    assert len(rewritten) > len(genome), "and a new shaping term added"


def test_reflection_on_a_staged_best_moves_a_closed_gate() -> None:
    task = get_task("place")
    designer = OfflineDesigner(task, seed=0)
    code = designer.propose(1, DesignContext(task=task, iteration=0))[0].code
    stats = {
        "reach": {"mean": [20.0, 30.0], "min": [5.0, 10.0], "max": [40.0, 50.0]},
        "grasp": {"mean": [0.0, 0.0], "min": [0.0, 0.0], "max": [0.0, 0.0]},
        "carry": {"mean": [0.0, 0.0], "min": [0.0, 0.0], "max": [0.0, 0.0]},
        "release": {"mean": [0.0, 0.0], "min": [0.0, 0.0], "max": [0.0, 0.0]},
        "success_bonus": {"mean": [0.0, 0.0], "min": [0.0, 0.0], "max": [0.0, 0.0]},
    }
    genome = designer.apply_reflection(_result(code, 0.0, stats))
    gates = {t.stage: t.gates for t in genome if t.stage}
    assert gates["grasp"][0].threshold == pytest.approx(0.1) and gates["grasp"][0].smooth
    assert {t.name: t.weight for t in genome}["success_bonus"] == pytest.approx(3.0)


def test_later_iterations_descend_from_the_best() -> None:
    task = get_task("pendulum")
    designer = OfflineDesigner(task, seed=0)
    first = designer.propose(4, DesignContext(task=task, iteration=0))
    history = tuple(
        CandidateResult(candidate_id=i, code=p.code, fitness=s, success_rate=s, reflection={})
        for i, (p, s) in enumerate(zip(first, [0.1, 0.8, 0.0, 0.2], strict=True))
    )
    nxt = designer.propose(
        4, DesignContext(task=task, iteration=1, best=history[1], history=history)
    )
    assert nxt[0].parent_id == 1 and nxt[0].notes == "reflection rules on the best"
    assert any(p.parent_id is None for p in nxt), "one fresh structure keeps exploring"


def test_mutations_of_a_staged_genome_act_on_stages() -> None:
    task = get_task("place")
    designer = OfflineDesigner(task, seed=0)
    genome = parse_genome(designer.propose(1, DesignContext(task=task, iteration=0))[0].code)
    assert genome
    seen = set()
    for _ in range(60):
        mutated = designer.mutate(genome)
        seen.add(tuple(stage_names(mutated)))
        for term in mutated:
            if term.kind == "success":
                assert 1.5 <= term.weight <= 8.0, "the bonus multiple stays in its range"
    assert len(seen) > 1, "stages were added or dropped"
    assert any("release" not in s or "grasp" not in s for s in seen)
