"""Reward source code from a genome of terms (``designers/terms.py``).

The code is what a model would write: ``compute_reward(<variables>) -> (reward, components)``,
numpy only, one component per term, and it goes through the same checks (lint, a smoke run in
the sandbox). The genome rides along in a comment line so the designer can evolve it later.

The formulas, with ``d`` a distance (``np.linalg.norm(a - b, axis=-1)``, or ``|a - b|`` for
scalars), ``s`` a random-policy scale and ``w`` the weight times the sign:

- ``tolerance``: ``w * tol(d, radius, margin)``, 1 inside ``radius``; outside it a long tail
  ``1 / (1 + (3 x)^2)`` or a Gaussian ``exp(-(2.146 x)^2 / 2)`` with ``x = (d - radius) /
  margin``: both are 0.1 at ``radius + margin`` (dm_control's ``tolerance``). The margin is the
  pair's random-policy distance times the temperature.
- ``remaining``: one length ``L = d(effector, object) + ratio * d(object, goal)`` (or
  ``d(effector, goal)``), with a ``near`` transform ``tol_long_tail(L, radius, s_L)`` and a
  ``far`` one ``-L / s_L``.
- ``approach``: ``tol_long_tail(|effector - p|, radius, margin)`` where ``p = object - offset *
  unit(goal - object)``: the point behind the object, seen from the goal (in front of a button).
- ``align``: ``(1 + cos) / 2`` of the angle between ``object - effector`` and ``goal - object``.
- ``flag``: a bool variable as 0/1 (``negated``: 1 - flag).
- gates multiply a staged term: ``near`` is ``d <= threshold`` (hard) or
  ``tol_gaussian(d, threshold, threshold)`` (smooth: 1 inside, 0.1 at twice the threshold);
  ``below`` the same on a scalar's size (fingers closed); ``flag`` a bool variable (or 1 - it).
- ``success`` (``horizon``): ``SUCCESS_BONUS * is_success`` with ``SUCCESS_BONUS = multiple *
  (largest shaping one step can pay) * horizon``, ARCHIE's sizing (``designers/archie.py``),
  where the horizon is the episode's length or, when shorter, the discount's ``1 / (1 - gamma)``
  (the most steps of shaping the trainer's value can add up).
- generic: ``distance`` (``-d/s``, ``exp(-d/s)``, ``1/(1 + d/s)``), ``magnitude``
  (``min(|x|/s, 10)``, ``min((|x|/s)^2, 100)``, ``exp(-|x|/s)``), ``signed`` and ``progress``
  (clipped to [-10, 10]), ``effort`` (``sum(a^2)/s``), ``alive`` (a constant)."""

from __future__ import annotations

import ast
import math

from rewardforge.designers.archie import MIN_STEP_REWARD, archie_bonus
from rewardforge.designers.terms import (
    GENOME_MARKER,
    LINEAR_CAP,
    Gate,
    Genome,
    Term,
    TermLibrary,
    dedupe,
    genome_json,
    max_step_shaping,
)
from rewardforge.tasks.spec import Task

#: The discount assumed when the task's trainer settings give none.
DEFAULT_GAMMA = 0.99
#: The smallest success multiple rendered (finishing must pay more than shaping).
MIN_MULTIPLE = 1.25
#: The long tail's and the Gaussian's factor: both are 0.1 at ``radius + margin``.
LONG_TAIL_K = 3.0
GAUSSIAN_K = math.sqrt(-2.0 * math.log(0.1))

HELPERS = {
    "long_tail": f'''def tol_long_tail(d, radius, margin):
    """1 within radius; outside, a long tail that is 0.1 at radius + margin."""
    x = np.maximum(d - radius, 0.0) / margin
    return 1.0 / (1.0 + np.square({LONG_TAIL_K} * x))
''',
    "gaussian": f'''def tol_gaussian(d, radius, margin):
    """1 within radius; outside, a Gaussian that is 0.1 at radius + margin."""
    x = np.maximum(d - radius, 0.0) / margin
    return np.exp(-0.5 * np.square({GAUSSIAN_K:.6f} * x))
''',
}


def bonus_horizon(task: Task) -> int:
    """Steps of shaping a success bonus must outweigh: the episode, or the discount's horizon
    ``1 / (1 - gamma)`` of the task's trainer when that is shorter."""
    gamma = float(task.hyperparameters(task.budget.trainer).get("gamma", DEFAULT_GAMMA))
    if gamma >= 1.0:
        return task.max_episode_steps
    return int(min(task.max_episode_steps, math.ceil(1.0 / (1.0 - gamma) - 1e-9)))


def success_bonus(genome: Genome, task: Task, multiple: float) -> float:
    """``multiple`` times the largest shaping one step of ``genome`` pays, times the horizon."""
    return archie_bonus(max_step_shaping(genome), bonus_horizon(task), bonus_multiple(multiple))


def bonus_multiple(weight: float) -> float:
    """The success term's weight as ARCHIE's multiple (at least ``MIN_MULTIPLE``)."""
    return max(float(weight), MIN_MULTIPLE)


def _direction(a: str, b: str) -> str:
    """The unit vector from ``b`` to ``a``, as code (row-wise)."""
    return f"({a} - {b}) / (np.linalg.norm({a} - {b}, axis=-1, keepdims=True) + 1e-8)"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class _Writer:
    """Source lines for one genome: the helpers it needs and the variables it reads."""

    def __init__(self, lib: TermLibrary) -> None:
        self.lib = lib
        self.lines: list[str] = []
        self.reads: set[str] = set()
        self.helpers: set[str] = set()

    def scalar(self, name: str) -> bool:
        return self.lib.task.variable(name).shape == ()

    def dist(self, a: str, b: str) -> str:
        self.reads |= {a, b}
        if self.scalar(a):
            return f"np.abs({a} - {b})"
        return f"np.linalg.norm({a} - {b}, axis=-1)"

    def size(self, x: str) -> str:
        self.reads.add(x)
        return f"np.abs({x})" if self.scalar(x) else f"np.linalg.norm({x}, axis=-1)"

    def tol(self, shape: str, d: str, radius: float, margin: float) -> str:
        self.helpers.add(shape)
        return f"tol_{shape}({d}, {_fmt(radius)}, {_fmt(max(margin, 1e-6))})"

    def flag(self, x: str, negate: bool) -> str:
        self.reads.add(x)
        value = f"np.asarray({x}, dtype=np.float64)"
        return f"(1.0 - {value})" if negate else value

    def gate(self, gate: Gate) -> str:
        if gate.kind == "flag":
            return self.flag(gate.args[0], gate.negate)
        d = self.dist(*gate.args) if gate.kind == "near" else self.size(gate.args[0])
        t = max(gate.threshold, 1e-6)
        if gate.smooth:
            return self.tol("gaussian", d, t, t)
        return f"np.asarray({d} <= {_fmt(t)}, dtype=np.float64)"

    def value(self, term: Term, n: str) -> str:
        """The unweighted value of ``term`` (lines it needs are appended first)."""
        kind, lib = term.kind, self.lib
        if kind == "tolerance":
            if len(term.args) == 2:
                d, margin = self.dist(*term.args), lib.scale(*term.args)
            else:
                d, margin = self.size(term.args[0]), lib.scale(term.args[0])
            self.lines.append(f"d_{n} = {d}")
            return self.tol(term.transform, f"d_{n}", term.radius, margin * term.temperature)
        if kind == "flag":
            return self.flag(term.args[0], term.transform == "negated")
        if kind == "remaining":
            return self._remaining(term, n)
        if kind in ("approach", "align"):
            return self._side(term, n)
        return self._generic(term, n)

    def _remaining(self, term: Term, n: str) -> str:
        lib, args = self.lib, term.args
        if len(args) == 3:
            e, o, g = args
            length = f"{self.dist(e, o)} + {_fmt(term.ratio)} * {self.dist(o, g)}"
            scale = lib.scale(e, o) + term.ratio * lib.scale(o, g)
        else:
            length, scale = self.dist(*args), lib.scale(*args)
        scale *= term.temperature
        self.lines.append(f"length_{n} = {length}")
        if term.transform == "near":
            return self.tol("long_tail", f"length_{n}", term.radius, scale)
        return f"(-length_{n} / {_fmt(max(scale, 1e-6))})"

    def _side(self, term: Term, n: str) -> str:
        e, o, g = term.args
        self.reads |= {e, o, g}
        if self.scalar(o):
            ahead = f"np.sign({g} - {o})"
        else:
            ahead = f"({g} - {o}) / (np.linalg.norm({g} - {o}, axis=-1, keepdims=True) + 1e-8)"
        if term.kind == "approach":
            self.lines.append(f"point_{n} = {o} - {_fmt(term.offset)} * {ahead}")
            self.lines.append(f"d_{n} = {self.dist(e, f'point_{n}')}")
            margin = self.lib.scale(e, o) * term.temperature
            return self.tol("long_tail", f"d_{n}", term.radius, margin)
        if self.scalar(o):
            cos = f"np.sign({o} - {e}) * {ahead}"
        else:
            cos = f"np.sum({_direction(o, e)} * {ahead}, axis=-1)"
        return f"(0.5 * (1.0 + {cos}))"

    def _generic(self, term: Term, n: str) -> str:
        kind, lib, t = term.kind, self.lib, term.temperature
        if kind == "distance":
            a, b = term.args
            self.lines.append(f"d_{n} = {self.dist(a, b)}")
            s = _fmt(lib.scale(a, b) * t)
            return {"neg": f"(-d_{n} / {s})", "exp": f"np.exp(-d_{n} / {s})"}.get(
                term.transform, f"(1.0 / (1.0 + d_{n} / {s}))"
            )
        if kind in ("magnitude", "signed"):
            (x,) = term.args
            s = _fmt(lib.scale(x) * t)
            cap = _fmt(LINEAR_CAP)
            if kind == "signed":
                self.reads.add(x)
                return f"np.clip({x} / {s}, -{cap}, {cap})"
            mag = self.size(x)
            return {
                "linear": f"np.minimum({mag} / {s}, {cap})",
                "square": f"np.minimum(np.square({mag} / {s}), {_fmt(LINEAR_CAP**2)})",
                "exp": f"np.exp(-{mag} / {s})",
            }[term.transform]
        if kind == "progress":
            p, v, g = term.args
            self.reads |= {p, v, g}
            s = _fmt(lib.scale(v) * t)
            if self.scalar(p):
                along = f"-np.sign({p} - {g}) * {v}"
            else:
                along = f"-np.sum({_direction(p, g)} * {v}, axis=-1)"
            return f"np.clip({along} / {s}, -{_fmt(LINEAR_CAP)}, {_fmt(LINEAR_CAP)})"
        if kind == "effort":
            (a,) = term.args
            self.reads.add(a)
            flat = f"np.reshape({a}, ({a}.shape[0], -1))"
            return f"(np.sum(np.square({flat}), axis=-1) / {_fmt(lib.scale(a))})"
        if kind == "alive":
            first = lib.task.variables[0].name
            self.reads.add(first)
            return f"np.ones(np.shape({first})[:1])"
        raise ValueError(f"unknown term kind {kind!r}")

    def term(self, term: Term) -> None:
        n = term.name
        if term.kind == "success":
            params = success_params(self.lib.task)
            self.reads |= set(params)
            size = "SUCCESS_BONUS" if term.transform == "horizon" else _fmt(term.weight)
            call = f"success_criterion({', '.join(params)})"
            self.lines.append(f"{n} = {size} * np.asarray({call}, dtype=np.float64)")
            return
        factors = [_fmt(term.weight * term.sign)]
        if term.gates:
            self.lines.append(f"gate_{n} = {' * '.join(self.gate(g) for g in term.gates)}")
            factors.append(f"gate_{n}")
        factors.append(self.value(term, n))
        self.lines.append(f"{n} = {' * '.join(factors)}")


def success_params(task: Task) -> list[str]:
    tree = ast.parse(task.success.code)
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "is_success")
    return [a.arg for a in func.args.args]


def _success_helper(task: Task) -> str:
    return task.success.code.replace("def is_success(", "def success_criterion(", 1).rstrip() + "\n"


def render(genome: Genome, lib: TermLibrary, note: str = "") -> str:
    """Reward source code for ``genome``; the genome rides along in a comment line."""
    genome = dedupe(genome)
    if not genome:
        raise ValueError("a genome needs at least one term")
    writer = _Writer(lib)
    success = [t for t in genome if t.kind == "success"]
    bonus = success_bonus(genome, lib.task, success[0].weight) if success else 0.0
    for term in genome:
        writer.term(term)
    header = [GENOME_MARKER + genome_json(genome), "import numpy as np", ""]
    if success:
        header += ["", _success_helper(lib.task)]
    header += ["\n" + HELPERS[h] for h in sorted(writer.helpers)]
    if success and success[0].transform == "horizon":
        shaping = max_step_shaping(genome)
        header += [
            "",
            f"# {_fmt(bonus_multiple(success[0].weight))} x the largest shaping of a step "
            f"({_fmt(max(shaping, MIN_STEP_REWARD))}) x "
            f"{bonus_horizon(lib.task)} steps: finishing pays more than any shaping",
            f"SUCCESS_BONUS = {bonus:.6g}",
        ]
    order = [v.name for v in lib.task.variables if v.name in writer.reads]
    doc = f'    """Offline designer: {note or "terms from the task variables"}."""'
    out = header + ["", "", f"def compute_reward({', '.join(order)}):", doc]
    out += [f"    {line}" for line in writer.lines]
    names = [t.name for t in genome]
    out.append(f"    reward = {' + '.join(names)}")
    comps = ", ".join(f'"{n}": {n}' for n in names)
    out.append(f"    return reward, {{{comps}}}")
    return "\n".join(out) + "\n"
