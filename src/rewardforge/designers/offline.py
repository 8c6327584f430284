"""The offline designer: writes real reward code from a library of terms, no model needed.

It starts from a few structural templates (reach the goal, pump energy, make progress) and
random combinations, then evolves the structure and weights of the best candidates from their
fitness and reflection data, applying the reflection rules mechanically:

- drop a component whose per-episode sum hardly changes during training (near-constant);
- rescale a component whose size dominates all others together;
- rewrite (add a success bonus or a new shaping term) when success stays at zero.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from rewardforge.designers.base import CandidateResult, DesignContext, Proposal, top_results
from rewardforge.designers.terms import (
    Genome,
    Term,
    TermLibrary,
    build_library,
    dedupe,
    parse_genome,
    render,
    reweight,
)
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

DOMINANCE_RATIO = 10.0
CONSTANT_SPREAD = 0.02


def sample_variables(
    task: Task, num_steps: int = 256, num_envs: int = 8, seed: int = 0
) -> dict[str, np.ndarray]:
    """Variables from random-policy rollouts, concatenated over steps (trusted, in-process)."""
    rng = np.random.default_rng(seed)
    chunks: dict[str, list[np.ndarray]] = {}
    with make_env(task, num_envs=num_envs, seed=seed) as env:
        env.reset()
        for _ in range(max(1, num_steps // num_envs)):
            step = env.step(env.sample_actions(rng))
            for k, v in step.variables.items():
                chunks.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in chunks.items()}


class OfflineDesigner:
    """Evolves reward programs from the task's variables; see the module docstring."""

    name = "offline"

    def __init__(self, task: Task, seed: int = 0, library: TermLibrary | None = None) -> None:
        self.task = task
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.lib = library or build_library(task, sample_variables(task, seed=seed))
        self._terms = self.lib.all_terms()

    # -- proposals ----------------------------------------------------------------------
    def propose(self, k: int, context: DesignContext) -> list[Proposal]:
        # Seeded by the call, not by earlier calls: a resumed run proposes the same candidates.
        self.rng = np.random.default_rng([self.seed, context.rng_seed, context.iteration])
        genomes: list[tuple[Genome, str, int | None]] = []
        parents = [r for r in top_results(context.history, 3) if parse_genome(r.code)]
        if not parents:
            genomes += [(g, note, None) for g, note in self._templates()]
        else:
            best = parents[0]
            genomes.append(
                (self.apply_reflection(best), "reflection rules on the best", best.candidate_id)
            )
            while len(genomes) < k - 1:
                parent = parents[int(self.rng.integers(len(parents)))]
                genome = self.mutate(parse_genome(parent.code) or ())
                genomes.append((genome, "mutation", parent.candidate_id))
        while len(genomes) < k:
            genomes.append((self.random_genome(), "random structure", None))
        seen: set[str] = set()
        proposals = []
        for genome, note, parent_id in genomes:
            code = render(genome, self.lib, note)
            if code in seen:
                code = render(self.mutate(genome), self.lib, note + ", mutated")
            seen.add(code)
            proposals.append(
                Proposal(code=code, designer=self.name, parent_id=parent_id, notes=note)
            )
            if len(proposals) == k:
                break
        return proposals

    def repair(self, proposal: Proposal, error: str, context: DesignContext) -> Proposal | None:
        logger.warning(
            "offline candidate failed its checks (%s); proposing a fresh structure", error
        )
        attempt = int(proposal.meta.get("attempt", 0)) + 1
        self.rng = np.random.default_rng(
            [self.seed, context.rng_seed, context.iteration, len(proposal.code), attempt]
        )
        return Proposal(
            code=render(self.random_genome(), self.lib, "repair"),
            designer=self.name,
            notes="repair",
            meta={"attempt": attempt},
        )

    # -- structure ----------------------------------------------------------------------
    def _find(self, kind: str, **match: Any) -> list[Term]:
        return [
            t
            for t in self._terms
            if t.kind == kind and all(getattr(t, k) == v for k, v in match.items())
        ]

    def _templates(self) -> list[tuple[Genome, str]]:
        lib = self.lib
        success = self._find("success")
        effort = self._find("effort")
        out: list[tuple[Genome, str]] = []
        for a, b in lib.pairs:
            out.append(
                (
                    tuple(self._find("distance", args=(a, b), transform="exp"))
                    + tuple(effort)
                    + tuple(success),
                    f"reach {a} to {b}",
                )
            )
        rate_vars = sorted({v for _, v, _ in lib.rates} | {x for x in lib.scalars if "vel" in x})
        if rate_vars:
            energy = tuple(
                replace(t, weight=1.0)
                for x in rate_vars
                for t in self._find("magnitude", args=(x,), transform="linear", sign=1.0)
            )
            out.append(
                (energy + tuple(success) + tuple(reweight(t, 0.1) for t in effort), "pump energy")
            )
        for p, v, g in lib.rates:
            out.append(
                (
                    tuple(self._find("progress", args=(p, v, g))) + tuple(success),
                    f"progress of {p} toward {g}",
                )
            )
        angles = [x for x in lib.scalars if self.task.variable(x).unit == "rad"]
        for x in angles:
            out.append(
                (
                    tuple(self._find("magnitude", args=(x,), transform="exp")) + tuple(effort),
                    f"keep {x} near zero",
                )
            )
        out.append(
            (
                tuple(self._find("alive")) + tuple(self._find("magnitude", transform="square")[:2]),
                "stay alive",
            )
        )
        self.rng.shuffle(out)  # type: ignore[arg-type]
        return out

    def random_genome(self) -> Genome:
        shaping = [t for t in self._terms if t.kind not in ("success", "effort", "alive")]
        size = int(self.rng.integers(1, 4))
        picks = [
            shaping[i]
            for i in self.rng.choice(len(shaping), size=min(size, len(shaping)), replace=False)
        ]
        genome = [reweight(t, float(np.exp(self.rng.normal(0, 0.7)))) for t in picks]
        if self.rng.random() < 0.7:
            genome += self._find("success")
        if self.rng.random() < 0.5:
            genome += self._find("effort")
        if self.rng.random() < 0.2:
            genome += self._find("alive")
        return dedupe(tuple(genome))

    def mutate(self, genome: Genome) -> Genome:
        terms = list(genome)
        op = self.rng.choice(["reweight", "transform", "temperature", "add", "drop"])
        i = int(self.rng.integers(len(terms))) if terms else 0
        if op == "reweight" and terms:
            terms[i] = reweight(terms[i], float(np.exp(self.rng.normal(0, 0.8))))
        elif op == "transform" and terms and len(_transforms(terms[i])) > 1:
            options = [t for t in _transforms(terms[i]) if t != terms[i].transform]
            terms[i] = replace(terms[i], transform=str(self.rng.choice(options)))
        elif op == "temperature" and terms:
            terms[i] = replace(
                terms[i],
                temperature=float(
                    np.clip(terms[i].temperature * np.exp(self.rng.normal(0, 0.7)), 0.05, 20)
                ),
            )
        elif op == "drop" and len(terms) > 1:
            terms.pop(i)
        else:
            terms.append(self._terms[int(self.rng.integers(len(self._terms)))])
        return dedupe(tuple(terms)) or self.random_genome()

    def apply_reflection(self, result: CandidateResult) -> Genome:
        """The reflection rules, applied to the genome of ``result``."""
        genome = list(parse_genome(result.code) or ())
        stats = component_summary(result.reflection)
        if stats:
            keep = []
            for term in genome:
                s = stats.get(term.name)
                if (
                    s
                    and term.kind != "alive"
                    and s["spread"] <= CONSTANT_SPREAD * (abs(s["mean"]) + 1e-8)
                    and len(genome) > 1
                ):
                    logger.info("reflection: dropping near-constant component %s", term.name)
                    continue
                keep.append(term)
            genome = keep
            sizes = {t.name: abs(stats[t.name]["mean"]) for t in genome if t.name in stats}
            total = sum(sizes.values())
            for j, term in enumerate(genome):
                others = total - sizes.get(term.name, 0.0)
                if others > 0 and sizes.get(term.name, 0.0) > DOMINANCE_RATIO * others:
                    logger.info("reflection: rescaling dominating component %s", term.name)
                    genome[j] = reweight(term, DOMINANCE_RATIO * others / sizes[term.name])
        if result.success_rate <= 0.0:
            genome = list(self._rewrite(tuple(genome)))
        return dedupe(tuple(genome)) or self.random_genome()

    def _rewrite(self, genome: Genome) -> Genome:
        """Success stays at zero: strengthen or add the success bonus and add a new shaping term."""
        terms = list(genome)
        bonus = [i for i, t in enumerate(terms) if t.kind == "success"]
        if bonus:
            terms[bonus[0]] = reweight(terms[bonus[0]], 3.0)
        else:
            terms += self._find("success")
        names = {t.name for t in terms}
        fresh = [
            t
            for t in self._terms
            if t.kind in ("magnitude", "progress", "distance") and t.name not in names
        ]
        if fresh:
            terms.append(fresh[int(self.rng.integers(len(fresh)))])
        return tuple(terms)


def _transforms(term: Term) -> tuple[str, ...]:
    from rewardforge.designers.terms import TERM_KINDS

    return TERM_KINDS[term.kind]


def component_summary(reflection: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per component: mean of its per-episode sum over training, and its spread (max - min)."""
    comps = reflection.get("components", {}) if reflection else {}
    out = {}
    for name, s in comps.items():
        means = [float(x) for x in s.get("mean", [])]
        if not means:
            continue
        mins = [float(x) for x in s.get("min", means)]
        maxs = [float(x) for x in s.get("max", means)]
        out[name] = {"mean": float(np.mean(means)), "spread": float(max(maxs) - min(mins))}
    return out
