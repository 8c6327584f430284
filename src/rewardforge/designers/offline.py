"""The offline designer: writes real reward code from a library of terms, no model needed.

Iteration 0 proposes structural templates: where the task's roles name an effector, an object
and a goal, the staged structures of manipulation rewards (reach, grasp, carry, release with
hard or smooth gates; the remaining work with its near and far transforms; pushing from
behind; alignment; ``designers/stages.py``), then the generic ones (reach, pump energy, make
progress, keep an angle near zero, stay alive), every one with a success bonus sized to
outweigh an episode of its shaping (``designers/render.py``). Later iterations evolve the best
candidates: the reflection rules on the best (``designers/rules.py``: drop near-constant
components, rescale a dominating one, loosen a gate that never opened, weigh or add the next
stage when one is done, rewrite when success stays at zero), and mutations (weights,
transforms, temperatures, terms; add or drop a stage, move a gate's threshold, make it smooth
or hard, reweight a stage, move a tolerance's flat top, the approach side or the remaining
work's balance)."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from rewardforge.designers.base import CandidateResult, DesignContext, Proposal, top_results
from rewardforge.designers.render import render
from rewardforge.designers.rules import (
    component_summary,
    episode_length,
    generic_rules,
    stage_rules,
)
from rewardforge.designers.stages import (
    STAGES,
    add_stage,
    available_stages,
    drop_stage,
    flip_smooth,
    move_gate,
    stage_names,
    staged,
    templates,
)
from rewardforge.designers.terms import (
    TERM_KINDS,
    Genome,
    Term,
    TermLibrary,
    build_library,
    dedupe,
    parse_genome,
    reweight,
    success_term,
)
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

#: The success multiple's range under mutation and reflection.
MULTIPLE_RANGE = (1.5, 8.0)
GENERIC_OPS = ("reweight", "transform", "temperature", "add", "drop")
STAGE_OPS = ("add_stage", "drop_stage", "gate", "smooth", "stage_weight", "shape")


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
            genomes += [(g, note, None) for g, note in self.templates()]
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
    def _find(self, kind: str, **match: object) -> list[Term]:
        return [
            t
            for t in self._terms
            if t.kind == kind and all(getattr(t, k) == v for k, v in match.items())
        ]

    def templates(self) -> list[tuple[Genome, str]]:
        """Iteration 0: the staged structures the roles allow, then the generic ones."""
        return templates(self.lib) + self._generic_templates()

    def _generic_templates(self) -> list[tuple[Genome, str]]:
        lib = self.lib
        success = (success_term(),)
        effort = self._find("effort")
        out: list[tuple[Genome, str]] = []
        covered = {(lib.scene.effector, lib.scene.goal), (lib.scene.goal, lib.scene.effector)}
        for a, b in lib.pairs:
            if (a, b) in covered:
                continue
            reach = tuple(self._find("distance", args=(a, b), transform="exp"))
            out.append((reach + tuple(effort) + success, f"reach {a} to {b}"))
        rate_vars = sorted({v for _, v, _ in lib.rates} | {x for x in lib.scalars if "vel" in x})
        if rate_vars:
            energy = tuple(
                t for x in rate_vars for t in self._find("magnitude", args=(x,), sign=1.0)
            )
            energy = tuple(t for t in energy if t.transform == "linear")
            out.append((energy + success + tuple(reweight(t, 0.1) for t in effort), "pump energy"))
        for p, v, g in lib.rates:
            out.append((tuple(self._find("progress", args=(p, v, g))) + success, f"progress of {p} toward {g}"))  # fmt: skip
        angles = [x for x in lib.scalars if self.task.variable(x).unit == "rad"]
        for x in angles:
            keep = tuple(self._find("magnitude", args=(x,), transform="exp"))
            out.append((keep + tuple(effort), f"keep {x} near zero"))
        alive = tuple(self._find("alive")) + tuple(self._find("magnitude", transform="square")[:2])
        out.append((alive, "stay alive"))
        order = self.rng.permutation(len(out))
        return [out[i] for i in order]

    def random_genome(self) -> Genome:
        shaping = [t for t in self._terms if t.kind not in ("success", "effort", "alive")]
        size = int(self.rng.integers(1, 4))
        picks = [
            shaping[i]
            for i in self.rng.choice(len(shaping), size=min(size, len(shaping)), replace=False)
        ]
        genome = [reweight(t, float(np.exp(self.rng.normal(0, 0.7)))) for t in picks]
        stages = available_stages(self.lib)
        if stages and self.rng.random() < 0.5:
            chosen = tuple(st for st in stages if self.rng.random() < 0.6) or (stages[-1],)
            smooth = bool(self.rng.random() < 0.5)
            genome = list(staged(chosen, self.lib, smooth)) + genome[:1]
        if self.rng.random() < 0.7:
            genome.append(success_term())
        if self.rng.random() < 0.5:
            genome += self._find("effort")
        if self.rng.random() < 0.2:
            genome += self._find("alive")
        return dedupe(tuple(genome))

    def mutate(self, genome: Genome) -> Genome:
        has_stages = bool(stage_names(genome)) or bool(available_stages(self.lib))
        ops = GENERIC_OPS + (STAGE_OPS if has_stages else ())
        op = str(self.rng.choice(ops))
        mutated = self._stage_op(op, genome) if op in STAGE_OPS else self._generic_op(op, genome)
        return dedupe(mutated) or self.random_genome()

    def _generic_op(self, op: str, genome: Genome) -> Genome:
        terms = list(genome)
        i = int(self.rng.integers(len(terms))) if terms else 0
        if op == "reweight" and terms:
            factor = float(np.exp(self.rng.normal(0, 0.8)))
            terms[i] = _bounded_success(reweight(terms[i], factor))
        elif op == "transform" and terms and len(_transforms(terms[i])) > 1:
            options = [t for t in _transforms(terms[i]) if t != terms[i].transform]
            terms[i] = replace(terms[i], transform=str(self.rng.choice(options)))
        elif op == "temperature" and terms and terms[i].kind == "remaining":
            factor = float(np.exp(self.rng.normal(0, 0.5)))  # the remaining work's balance
            terms[i] = replace(terms[i], ratio=float(np.clip(terms[i].ratio * factor, 0.1, 10)))
        elif op == "temperature" and terms:
            factor = np.exp(self.rng.normal(0, 0.7))
            terms[i] = replace(
                terms[i], temperature=float(np.clip(terms[i].temperature * factor, 0.05, 20))
            )
        elif op == "drop" and len(terms) > 1:
            terms.pop(i)
        else:
            terms.append(self._terms[int(self.rng.integers(len(self._terms)))])
        return tuple(terms)

    def _stage_op(self, op: str, genome: Genome) -> Genome:
        lib, present = self.lib, stage_names(genome)
        if op == "add_stage" or not present:
            missing = [st for st in available_stages(lib) if st not in present]
            if not missing:
                return self._generic_op("reweight", genome)
            return add_stage(genome, lib, str(self.rng.choice(missing)))
        stage = str(self.rng.choice(present))
        if op == "drop_stage" and len(present) > 1:
            return drop_stage(genome, lib, stage)
        if op == "gate":
            return move_gate(genome, stage, float(self.rng.choice([0.5, 2.0])), lib)
        if op == "smooth":
            return flip_smooth(genome, stage)
        factor = float(np.exp(self.rng.normal(0, 0.7)))
        if op == "shape":
            return tuple(_reshape(t, factor, self.rng) if t.stage == stage else t for t in genome)
        return tuple(reweight(t, factor) if t.stage == stage else t for t in genome)

    def apply_reflection(self, result: CandidateResult) -> Genome:
        """The reflection rules (``designers/rules.py``), applied to the genome of ``result``."""
        genome = parse_genome(result.code) or ()
        stats = component_summary(result.reflection)
        genome = generic_rules(genome, stats)
        if result.success_rate < 1.0 and stage_names(genome):
            length = episode_length(result.reflection, self.task.max_episode_steps)
            genome = stage_rules(genome, stats, length, self.lib)
        if result.success_rate <= 0.0:
            genome = self._rewrite(genome)
        return dedupe(genome) or self.random_genome()

    def _rewrite(self, genome: Genome) -> Genome:
        """Success stays at zero: a larger success bonus, and the next stage or a new term."""
        terms = list(genome)
        bonus = [i for i, t in enumerate(terms) if t.kind == "success"]
        if bonus:
            terms[bonus[0]] = _bounded_success(reweight(terms[bonus[0]], 1.5))
        else:
            terms.append(success_term())
        grown = add_stage(tuple(terms), self.lib) if stage_names(genome) else tuple(terms)
        if grown != tuple(terms):
            return grown
        names = {t.name for t in terms}
        fresh = [
            t
            for t in self._terms
            if t.kind in ("magnitude", "progress", "distance", "tolerance") and t.name not in names
        ]
        if fresh:
            terms.append(fresh[int(self.rng.integers(len(fresh)))])
        return tuple(terms)


def _transforms(term: Term) -> tuple[str, ...]:
    if term.kind == "success" or term.stage in STAGES:
        return (term.transform,)  # the bonus stays horizon-sized; a stage keeps its meaning
    return TERM_KINDS[term.kind]


def _bounded_success(term: Term) -> Term:
    if term.kind != "success" or term.transform != "horizon":
        return term
    return replace(term, weight=float(np.clip(term.weight, *MULTIPLE_RANGE)))


def _reshape(term: Term, factor: float, rng: np.random.Generator) -> Term:
    """A stage's shape: its flat top (radius), the approach side, or its temperature."""
    if term.kind == "approach" and rng.random() < 0.3:
        return replace(term, offset=-term.offset)
    if term.radius > 0 and rng.random() < 0.5:
        return replace(term, radius=float(np.clip(term.radius * factor, 1e-4, 10.0)))
    return replace(term, temperature=float(np.clip(term.temperature * factor, 0.05, 20)))
