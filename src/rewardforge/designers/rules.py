"""The offline designer's reflection rules: what the component statistics of a training say to
change in the genome that was trained.

Generic rules (every genome):

- drop a component whose per-episode sum hardly changes during training (near-constant);
- rescale a component whose size dominates all others together (the success bonus excepted:
  it is sized to dominate).

Stage rules (genomes with stages, while the success rate is below 1):

- a gated stage that never paid (its gate never opened): move its gate's threshold out (x2) and
  make the gate smooth; where the gate cannot move (at the end of its range, or a flag), the
  stage before it weighs more (x2), and without one the stage is dropped;
- the last stage that pays at least ``MASTERED`` of its most per step (it is done): the stage
  after it weighs more (x2), or, when it is the last, the next stage is added."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from rewardforge.designers.stages import (
    STAGES,
    add_stage,
    drop_stage,
    move_gate,
    previous_stage,
    stage_names,
)
from rewardforge.designers.terms import Genome, Term, TermLibrary, reweight, step_bound

logger = logging.getLogger(__name__)

DOMINANCE_RATIO = 10.0
CONSTANT_SPREAD = 0.02
#: A stage that pays less than this share of its most per step never opened.
NEVER_PAID = 1e-3
#: A stage that pays at least this share of its most per step is done.
MASTERED = 0.6


def component_summary(reflection: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per component, over training: ``mean`` of its per-episode sum, ``spread`` (max - min),
    ``max`` (the largest episode's sum) and ``last`` (the mean at the last point)."""
    comps = reflection.get("components", {}) if reflection else {}
    out = {}
    for name, s in comps.items():
        means = [float(x) for x in s.get("mean", [])]
        if not means:
            continue
        mins = [float(x) for x in s.get("min", means)]
        maxs = [float(x) for x in s.get("max", means)]
        out[name] = {
            "mean": float(np.mean(means)),
            "spread": float(max(maxs) - min(mins)),
            "max": float(max(maxs)),
            "last": means[-1],
        }
    return out


def episode_length(reflection: dict[str, Any], default: float) -> float:
    lengths = [float(x) for x in (reflection or {}).get("episode_length", []) if x]
    return float(np.mean(lengths)) if lengths else float(default)


def generic_rules(genome: Genome, stats: dict[str, dict[str, float]]) -> Genome:
    """Drop near-constant components; rescale a dominating one (see the module)."""
    if not stats:
        return genome
    keep = []
    for term in genome:
        s = stats.get(term.name)
        if (
            s
            and term.kind not in ("alive", "success")
            and not (term.gates and s["max"] == 0.0)  # a closed gate: the stage rules' case
            and s["spread"] <= CONSTANT_SPREAD * (abs(s["mean"]) + 1e-8)
            and len(genome) > 1
        ):
            logger.info("reflection: dropping near-constant component %s", term.name)
            continue
        keep.append(term)
    sizes = {t.name: abs(stats[t.name]["mean"]) for t in keep if t.name in stats}
    total = sum(sizes.values())
    out = []
    for term in keep:
        size = sizes.get(term.name, 0.0)
        others = total - size
        if term.kind != "success" and others > 0 and size > DOMINANCE_RATIO * others:
            logger.info("reflection: rescaling dominating component %s", term.name)
            term = reweight(term, DOMINANCE_RATIO * others / size)
        out.append(term)
    return tuple(out)


def paid_share(term: Term, stats: dict[str, dict[str, float]], length: float, key: str) -> float:
    """The share of its most per step that ``term`` paid (``key``: ``max`` or ``last``)."""
    top = step_bound(term) * max(length, 1.0)
    s = stats.get(term.name)
    if s is None or top <= 0:
        return float("nan")
    return s[key] / top


def stage_rules(
    genome: Genome, stats: dict[str, dict[str, float]], length: float, lib: TermLibrary
) -> Genome:
    """The stage rules (see the module), applied in the order of the stages."""
    for stage in stage_names(genome):
        term = next(t for t in genome if t.stage == stage)
        if not term.gates or term.name not in stats:
            continue
        if paid_share(term, stats, length, "max") >= NEVER_PAID:
            continue
        if _movable(term, lib):
            logger.info("reflection: the %s gate never opened; moving it out", stage)
            return _smooth(move_gate(genome, stage, 2.0, lib), stage)
        before = previous_stage(stage, stage_names(genome))
        if before is not None:
            logger.info("reflection: the %s gate never opened; %s weighs more", stage, before)
            return tuple(reweight(t, 2.0) if t.stage == before else t for t in genome)
        logger.info("reflection: the %s gate never opened; dropping the stage", stage)
        return drop_stage(genome, lib, stage)
    present = stage_names(genome)
    done = [
        st
        for st in present
        if paid_share(next(t for t in genome if t.stage == st), stats, length, "last") >= MASTERED
    ]
    if not done:
        return genome
    later = [st for st in present if STAGES.index(st) > STAGES.index(done[-1])]
    if later:
        logger.info("reflection: %s is done; the %s stage weighs more", done[-1], later[0])
        return tuple(reweight(t, 2.0) if t.stage == later[0] else t for t in genome)
    grown = add_stage(genome, lib)
    if grown != genome:
        logger.info("reflection: %s is done; adding the next stage", done[-1])
    return grown


def _smooth(genome: Genome, stage: str) -> Genome:
    return tuple(
        replace(t, gates=tuple(replace(g, smooth=True) for g in t.gates)) if t.stage == stage else t
        for t in genome
    )


def _movable(term: Term, lib: TermLibrary) -> bool:
    """Some distance gate of ``term`` can still move out."""
    moved = move_gate((term,), term.stage, 2.0, lib)[0]
    return any(
        g.threshold > h.threshold * (1 + 1e-9)
        for g, h in zip(moved.gates, term.gates, strict=True)
        if g.kind != "flag"
    )
