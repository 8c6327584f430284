"""The offline designer's terms and gates, checked by value on hand-made variables.

The library's scales are set by hand-made "random-policy" samples, so every margin is known:
the effector-object and object-goal distances average 0.5 and 0.4, and the rendered code is
run (trusted: the test's own generated code) on states placed by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rewardforge.designers.render import bonus_horizon, render, success_bonus
from rewardforge.designers.terms import (
    LINEAR_CAP,
    Gate,
    Term,
    TermLibrary,
    build_library,
    max_step_shaping,
    parse_genome,
    step_bound,
    success_term,
)
from rewardforge.tasks.spec import Task
from tests.designers.handmade import LIB, TASK, run


def component(term: Term, **variables: Any) -> np.ndarray:
    return run(render((term,), LIB), **variables)[1][term.name]


def test_the_library_reads_scales_roles_and_the_success_radius() -> None:
    assert LIB.scale("hand", "block") == pytest.approx(0.5)
    assert LIB.scale("block", "goal") == pytest.approx(0.4)
    assert LIB.scale("speed") == pytest.approx(2.0)
    assert (LIB.scene.effector, LIB.scene.object, LIB.scene.goal) == ("hand", "block", "goal")
    assert LIB.scene.held == "held"
    assert LIB.success_radius("goal", "block") == pytest.approx(0.1), "read from success.code"
    assert LIB.radius("block", "goal") == pytest.approx(0.05), "half the success radius"


@pytest.mark.parametrize(
    ("transform", "distance", "expected"),
    [
        ("long_tail", 0.03, 1.0),  # inside the flat top
        ("long_tail", 0.05 + 0.5, 0.1),  # radius + margin
        ("long_tail", 0.05 + 0.5 / 3, 0.5),  # 1 / (1 + 1)
        ("gaussian", 0.05, 1.0),
        ("gaussian", 0.05 + 0.5, 0.1),
        ("gaussian", 0.05 + 0.25, 0.1**0.25),  # exp(-(k/2)^2 / 2) = 0.1 ** (1/4)
    ],
)
def test_tolerance_has_a_flat_top_and_a_tail_that_is_a_tenth_at_the_margin(
    transform: str, distance: float, expected: float
) -> None:
    term = Term("tolerance", ("hand", "block"), transform, 2.0, radius=0.05)
    value = component(term, hand=[[distance, 0.0]], block=[[0.0, 0.0]])
    assert value == pytest.approx([2.0 * expected], rel=1e-4)


def test_a_hard_gate_lets_a_stage_pay_only_once_the_earlier_one_holds() -> None:
    near = Gate("near", ("hand", "block"), threshold=0.05)
    carry = Term("tolerance", ("block", "goal"), "long_tail", 2.0, radius=0.05, stage="carry",
                 gates=(near,))  # fmt: skip
    block, goal = [[0.0, 0.0]] * 3, [[0.0, 0.05 + 0.4]] * 3  # the tail's 0.1 point
    hands = [[0.04, 0.0], [0.05, 0.0], [0.06, 0.0]]
    values = component(carry, hand=hands, block=block, goal=goal)
    assert values == pytest.approx([0.2, 0.2, 0.0], rel=1e-4)


def test_a_smooth_gate_is_one_inside_and_a_tenth_at_twice_the_threshold() -> None:
    near = Gate("near", ("hand", "block"), threshold=0.05, smooth=True)
    carry = Term("tolerance", ("block", "goal"), "long_tail", 1.0, stage="carry", gates=(near,))
    hands = [[0.05, 0.0], [0.1, 0.0], [0.075, 0.0]]
    values = component(carry, hand=hands, block=[[0.0, 0.0]] * 3, goal=[[0.0, 0.0]] * 3)
    assert values == pytest.approx([1.0, 0.1, 0.1**0.25], rel=1e-4)


def test_flag_gates_and_terms_release_only_when_let_go_at_the_goal() -> None:
    near_goal = Gate("near", ("block", "goal"), threshold=0.1)
    release = Term("flag", ("held",), "negated", 4.0, stage="release", gates=(near_goal,))
    values = component(
        release,
        block=[[0.0, 0.0]] * 3,
        goal=[[0.0, 0.05], [0.0, 0.05], [0.0, 0.5]],
        held=[True, False, False],
    )
    assert values == pytest.approx([0.0, 4.0, 0.0])
    grasp = Term("flag", ("held",), "value", 1.5, gates=(Gate("flag", ("held",), negate=True),))
    assert component(grasp, held=[True, False]) == pytest.approx([0.0, 0.0])


def test_remaining_work_is_one_length_with_a_near_and_a_far_transform() -> None:
    args = ("hand", "block", "goal")
    near = Term("remaining", args, "near", 1.0, radius=0.05, ratio=2.0)
    far = Term("remaining", args, "far", 0.5, ratio=2.0)
    scale = 0.5 + 2.0 * 0.4  # the length's random-policy size: 1.3
    # hand 0.3 from the block, block 0.2 from the goal: L = 0.3 + 2 * 0.2 = 0.7
    state = {"hand": [[0.3, 0.0]], "block": [[0.0, 0.0]], "goal": [[0.0, 0.2]]}
    x = (0.7 - 0.05) / scale
    assert component(near, **state) == pytest.approx([1.0 / (1.0 + 9.0 * x**2)], rel=1e-4)
    assert component(far, **state) == pytest.approx([-0.5 * 0.7 / scale], rel=1e-4)
    done = {"hand": [[0.0, 0.2]], "block": [[0.0, 0.2]], "goal": [[0.0, 0.2]]}
    assert component(near, **done) == pytest.approx([1.0]) and component(far, **done) == 0.0


def test_approach_pays_behind_the_object_and_align_says_which_side() -> None:
    approach = Term("approach", ("hand", "block", "goal"), "long_tail", 1.0, radius=0.01,
                    offset=0.05)  # fmt: skip
    block, goal = [[0.0, 0.0]] * 3, [[0.0, 0.4]] * 3  # the goal is straight ahead (+y)
    hands = [[0.0, -0.05], [0.0, 0.05], [0.05, 0.0]]  # behind, in front, beside
    values = component(approach, hand=hands, block=block, goal=goal)
    tail = [1.0 / (1.0 + (3.0 * (d - 0.01) / 0.5) ** 2) for d in (0.1, math.hypot(0.05, 0.05))]
    assert values == pytest.approx([1.0, *tail], rel=1e-4)
    other_side = Term("approach", ("hand", "block", "goal"), "long_tail", 1.0, offset=-0.05)
    assert component(other_side, hand=hands, block=block, goal=goal)[1] == pytest.approx(1.0)
    align = Term("align", ("hand", "block", "goal"), "cosine", 0.5)
    assert component(align, hand=hands, block=block, goal=goal) == pytest.approx(
        [0.5, 0.0, 0.25], abs=1e-6
    )


def test_linear_terms_saturate_and_every_term_has_a_known_bound() -> None:
    energy = Term("magnitude", ("speed",), "linear", 1.0)
    assert component(energy, speed=[1.0, 100.0]) == pytest.approx([0.5, LINEAR_CAP])
    assert step_bound(energy) == LINEAR_CAP
    assert step_bound(Term("tolerance", ("hand", "block"), "long_tail", 2.0)) == 2.0
    assert step_bound(Term("distance", ("hand", "block"), "neg", 3.0)) == 0.0, "a penalty"
    assert step_bound(Term("effort", ("action",), "square", 0.1, sign=-1.0)) == 0.0
    assert step_bound(Term("signed", ("speed",), "linear", 0.5, sign=-1.0)) == 5.0
    with pytest.raises(ValueError, match="term dist_hand_block has no upper bound"):
        step_bound(Term("distance", ("hand", "block"), "neg", 1.0, sign=-1.0))


def test_the_success_bonus_outweighs_the_most_shaping_of_the_horizon() -> None:
    genome = (
        Term("tolerance", ("hand", "block"), "long_tail", 1.0, stage="reach"),
        Term("tolerance", ("block", "goal"), "long_tail", 2.0, radius=0.05, stage="carry"),
        Term("distance", ("hand", "goal"), "neg", 1.0),  # a penalty adds nothing
        success_term(3.0),
    )
    assert max_step_shaping(genome) == 3.0
    # gamma 0.9: the trainer's value adds up 10 steps of shaping, fewer than the 50 of an episode
    assert bonus_horizon(TASK) == 10
    assert success_bonus(genome, TASK, 3.0) == pytest.approx(3.0 * 3.0 * 10)
    code = render(genome, LIB)
    assert "SUCCESS_BONUS = 90\n" in code
    reward, comps = run(
        code, hand=[[0.0, 0.0]], block=[[0.0, 0.0]], goal=[[0.0, 0.05]], held=[False]
    )
    assert comps["success_bonus"] == pytest.approx([90.0])
    assert reward == pytest.approx([90.0 + 1.0 + 2.0 - 0.05 / LIB.scale("hand", "goal")])
    long_task = TASK.model_copy(update={"trainers": {"sac": {"gamma": 0.999}}})
    assert bonus_horizon(long_task) == 50, "the episode is shorter than the discount's horizon"


def test_the_genome_rides_along_and_comes_back_unchanged() -> None:
    genome = (
        Term("tolerance", ("hand", "block"), "long_tail", 1.0, radius=0.02, stage="reach"),
        Term(
            "tolerance",
            ("block", "goal"),
            "gaussian",
            2.0,
            stage="carry",
            gates=(Gate("near", ("hand", "block"), 0.05, smooth=True),),
        ),  # fmt: skip
        Term("approach", ("hand", "block", "goal"), "long_tail", 1.0, offset=-0.03),
        Term("remaining", ("hand", "block", "goal"), "far", 0.5, ratio=1.5),
        success_term(),
    )
    assert parse_genome(render(genome, LIB, "a note")) == genome
    assert parse_genome("def compute_reward(x):\n    return x, {}\n") is None


def test_an_older_genome_without_stages_still_renders() -> None:
    code = render(parse_genome(
        '# rewardforge-offline-genome: [{"kind":"distance","args":["hand","block"],'
        '"transform":"exp","weight":1.0,"sign":1.0,"temperature":1.0},'
        '{"kind":"success","args":[],"transform":"bonus","weight":10.0,"sign":1.0,'
        '"temperature":1.0}]\n'
    ) or (), LIB)  # fmt: skip
    _, comps = run(code, hand=[[0.5, 0.0]], block=[[0.0, 0.0]], goal=[[0.0, 0.05]], held=[False])
    assert comps["dist_hand_block"] == pytest.approx([math.exp(-1.0)])
    assert comps["success_bonus"] == pytest.approx([10.0]), "a fixed bonus stays fixed"


def test_library_without_roles_still_builds_its_generic_terms() -> None:
    data = TASK.model_dump()
    data["variables"] = {
        "a": {"shape": [2], "unit": "m", "source": "obs[:, 0:2]"},
        "b": {"shape": [2], "unit": "m", "source": "obs[:, 0:2]"},
    }
    data["success"] = {"code": "def is_success(a, b):\n    return np.abs(a - b).sum(-1) < 1\n"}
    data["trainers"] = {}
    lib = build_library(Task.model_validate(data), {"a": np.ones((3, 2)), "b": np.zeros((3, 2))})
    assert isinstance(lib, TermLibrary) and lib.scene.effector is None
    assert {t.name for t in lib.all_terms()} >= {"dist_a_b", "tol_a_b", "success_bonus"}
