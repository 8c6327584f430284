"""Staged structures and the operators and reflection rules that act on stages."""

from __future__ import annotations

import pytest

from rewardforge.designers.rules import component_summary, stage_rules
from rewardforge.designers.stages import (
    add_stage,
    available_stages,
    chain,
    condition,
    drop_stage,
    flip_smooth,
    move_gate,
    stage_names,
    staged,
    templates,
)
from rewardforge.designers.terms import Gate, Genome, Term
from tests.designers.handmade import LIB


def gates_of(genome: Genome) -> dict[str, tuple[Gate, ...]]:
    return {t.stage: t.gates for t in genome if t.stage}


def test_the_stages_a_task_with_a_held_flag_admits() -> None:
    assert available_stages(LIB) == ("approach", "reach", "grasp", "carry", "release")
    genome = staged(("reach", "grasp", "carry", "release"), LIB, smooth=False)
    assert stage_names(genome) == ["reach", "grasp", "carry", "release"]
    assert gates_of(genome) == {
        "reach": (),
        "grasp": (Gate("near", ("hand", "block"), 0.05),),  # touching: 5 cm
        "carry": (Gate("flag", ("held",)),),
        "release": (Gate("near", ("block", "goal"), 0.1),),  # the success radius
    }
    weights = [t.weight for t in genome]
    assert weights == sorted(weights), "later stages pay more"
    assert genome[3].weight > genome[1].weight + genome[2].weight, "letting go pays"


def test_dropping_a_stage_gates_the_next_by_the_one_before() -> None:
    genome = staged(("reach", "grasp", "carry"), LIB, smooth=True)
    dropped = drop_stage(genome, LIB, "grasp")
    assert stage_names(dropped) == ["reach", "carry"]
    assert gates_of(dropped)["carry"] == condition("reach", LIB, smooth=True)


def test_adding_a_stage_puts_it_in_order_and_keeps_evolved_gates() -> None:
    genome = move_gate(staged(("reach", "carry"), LIB, smooth=False), "carry", 2.0, LIB)
    assert gates_of(genome)["carry"][0].threshold == pytest.approx(0.1)
    grown = add_stage(genome, LIB)  # the next stage after the last: release
    assert stage_names(grown) == ["reach", "carry", "release"]
    assert gates_of(grown)["carry"][0].threshold == pytest.approx(0.1), "kept"
    assert gates_of(grown)["release"] == condition("carry", LIB)
    with_grasp = add_stage(genome, LIB, "grasp")
    assert stage_names(with_grasp) == ["reach", "grasp", "carry"]
    assert gates_of(with_grasp)["carry"] == (Gate("flag", ("held",)),)
    assert add_stage(with_grasp, LIB, "grasp") == with_grasp, "a stage is there once"


def test_gate_thresholds_move_within_their_range_and_flip_smooth() -> None:
    genome = staged(("reach", "carry"), LIB, smooth=False)
    far = move_gate(genome, "carry", 1000.0, LIB)
    assert gates_of(far)["carry"][0].threshold == pytest.approx(0.05 * 8), "at most 8x"
    near = move_gate(genome, "carry", 0.001, LIB)
    assert gates_of(near)["carry"][0].threshold == pytest.approx(0.05 / 8), "at least 1/8"
    assert gates_of(flip_smooth(genome, "carry"))["carry"][0].smooth is True
    assert chain(flip_smooth(genome, "carry"), LIB) == flip_smooth(genome, "carry")


def test_templates_cover_the_stage_structures() -> None:
    notes = [note for _, note in templates(LIB)]
    assert notes[:4] == [
        "staged: reach, grasp, carry, release (hard gates)",
        "staged: reach, grasp, carry, release (smooth gates)",
        "remaining work, near and far",
        "push from behind: approach, carry (smooth gates)",
    ]
    assert any("aligned from behind" in n for n in notes)
    for genome, note in templates(LIB):
        assert genome[-1].kind == "success" and genome[-1].transform == "horizon", note


def stats(**per_episode: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Component statistics from (max of any episode's sum, mean sum at the last point)."""
    return component_summary(
        {
            "components": {
                name: {"mean": [last / 2, last], "min": [0.0, 0.0], "max": [top, top]}
                for name, (top, last) in per_episode.items()
            }
        }
    )


def test_a_gate_that_never_opened_moves_out_and_turns_smooth() -> None:
    genome = staged(("reach", "carry"), LIB, smooth=False)
    out = stage_rules(genome, stats(reach=(20.0, 10.0), carry=(0.0, 0.0)), 50.0, LIB)
    (gate,) = gates_of(out)["carry"]
    assert gate.threshold == pytest.approx(0.1) and gate.smooth


def test_a_flag_gate_that_never_opened_weighs_the_stage_before() -> None:
    genome = staged(("reach", "grasp", "carry"), LIB, smooth=False)
    out = stage_rules(genome, stats(reach=(20.0, 10.0), grasp=(5.0, 1.0), carry=(0.0, 0.0)),
                      50.0, LIB)  # fmt: skip
    assert {t.stage: t.weight for t in out if t.stage} == {"reach": 1.0, "grasp": 2.0, "carry": 2.0}


def test_a_mastered_stage_weighs_the_next_or_adds_it() -> None:
    genome = staged(("reach", "carry"), LIB, smooth=False)
    # reach paid 40 of its most 50 (weight 1 x 50 steps): done; carry is open but small
    out = stage_rules(genome, stats(reach=(45.0, 40.0), carry=(3.0, 1.0)), 50.0, LIB)
    assert {t.stage: t.weight for t in out if t.stage} == {"reach": 1.0, "carry": 4.0}
    done = stage_rules(genome, stats(reach=(45.0, 40.0), carry=(95.0, 80.0)), 50.0, LIB)
    assert stage_names(done) == ["reach", "carry", "release"], "both done: the next stage"
    learning = stage_rules(genome, stats(reach=(30.0, 20.0), carry=(3.0, 1.0)), 50.0, LIB)
    assert learning == genome, "nothing to say while the first stage is still being learned"


def test_a_stage_with_a_closed_gate_is_not_dropped_as_near_constant() -> None:
    from rewardforge.designers.rules import generic_rules

    genome = (*staged(("reach", "carry"), LIB, smooth=False), Term("alive", (), "constant", 1.0))
    flat = stats(reach=(20.0, 10.0), carry=(0.0, 0.0), alive=(50.0, 50.0))
    flat["alive"]["spread"] = 0.0
    assert generic_rules(genome, flat) == genome
