"""Staged rewards from the task's roles, and the operators that edit their stages.

The stages, in order (each present where the task's roles allow it):

- ``approach``: the effector at the point behind the object, seen from the goal (pushing,
  pressing); an alternative first stage to ``reach``;
- ``reach``: the effector at the object (or, in a task without one, at the goal);
- ``grasp``: fingers closed (or the object held) while at the object;
- ``carry``: the object at the goal;
- ``release``: the object let go at the goal.

A stage's term is a tolerance (or a flag) multiplied by the gates of the stage before it that
the genome holds: the condition that says that stage is done (``condition``). So a later stage
pays only once the earlier one holds (hard gates), or in proportion to how nearly it holds
(smooth gates). ``chain`` re-derives the gates after a stage is added or dropped, keeping the
thresholds and smoothness already evolved."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rewardforge.designers.terms import Gate, Genome, Term, TermLibrary, success_term

STAGES = ("approach", "reach", "grasp", "carry", "release")
#: Default weights: later stages pay more, so progress through them always pays (releasing
#: closes the grasp and carry gates, so release outweighs them together).
STAGE_WEIGHTS = {"approach": 1.0, "reach": 1.0, "grasp": 1.0, "carry": 2.0, "release": 4.0}
#: How far a gate threshold may move, as a multiple of its starting value.
GATE_RANGE = (0.125, 8.0)


def contact(lib: TermLibrary) -> float:
    """The effector-object distance that counts as touching: 5 cm in metres, else a tenth of
    their random-policy distance."""
    s = lib.scene
    if s.effector is None or s.object is None:
        return 0.0
    if lib.task.variable(s.effector).unit == "m":
        return 0.05
    return 0.1 * lib.scale(s.effector, s.object)


def _gripper_closed(lib: TermLibrary) -> float:
    """An opening below this counts as closed: a fifth of its random-policy size."""
    gripper = lib.scene.gripper
    return 0.2 * lib.scale(gripper) if gripper and gripper in lib.scales else 0.0


def _goal_radius(lib: TermLibrary, a: str, b: str) -> float:
    found = lib.success_radius(a, b)
    return found if found is not None else 2.0 * lib.radius(a, b)


def has_grasp(lib: TermLibrary) -> bool:
    """A grasp stage makes sense: the object can be held, or the fingers move."""
    s = lib.scene
    if s.object is None or s.effector is None:
        return False
    if s.held is not None:
        return True
    if s.gripper is None:
        return False
    return lib.task.variable(s.gripper).dtype == "bool" or s.gripper in lib.scalars


def condition(stage: str, lib: TermLibrary, smooth: bool = False) -> tuple[Gate, ...]:
    """The gates that say ``stage`` is done."""
    e, o, g = lib.scene.effector, lib.scene.object, lib.scene.goal
    held, gripper = lib.scene.held, lib.scene.gripper
    if e is None or o is None:
        return ()
    near = Gate("near", (e, o), contact(lib), smooth)
    if stage in ("approach", "reach"):
        return (near,)
    if stage == "grasp" and has_grasp(lib):
        if held is not None:
            return (Gate("flag", (held,)),)
        if gripper is not None and lib.task.variable(gripper).dtype == "bool":
            return (near, Gate("flag", (gripper,)))
        if gripper is not None:
            return (near, Gate("below", (gripper,), _gripper_closed(lib), smooth))
    if stage == "carry" and g is not None:
        return (Gate("near", (o, g), _goal_radius(lib, o, g), smooth),)
    return ()


def stage_term(stage: str, lib: TermLibrary) -> Term | None:
    """The ungated term of ``stage`` for this task, or None where its roles are missing."""
    e, o, g = lib.scene.effector, lib.scene.object, lib.scene.goal
    held, gripper, w = lib.scene.held, lib.scene.gripper, STAGE_WEIGHTS[stage]
    if e is None:
        return None
    if stage == "reach" and o is not None:
        return Term("tolerance", (e, o), "long_tail", w, radius=0.5 * contact(lib), stage=stage)
    if stage == "reach" and g is not None:
        return Term("tolerance", (e, g), "long_tail", w, radius=lib.radius(e, g), stage=stage)
    if o is None or g is None:
        return None
    if stage == "approach":
        c = contact(lib)
        return Term("approach", (e, o, g), "long_tail", w, radius=0.5 * c, offset=c, stage=stage)
    if stage == "grasp" and has_grasp(lib):
        flag = held if held is not None else gripper
        if flag is not None and lib.task.variable(flag).dtype == "bool":
            return Term("flag", (flag,), "value", w, stage=stage)
        if gripper is not None:
            radius = _gripper_closed(lib)
            return Term("tolerance", (gripper,), "long_tail", w, radius=radius, stage=stage)
    if stage == "carry":
        return Term("tolerance", (o, g), "long_tail", w, radius=lib.radius(o, g), stage=stage)
    if stage == "release" and held is not None:
        return Term("flag", (held,), "negated", w, stage=stage)
    return None


def available_stages(lib: TermLibrary) -> tuple[str, ...]:
    return tuple(st for st in STAGES if stage_term(st, lib) is not None)


def staged(stages: tuple[str, ...], lib: TermLibrary, smooth: bool) -> Genome:
    """The terms of ``stages`` (in ``STAGES`` order), each gated by the one before."""
    terms = [stage_term(st, lib) for st in STAGES if st in stages]
    return chain(tuple(t for t in terms if t is not None), lib, smooth)


def previous_stage(stage: str, present: list[str]) -> str | None:
    """The stage whose condition gates ``stage`` among the ``present`` ones (None: ungated)."""
    before = [st for st in present if STAGES.index(st) < STAGES.index(stage)]
    if stage == "reach" and before == ["approach"]:
        return None  # two ways into contact, not a sequence
    return before[-1] if before else None


def chain(
    genome: Genome, lib: TermLibrary, smooth: bool | None = None, default: bool | None = None
) -> Genome:
    """``genome`` with its stages in order, each gated by the condition of the stage before it.

    With ``smooth`` None, gates that were there keep their threshold and smoothness, and a
    stage without distance gates gets smooth ones if ``default`` (None: any distance gate of the
    genome is smooth); with ``smooth`` set, every gate is rebuilt with it."""
    stages = sorted((t for t in genome if t.stage in STAGES), key=lambda t: STAGES.index(t.stage))
    present = [t.stage for t in stages]
    default = _smooth_gates(genome) if default is None else default
    out = []
    for term in stages:
        prev = previous_stage(term.stage, present)
        was = _smooth_gates((term,)) if _has_distance_gate(term) else default
        gates = condition(prev, lib, was if smooth is None else smooth) if prev else ()
        kept = {(g.kind, g.args): g for g in term.gates} if smooth is None else {}
        out.append(replace(term, gates=tuple(kept.get((g.kind, g.args), g) for g in gates)))
    return (*out, *(t for t in genome if t.stage not in STAGES))


def _has_distance_gate(term: Term) -> bool:
    return any(g.kind != "flag" for g in term.gates)


def _smooth_gates(genome: Genome) -> bool:
    """Whether the genome's distance gates are smooth (flags are neither)."""
    return any(g.smooth for t in genome for g in t.gates if g.kind != "flag")


def stage_names(genome: Genome) -> list[str]:
    return [t.stage for t in genome if t.stage in STAGES]


def add_stage(genome: Genome, lib: TermLibrary, stage: str | None = None) -> Genome:
    """``genome`` with ``stage`` (default: the first available stage after its last one)."""
    present = stage_names(genome)
    if stage is None:
        last = max((STAGES.index(st) for st in present), default=-1)
        later = [st for st in available_stages(lib) if STAGES.index(st) > last]
        missing = [st for st in available_stages(lib) if st not in present]
        options = later or missing
        if not options:
            return genome
        stage = options[0]
    term = stage_term(stage, lib)
    if term is None or stage in present:
        return genome
    return chain((*genome, term), lib)


def drop_stage(genome: Genome, lib: TermLibrary, stage: str) -> Genome:
    """``genome`` without ``stage``; the stage after it is gated by the one before it."""
    return chain(tuple(t for t in genome if t.stage != stage), lib, default=_smooth_gates(genome))


def move_gate(genome: Genome, stage: str, factor: float, lib: TermLibrary) -> Genome:
    """Every distance gate of ``stage`` with its threshold times ``factor`` (within
    ``GATE_RANGE`` of the condition's own threshold)."""
    out = []
    for term in genome:
        if term.stage == stage:
            gates = []
            for gate in term.gates:
                if gate.kind != "flag":
                    base = _base_threshold(gate, lib)
                    low, high = GATE_RANGE[0] * base, GATE_RANGE[1] * base
                    gate = replace(
                        gate, threshold=float(np.clip(gate.threshold * factor, low, high))
                    )
                gates.append(gate)
            term = replace(term, gates=tuple(gates))
        out.append(term)
    return tuple(out)


def _base_threshold(gate: Gate, lib: TermLibrary) -> float:
    for stage in STAGES:
        for g in condition(stage, lib):
            if (g.kind, g.args) == (gate.kind, gate.args):
                return max(g.threshold, 1e-6)
    return max(gate.threshold, 1e-6)


def flip_smooth(genome: Genome, stage: str) -> Genome:
    return tuple(
        replace(t, gates=tuple(replace(g, smooth=not g.smooth) for g in t.gates))
        if t.stage == stage
        else t
        for t in genome
    )


def templates(lib: TermLibrary) -> list[tuple[Genome, str]]:
    """The staged structures of iteration 0 for this task, most promising first."""
    e, o, g = lib.scene.effector, lib.scene.object, lib.scene.goal
    bonus = (success_term(),)
    out: list[tuple[Genome, str]] = []
    if e is None or (o is None and g is None):
        return out
    if o is None or g is None:
        reach = staged(("reach",), lib, smooth=False)
        out.append((reach + bonus, f"reach: tolerance of {e} to {o or g}"))
        out.append((remaining(lib) + bonus, "remaining work, near and far"))
        return out
    grasp = ("grasp",) if has_grasp(lib) else ()
    release = ("release",) if "release" in available_stages(lib) else ()
    full = ("reach", *grasp, "carry", *release)
    names = ", ".join(full)
    out.append((staged(full, lib, smooth=False) + bonus, f"staged: {names} (hard gates)"))
    out.append((staged(full, lib, smooth=True) + bonus, f"staged: {names} (smooth gates)"))
    out.append((remaining(lib) + bonus, "remaining work, near and far"))
    push = staged(("approach", "carry"), lib, smooth=True)
    out.append((push + bonus, "push from behind: approach, carry (smooth gates)"))
    if grasp:
        two = staged(("reach", "carry"), lib, smooth=True)
        out.append((two + bonus, "staged: reach, carry (smooth gates)"))
    align = Term("align", (e, o, g), "cosine", 0.5)
    with_align = staged(("reach", "carry"), lib, smooth=False) + (align,)
    out.append((with_align + bonus, "staged: reach, carry, aligned from behind (hard gates)"))
    mixed = staged(("reach", "carry"), lib, smooth=True) + remaining(lib)[1:]
    out.append((mixed + bonus, "staged: reach, carry (smooth gates) and the far remaining work"))
    return out


def remaining(lib: TermLibrary) -> Genome:
    """The remaining work's near and far terms (empty without an effector and a target)."""
    e, o, g = lib.scene.effector, lib.scene.object, lib.scene.goal
    if e is None or (o is None and g is None):
        return ()
    if o is not None and g is not None:
        args: tuple[str, ...] = (e, o, g)
        radius = lib.radius(o, g)
    else:
        target = o if o is not None else g
        args, radius = (e, str(target)), lib.radius(e, str(target))
    return (
        Term("remaining", args, "near", 1.0, radius=radius),
        Term("remaining", args, "far", 0.5),
    )
