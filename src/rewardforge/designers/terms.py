"""The offline designer's library of reward terms, built from a task's variables.

A genome is a tuple of ``Term``s; ``render`` turns it into reward source code in the same
contract a model writes (``compute_reward(<variables>) -> (reward, components)``). Scales come
from a random-policy rollout of the task, so terms are comparable whatever the units."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from rewardforge.tasks.spec import Task, Variable

GENOME_MARKER = "# rewardforge-offline-genome: "

#: kind -> (allowed transforms). See ``_term_lines`` for the formulas.
TERM_KINDS = {
    "distance": ("neg", "exp", "inv"),
    "magnitude": ("linear", "square", "exp"),
    "signed": ("linear",),
    "progress": ("linear",),
    "effort": ("square",),
    "success": ("bonus",),
    "alive": ("constant",),
}


@dataclass(frozen=True)
class Term:
    kind: str
    args: tuple[str, ...]
    transform: str
    weight: float
    sign: float = 1.0
    temperature: float = 1.0

    @property
    def name(self) -> str:
        if self.kind in ("effort", "success", "alive"):
            return {"effort": "effort", "success": "success_bonus", "alive": "alive"}[self.kind]
        prefix = {"distance": "dist", "magnitude": "mag", "signed": "sgn", "progress": "progress"}[
            self.kind
        ]
        return f"{prefix}_{'_'.join(self.args[:2])}"


Genome = tuple[Term, ...]


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

    def all_terms(self) -> list[Term]:
        terms: list[Term] = []
        for a, b in self.pairs:
            terms += [Term("distance", (a, b), t, 1.0) for t in TERM_KINDS["distance"]]
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
        terms.append(Term("success", (), "bonus", 10.0))
        terms.append(Term("alive", (), "constant", 1.0))
        return terms


def _is_action(var: Variable) -> bool:
    return var.name == "action" or var.name.endswith("_action")


def _rate_base(var: Variable) -> str | None:
    """The unit this variable is a rate of ('m/s' -> 'm'), or None."""
    match = re.fullmatch(r"(.+)/(s|step|sec)", var.unit.strip())
    return match.group(1) if match else None


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
        for pos, goal in pairs:
            if task.variable(pos).unit == base and v.shape == task.variable(pos).shape:
                rates.append((pos, v.name, goal))
    scales: dict[str, float] = {}
    for v in usable:
        x = np.asarray(samples[v.name], dtype=np.float64)
        mag = np.linalg.norm(x.reshape(len(x), -1), axis=-1)
        # root mean square: a term divided by it is about 1 in size under a random policy
        scales[v.name] = float(max(np.sqrt(np.mean(mag**2)), 1e-6))
        if v is action:
            scales[v.name] = float(max(np.mean(np.sum(x.reshape(len(x), -1) ** 2, axis=-1)), 1e-6))
    for first, second in pairs:
        d = np.linalg.norm(
            (samples[first] - samples[second]).reshape(len(samples[first]), -1), axis=-1
        )
        scales[f"{first}|{second}"] = float(max(np.mean(d), 1e-6))
    continuous = action is not None and action.dtype.startswith("float")
    return TermLibrary(
        task,
        scalars,
        vectors,
        tuple(pairs),
        tuple(rates),
        action.name if action else None,
        continuous,
        scales,
    )


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _term_lines(term: Term, lib: TermLibrary) -> tuple[list[str], set[str]]:
    """Source lines computing ``term.name`` (B,), and the variables they read."""
    n, w = term.name, term.weight * term.sign
    task = lib.task
    if term.kind == "distance":
        a, b = term.args
        norm = (
            "np.abs({0} - {1})"
            if task.variable(a).shape == ()
            else "np.linalg.norm({0} - {1}, axis=-1)"
        )
        s = lib.scales[f"{a}|{b}"] * term.temperature
        body = {
            "neg": f"-d_{n} / {_fmt(s)}",
            "exp": f"np.exp(-d_{n} / {_fmt(s)})",
            "inv": f"1.0 / (1.0 + d_{n} / {_fmt(s)})",
        }
        return [f"d_{n} = {norm.format(a, b)}", f"{n} = {_fmt(w)} * {body[term.transform]}"], {a, b}
    if term.kind in ("magnitude", "signed"):
        (x,) = term.args
        s = lib.scales[x] * term.temperature
        vec = task.variable(x).shape != ()
        mag = f"np.linalg.norm({x}, axis=-1)" if vec else f"np.abs({x})"
        if term.kind == "signed":
            expr = f"{x} / {_fmt(s)}"
        else:
            expr = {
                "linear": f"{mag} / {_fmt(s)}",
                "square": f"np.square({mag} / {_fmt(s)})",
                "exp": f"np.exp(-{mag} / {_fmt(s)})",
            }[term.transform]
        return [f"{n} = {_fmt(w)} * {expr}"], {x}
    if term.kind == "progress":
        p, v, g = term.args
        s = lib.scales[v] * term.temperature
        if task.variable(p).shape == ():
            expr = f"-np.sign({p} - {g}) * {v} / {_fmt(s)}"
        else:
            expr = f"-np.sum(({p} - {g}) / (np.linalg.norm({p} - {g}, axis=-1, keepdims=True) + 1e-8) * {v}, axis=-1) / {_fmt(s)}"
        return [f"{n} = {_fmt(w)} * {expr}"], {p, v, g}
    if term.kind == "effort":
        (a,) = term.args
        flat = f"np.reshape({a}, ({a}.shape[0], -1))"
        return [f"{n} = {_fmt(w)} * np.sum(np.square({flat}), axis=-1) / {_fmt(lib.scales[a])}"], {
            a
        }
    if term.kind == "success":
        params = _success_params(lib.task)
        call = f"success_criterion({', '.join(params)})"
        return [f"{n} = {_fmt(w)} * np.asarray({call}, dtype=np.float64)"], set(params)
    if term.kind == "alive":
        first = lib.task.variables[0].name
        return [f"{n} = np.full({first}.shape[0], {_fmt(w)})"], {first}
    raise ValueError(f"unknown term kind {term.kind!r}")


def _success_params(task: Task) -> list[str]:
    import ast

    tree = ast.parse(task.success.code)
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "is_success")
    return [a.arg for a in func.args.args]


def _success_helper(task: Task) -> str:
    return task.success.code.replace("def is_success(", "def success_criterion(", 1).rstrip() + "\n"


def render(genome: Genome, lib: TermLibrary, note: str = "") -> str:
    """Reward source code for ``genome``; the genome rides along in a comment line."""
    if not genome:
        raise ValueError("a genome needs at least one term")
    lines: list[str] = []
    used: set[str] = set()
    names: list[str] = []
    for term in dedupe(genome):
        body, reads = _term_lines(term, lib)
        lines += body
        used |= reads
        names.append(term.name)
    order = [v.name for v in lib.task.variables if v.name in used]
    header = [
        GENOME_MARKER + json.dumps([asdict(t) for t in dedupe(genome)], separators=(",", ":")),
        "import numpy as np",
        "",
    ]
    if any(t.kind == "success" for t in genome):
        header += ["", _success_helper(lib.task)]
    doc = f'    """Offline designer: {note or "terms from the task variables"}."""'
    out = header + ["", f"def compute_reward({', '.join(order)}):", doc]
    out += [f"    {line}" for line in lines]
    out.append(f"    reward = {' + '.join(names)}")
    comps = ", ".join(f'"{n}": {n}' for n in names)
    out.append(f"    return reward, {{{comps}}}")
    return "\n".join(out) + "\n"


def dedupe(genome: Genome) -> Genome:
    seen: dict[str, Term] = {}
    for term in genome:
        seen.setdefault(term.name, term)
    return tuple(seen.values())


def parse_genome(code: str) -> Genome | None:
    """The genome an offline-designed reward was rendered from, or None for other code."""
    for line in code.splitlines():
        if line.startswith(GENOME_MARKER):
            data: list[dict[str, Any]] = json.loads(line[len(GENOME_MARKER) :])
            return tuple(Term(**{**d, "args": tuple(d["args"])}) for d in data)
    return None


def reweight(term: Term, factor: float) -> Term:
    return replace(term, weight=float(np.clip(term.weight * factor, 1e-3, 1e3)))
