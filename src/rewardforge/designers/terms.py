"""The offline designer's genes: reward terms, the gates of staged terms, and what a task admits.

A genome is a tuple of ``Term``s; ``designers/render.py`` turns it into reward source code in the
same contract a model writes (``compute_reward(<variables>) -> (reward, components)``). Scales
come from a random-policy rollout of the task, so terms are comparable whatever the units.

Every term but a few penalties is bounded: its unweighted value lies in ``TERM_RANGES``, so the
largest shaping one step can pay is known exactly (``step_bound``) and the success bonus can be
sized to outweigh a whole episode of it (``render.success_bonus``)."""

from __future__ import annotations

import ast
import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from rewardforge.tasks.roles import variable_roles
from rewardforge.tasks.spec import Task, Variable

GENOME_MARKER = "# rewardforge-offline-genome: "
#: A linear term saturates at this many times its quantity's size under a random policy.
LINEAR_CAP = 10.0
INF = math.inf

#: kind -> transform -> (lowest, highest) value of the term before its weight (see render.py).
TERM_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "distance": {"neg": (-INF, 0.0), "exp": (0.0, 1.0), "inv": (0.0, 1.0)},
    "magnitude": {"linear": (0.0, LINEAR_CAP), "square": (0.0, LINEAR_CAP**2), "exp": (0.0, 1.0)},
    "signed": {"linear": (-LINEAR_CAP, LINEAR_CAP)},
    "progress": {"linear": (-LINEAR_CAP, LINEAR_CAP)},
    "effort": {"square": (0.0, INF)},
    "success": {"horizon": (0.0, 1.0), "bonus": (0.0, 1.0)},
    "alive": {"constant": (1.0, 1.0)},
    # the staged-manipulation kinds
    "tolerance": {"long_tail": (0.0, 1.0), "gaussian": (0.0, 1.0)},
    "flag": {"value": (0.0, 1.0), "negated": (0.0, 1.0)},
    "remaining": {"near": (0.0, 1.0), "far": (-INF, 0.0)},
    "approach": {"long_tail": (0.0, 1.0)},
    "align": {"cosine": (0.0, 1.0)},
}
#: kind -> allowed transforms (the first is the default).
TERM_KINDS = {kind: tuple(transforms) for kind, transforms in TERM_RANGES.items()}
#: Gate kinds: ``near`` (distance between two variables at most ``threshold``), ``below`` (a
#: scalar's size at most ``threshold``: fingers closed), ``flag`` (a bool variable).
GATE_KINDS = ("near", "below", "flag")
_PREFIX = {
    "distance": "dist",
    "magnitude": "mag",
    "signed": "sgn",
    "progress": "progress",
    "tolerance": "tol",
    "approach": "approach",
    "align": "align",
}


@dataclass(frozen=True)
class Gate:
    """A condition a staged term waits for; its value is in [0, 1] (1: the condition holds).

    Hard gates are 0 or 1; a smooth gate is 1 where the condition holds and falls off outside
    (a Gaussian that is 0.1 at twice the threshold). ``negate`` turns a flag gate into 1 - flag."""

    kind: str
    args: tuple[str, ...]
    threshold: float = 0.0
    smooth: bool = False
    negate: bool = False


@dataclass(frozen=True)
class Term:
    """One reward component: ``weight * sign * product(gates) * f(args)`` (see render.py).

    ``radius`` is a tolerance's flat top (1 inside it), ``ratio`` the weight of the object's
    distance to the goal in the remaining work, ``offset`` how far behind the object (away from
    the goal; negative: on the goal's side) the approach point lies. A term with a ``stage``
    name is a stage of a staged reward, and its component has that name."""

    kind: str
    args: tuple[str, ...]
    transform: str
    weight: float
    sign: float = 1.0
    temperature: float = 1.0
    radius: float = 0.0
    ratio: float = 1.0
    offset: float = 0.0
    stage: str = ""
    gates: tuple[Gate, ...] = ()

    @property
    def name(self) -> str:
        if self.stage:
            return self.stage
        if self.kind in ("effort", "success", "alive"):
            return {"effort": "effort", "success": "success_bonus", "alive": "alive"}[self.kind]
        if self.kind == "remaining":
            return f"work_{self.transform}"
        if self.kind == "flag":
            return f"{'not_' if self.transform == 'negated' else 'flag_'}{self.args[0]}"
        return f"{_PREFIX[self.kind]}_{'_'.join(self.args[:2])}"


Genome = tuple[Term, ...]


def step_bound(term: Term) -> float:
    """The most this term can add to the reward in one step (0 for penalties)."""
    if term.kind == "success":
        return 0.0
    low, high = TERM_RANGES[term.kind][term.transform]
    w = term.weight * term.sign
    top = max([0.0] + ([w * low, w * high] if w else []))
    if not math.isfinite(top):
        raise ValueError(f"term {term.name} has no upper bound; it cannot be rendered")
    return top


def max_step_shaping(genome: Genome) -> float:
    """The largest shaping reward one step of ``genome`` can pay (gates are at most 1)."""
    return float(sum(step_bound(t) for t in genome))


@dataclass(frozen=True)
class Scene:
    """The task's manipulation roles the staged structures use (None where absent)."""

    effector: str | None = None
    object: str | None = None
    goal: str | None = None
    gripper: str | None = None  # a scalar opening, or a bool "closed" flag
    held: str | None = None


@dataclass(frozen=True)
class TermLibrary:
    """What terms a task admits, with the scale of each quantity under a random policy."""

    task: Task
    scalars: tuple[str, ...]
    vectors: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    rates: tuple[tuple[str, str, str], ...]
    action: str | None
    continuous_action: bool
    scales: dict[str, float]
    scene: Scene = Scene()
    radii: dict[str, float] | None = None  # "a|b" -> success radius read from the task's code

    def scale(self, a: str, b: str | None = None) -> float:
        """A variable's size, or the mean distance between two, under a random policy."""
        if b is None:
            return self.scales[a]
        return self.scales.get(f"{a}|{b}", self.scales.get(f"{b}|{a}", 1.0))

    def success_radius(self, a: str, b: str) -> float | None:
        radii = self.radii or {}
        return radii.get(f"{a}|{b}", radii.get(f"{b}|{a}"))

    def all_terms(self) -> list[Term]:
        """The generic terms: distances, magnitudes, progress, effort, a bonus, alive."""
        terms: list[Term] = []
        for a, b in self.pairs:
            terms += [Term("distance", (a, b), t, 1.0) for t in TERM_KINDS["distance"]]
            terms.append(Term("tolerance", (a, b), "long_tail", 1.0, radius=self.radius(a, b)))
        for p, v, g in self.rates:
            terms.append(Term("progress", (p, v, g), "linear", 1.0))
        for x in self.scalars + self.vectors:
            terms += [Term("magnitude", (x,), "linear", 1.0, sign=s) for s in (1.0, -1.0)]
            terms += [
                Term("magnitude", (x,), "square", 1.0, sign=-1.0),
                Term("magnitude", (x,), "exp", 1.0),
            ]
        for x in self.scalars:
            terms += [Term("signed", (x,), "linear", 1.0, sign=s) for s in (1.0, -1.0)]
        if self.action and self.continuous_action:
            terms.append(Term("effort", (self.action,), "square", 0.1, sign=-1.0))
        terms.append(success_term())
        terms.append(Term("alive", (), "constant", 1.0))
        return terms

    def radius(self, a: str, b: str) -> float:
        """A tolerance's flat top for the distance between ``a`` and ``b``: half the success
        radius the task's code gives, else 2% of their random-policy distance."""
        found = self.success_radius(a, b)
        return 0.5 * found if found is not None else 0.02 * self.scale(a, b)


def success_term(multiple: float = 2.0) -> Term:
    """The success bonus: ``multiple`` times the most shaping the trainer can add up."""
    return Term("success", (), "horizon", multiple)


def _is_action(var: Variable) -> bool:
    return var.name == "action" or var.name.endswith("_action")


def _rate_base(var: Variable) -> str | None:
    """The unit this variable is a rate of ('m/s' -> 'm'), or None."""
    unit = var.unit.strip()
    for suffix in ("/s", "/step", "/sec"):
        if unit.endswith(suffix) and len(unit) > len(suffix):
            return unit[: -len(suffix)]
    return None


def success_radii(task: Task) -> dict[str, float]:
    """``{"a|b": r}`` for every ``distance(a, b) < r`` in the success code or the goal's
    recomputed variables (``np.linalg.norm(object_pos - goal, axis=-1) < 0.05``)."""
    sources = [task.success.code]
    if task.goal is not None:
        sources += list(task.goal.recompute.values())
    names = set(task.variable_names)
    radii: dict[str, float] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Compare)
                and len(node.ops) == 1
                and isinstance(node.ops[0], (ast.Lt, ast.LtE))
                and isinstance(node.comparators[0], ast.Constant)
                and isinstance(node.comparators[0].value, (int, float))
            ):
                continue
            used = [n.id for n in ast.walk(node.left) if isinstance(n, ast.Name) and n.id in names]
            if len(set(used)) == 2:
                a, b = dict.fromkeys(used)
                radii.setdefault(f"{a}|{b}", float(node.comparators[0].value))
    return radii


def _scene(task: Task, usable: list[Variable]) -> Scene:
    roles = variable_roles(task)
    by_role: dict[str, list[Variable]] = {}
    for v in usable:
        by_role.setdefault(roles[v.name], []).append(v)
    effector = next(iter(by_role.get("effector", [])), None)
    goal = next(iter(by_role.get("goal", [])), None)
    shape = goal.shape if goal is not None else effector.shape if effector else None
    objects = [v for v in by_role.get("object", []) if v.shape == shape]
    obj = objects[0] if objects else None
    if effector is not None and goal is not None and effector.shape != goal.shape:
        effector = None
    grippers = [v for v in task.variables if roles[v.name] == "gripper" and v.shape == ()]
    held = [v for v in task.variables if roles[v.name] == "held" and v.dtype == "bool"]
    return Scene(
        effector=effector.name if effector else None,
        object=obj.name if obj else None,
        goal=goal.name if goal else None,
        gripper=grippers[0].name if grippers else None,
        held=held[0].name if held else None,
    )


def _scales(
    usable: list[Variable], action: Variable | None, samples: dict[str, np.ndarray]
) -> dict[str, float]:
    scales: dict[str, float] = {}
    for v in usable:
        x = np.asarray(samples[v.name], dtype=np.float64)
        flat = x.reshape(len(x), -1)
        # root mean square: a term divided by it is about 1 in size under a random policy
        scales[v.name] = float(max(np.sqrt(np.mean(np.sum(flat**2, axis=-1))), 1e-6))
        if v is action:
            scales[v.name] = float(max(np.mean(np.sum(flat**2, axis=-1)), 1e-6))
    for i, a in enumerate(usable):
        for b in usable[i + 1 :]:
            if a.shape == b.shape and a is not action and b is not action:
                diff = np.asarray(samples[a.name], np.float64) - np.asarray(samples[b.name])
                d = np.linalg.norm(diff.reshape(len(diff), -1), axis=-1)
                scales[f"{a.name}|{b.name}"] = float(max(np.mean(d), 1e-6))
    return scales


def build_library(task: Task, samples: dict[str, np.ndarray]) -> TermLibrary:
    """Analyse ``task``'s variables; ``samples`` are variables from random-policy rollouts."""
    usable = [v for v in task.variables if v.name != "episode_step" and v.dtype != "bool"]
    action = next((v for v in usable if _is_action(v)), None)
    state = [v for v in usable if v is not action]
    scalars = tuple(v.name for v in state if v.shape == () and np.std(samples[v.name]) > 1e-9)
    vectors = tuple(v.name for v in state if len(v.shape) == 1)
    pairs = []
    for i, a in enumerate(state):
        for b in state[i + 1 :]:
            if a.shape == b.shape and a.unit and a.unit == b.unit:
                pairs.append((a.name, b.name))
    rates = []
    for v in state:
        base = _rate_base(v)
        if base is None:
            continue
        found = [
            (pos, goal)
            for pos, goal in pairs
            if task.variable(pos).unit == base and v.shape == task.variable(pos).shape
        ]
        # a velocity goes with the position of its name (object_velocity: object_pos), if any
        own = [(p, g) for p, g in found if p.split("_")[0] == v.name.split("_")[0]]
        rates += [(pos, v.name, goal) for pos, goal in own or found]
    continuous = action is not None and action.dtype.startswith("float")
    return TermLibrary(
        task,
        scalars,
        vectors,
        tuple(pairs),
        tuple(rates),
        action.name if action else None,
        continuous,
        _scales(usable, action, samples),
        _scene(task, usable),
        success_radii(task),
    )


def dedupe(genome: Genome) -> Genome:
    seen: dict[str, Term] = {}
    for term in genome:
        seen.setdefault(term.name, term)
    return tuple(seen.values())


_TERM_DEFAULTS = asdict(Term("", (), "", 0.0))
_GATE_DEFAULTS = asdict(Gate("", ()))


def _compact(data: dict[str, Any], defaults: dict[str, Any], keep: tuple[str, ...]) -> dict:
    return {k: v for k, v in data.items() if k in keep or v != defaults[k]}


def genome_json(genome: Genome) -> str:
    """The genome as one JSON line; fields at their defaults are left out."""
    items = []
    for term in genome:
        data = _compact(asdict(term), _TERM_DEFAULTS, ("kind", "args", "transform", "weight"))
        if term.gates:
            data["gates"] = [
                _compact(asdict(g), _GATE_DEFAULTS, ("kind", "args")) for g in term.gates
            ]
        items.append(data)
    return json.dumps(items, separators=(",", ":"))


def _term(data: dict[str, Any]) -> Term:
    gates = tuple(Gate(**{**g, "args": tuple(g["args"])}) for g in data.get("gates", ()))
    return Term(**{**data, "args": tuple(data["args"]), "gates": gates})


def parse_genome(code: str) -> Genome | None:
    """The genome an offline-designed reward was rendered from, or None for other code."""
    for line in code.splitlines():
        if line.startswith(GENOME_MARKER):
            data: list[dict[str, Any]] = json.loads(line[len(GENOME_MARKER) :])
            return tuple(_term(d) for d in data)
    return None


def reweight(term: Term, factor: float) -> Term:
    return replace(term, weight=float(np.clip(term.weight * factor, 1e-3, 1e3)))
