"""Successive halving vs training every candidate fully: same best fitness, fewer env steps?

For each task and run seed, the SAME K candidates (the offline designer's iteration 0 for that
seed) are trained twice, each time as one population with the task's trainer and budget:

  full     every candidate for the full budget (``rungs off``);
  halving  successive halving (``rungs 0.25,0.5,1``, ``eta 2``): after each rung the top half
           continue, so at K=8 two candidates reach the full budget.

Both runs are real searches (``Search(config, Workspace(tmp)).run()``) with one
iteration, no screening and no final evaluation, so training is the only thing that differs.
Reported per seed and over seeds: the best fitness among candidates trained to the full budget,
environment steps (``env_steps`` of the run summary against ``full_budget_env_steps``), wall
time, whether halving picked the full run's best candidate, whether the full run's best was
among halving's finalists, and the fitness the full run gave to halving's pick (its regret).

A candidate's fitness is not the same number in the two runs even when it trains for the same
steps: members of a population share its random streams, so removing members changes what the
survivors see. "Full run's best among halving's finalists" and "regret of halving's pick in the
full run" compare like with like; "best fitness" compares two noisy draws.

    .venv/bin/python benchmarks/search.py --tasks mountaincar,pendulum --seeds 3 --samples 8
    .venv/bin/python benchmarks/search.py --quick        # tiny budgets: checks the script works
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rewardforge.runs.workspace import Workspace
from rewardforge.search.options import build_config
from rewardforge.search.runner import Search

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"full": "off", "halving": None}  # None: the --rungs argument
NOTES = "<!-- notes: written by hand, kept when the table is rewritten -->"
QUICK = {"samples": 4, "seeds": 1, "num_steps": 1200}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", default="mountaincar,pendulum", help="comma-separated task ids")
    p.add_argument("--seeds", type=int, default=3, help="run seeds 0..N-1")
    p.add_argument("--samples", type=int, default=8, help="candidates per run (K)")
    p.add_argument("--rungs", default="0.25,0.5,1", help="halving rungs (fractions of the budget)")
    p.add_argument("--eta", type=float, default=2.0, help="keep the top 1/eta after each rung")
    p.add_argument("--num-steps", type=int, default=None, help="budget (default: the task's)")
    p.add_argument("--quick", action="store_true", help="tiny budgets to check the script")
    p.add_argument("--keep-workspace", type=Path, default=None, help="keep the runs here")
    p.add_argument("--out", type=Path, default=RESULTS / "search.json")
    p.add_argument("--render", action="store_true", help="rewrite the .md from --out, no runs")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.seeds = QUICK["samples"], QUICK["seeds"]
        args.num_steps = args.num_steps or QUICK["num_steps"]
    args.tasks = [t for t in args.tasks.split(",") if t]
    return args


def run_variant(
    task: str, seed: int, rungs: str, args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    """One search of one iteration; its summary and every candidate's outcome, by slot."""
    config = build_config(
        task,
        values=dict(
            designer="offline",
            samples=args.samples,
            iterations=1,
            steps=args.num_steps,
            rungs=rungs,
            eta=args.eta,
            screening=False,
            final_seeds=0,
            baselines=False,
            seed=seed,
            workers=1,  # one population: halving compares every candidate with every other
        ),
    )
    workspace = Workspace(root)
    start = time.perf_counter()
    summary = Search(config, workspace).run().to_dict()
    wall = time.perf_counter() - start
    candidates = {}
    for c in workspace.store.list_candidates(summary["run_id"]):
        candidates[c.slot] = {  # the last attempt of a slot is the one that trained
            "id": c.id,
            "hash": c.content_hash,
            "status": c.status,
            "fitness": c.fitness,
            "success_rate": c.success_rate,
            "steps": c.details.training.steps if c.details.training else 0,
            "curve": _curve(workspace, c.id),
        }
    best_id = summary["best_candidate"]
    return {
        "rungs": config.strategy.rungs,  # type: ignore[attr-defined]
        "summary": {k: summary[k] for k in ("run_id", "best_candidate", "best_fitness")},
        "best_slot": next((s for s, c in candidates.items() if c["id"] == best_id), None),
        "env_steps": summary["env_steps"],
        "full_budget_env_steps": summary["full_budget_env_steps"],
        "wall_time_s": round(wall, 1),
        "candidates": candidates,
    }


def _curve(workspace: Workspace, candidate_id: int) -> dict[str, list[float]]:
    records = workspace.store.list_trainings(candidate_id=candidate_id)
    return records[-1].metrics.get("curve", {}) if records else {}


def compare(full: dict[str, Any], halving: dict[str, Any]) -> dict[str, Any]:
    """The per-seed figures: best fitness of each, steps, and how halving's choice fared."""
    fc, hc = full["candidates"], halving["candidates"]
    same = {s: c["hash"] for s, c in fc.items()} == {s: c["hash"] for s, c in hc.items()}
    full_fit = {s: c["fitness"] for s, c in fc.items() if c["status"] == "trained"}
    finalists = sorted(s for s, c in hc.items() if c["status"] == "trained")
    full_best = max(full_fit.values(), default=None)
    halving_best = max((hc[s]["fitness"] for s in finalists), default=None)
    full_argmax = sorted(s for s, f in full_fit.items() if f == full_best)
    pick = halving["best_slot"]
    pick_in_full = full_fit.get(pick) if pick is not None else None
    return {
        "same_candidates": same,
        "trained": len(full_fit),
        "full_best": full_best,
        "halving_best": halving_best,
        "halving_reaches_full_best": (
            halving_best is not None and full_best is not None and halving_best >= full_best
        ),
        "full_pick": full["best_slot"],
        "full_argmax": full_argmax,
        "halving_pick": pick,
        "halving_finalists": finalists,
        "same_pick": pick == full["best_slot"],
        "full_best_among_finalists": bool(set(full_argmax) & set(finalists)),
        "halving_pick_full_fitness": pick_in_full,
        "regret": None if pick_in_full is None else full_best - pick_in_full,  # type: ignore[operator]
        "full_env_steps": full["env_steps"],
        "halving_env_steps": halving["env_steps"],
        "step_ratio": halving["env_steps"] / full["env_steps"] if full["env_steps"] else None,
        "full_wall_s": full["wall_time_s"],
        "halving_wall_s": halving["wall_time_s"],
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.fmean(values) if values else None

    def count(key: str) -> str:
        return f"{sum(bool(r[key]) for r in rows)}/{len(rows)}"

    return {
        "seeds": len(rows),
        "full_best": mean("full_best"),
        "halving_best": mean("halving_best"),
        "halving_reaches_full_best": count("halving_reaches_full_best"),
        "same_pick": count("same_pick"),
        "full_best_among_finalists": count("full_best_among_finalists"),
        "regret": mean("regret"),
        "full_env_steps": mean("full_env_steps"),
        "halving_env_steps": mean("halving_env_steps"),
        "step_ratio": mean("step_ratio"),
        "full_wall_s": sum(r["full_wall_s"] for r in rows),
        "halving_wall_s": sum(r["halving_wall_s"] for r in rows),
    }


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


HEADER = (
    "| task | seed | best fitness: full | halving | reached | pick: full | halving "
    "| full's best in finalists | regret | env steps: full | halving | ratio | wall s: full "
    "| halving |"
)


COLUMNS = [
    "- best fitness: the best fitness among candidates trained to the full budget (all K in",
    "  `full`, the finalists in `halving`); reached: halving's best >= full training's best.",
    "- pick: the slot (0..K-1) each run chose as its best; ties go to the lower candidate id.",
    "- full's best in finalists: a candidate with the full run's best fitness was among the",
    "  candidates halving trained to the full budget.",
    "- regret: full run's best fitness minus the full run's fitness of halving's pick.",
    "- env steps: environment steps all candidates took (run summary `env_steps`).",
    "- A candidate's fitness differs between the two runs even at equal steps: the members of a",
    "  population share its random streams, so halving's smaller population changes the",
    "  survivors' noise. The `finalists` and `regret` columns compare like with like.",
]


def table(results: dict[str, Any]) -> list[str]:
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for task, block in results.items():
        for r in block["per_seed"]:
            lines.append(
                f"| {task} | {r['seed']} | {_f(r['full_best'])} | {_f(r['halving_best'])} "
                f"| {_f(r['halving_reaches_full_best'])} | {_f(r['full_pick'])} "
                f"| {_f(r['halving_pick'])} | {_f(r['full_best_among_finalists'])} "
                f"| {_f(r['regret'])} | {r['full_env_steps']:,} | {r['halving_env_steps']:,} "
                f"| {_f(r['step_ratio'], 2)} | {_f(r['full_wall_s'], 0)} "
                f"| {_f(r['halving_wall_s'], 0)} |"
            )
        a = block["mean"]
        lines.append(
            f"| **{task}** | **mean** | {_f(a['full_best'])} | {_f(a['halving_best'])} "
            f"| {a['halving_reaches_full_best']} | | {a['same_pick']} same "
            f"| {a['full_best_among_finalists']} | {_f(a['regret'])} "
            f"| {a['full_env_steps']:,.0f} | {a['halving_env_steps']:,.0f} "
            f"| {_f(a['step_ratio'], 2)} | {_f(a['full_wall_s'], 0)} (sum) "
            f"| {_f(a['halving_wall_s'], 0)} (sum) |"
        )
    return lines


def write(results: dict[str, Any], meta: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "tasks": results}, indent=2) + "\n"
    )
    lines = [
        "# Successive halving vs full training",
        "",
        f"K={meta['samples']} candidates (offline designer, iteration 0 of each run seed), "
        f"trained fully and with halving (rungs {meta['rungs']}, eta {meta['eta']}); "
        "one population per run, the task's trainer and budget. Written by "
        "`benchmarks/search.py`:",
        "",
        f"    {meta['command']}",
        "",
        *table(results),
        "",
        *COLUMNS,
        "",
        f"Machine: {meta['machine']}, {meta['cpus']} CPUs (shared), Python {meta['python']}; "
        f"total wall time {meta['total_wall_s']:.0f} s.",
        "",
    ]
    md = out.with_suffix(".md")
    notes = md.read_text().partition(NOTES)[2] if md.exists() else ""
    md.write_text("\n".join(lines) + (NOTES + notes if notes else ""))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        write(saved["tasks"], saved["meta"], args.out)
        return
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    meta = {
        "command": shlex.join(
            [".venv/bin/python", "benchmarks/search.py", *(argv or sys.argv[1:])]
        ),
        "samples": args.samples,
        "seeds": args.seeds,
        "rungs": args.rungs,
        "eta": args.eta,
        "num_steps": args.num_steps,
        "quick": args.quick,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    start = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rf-search-bench-") as tmp:
        root = args.keep_workspace or Path(tmp)
        for task in args.tasks:
            rows, runs = [], []
            for seed in range(args.seeds):
                pair = {}
                for name, rungs in VARIANTS.items():
                    print(f"{task} seed {seed}: {name} ...", flush=True)
                    pair[name] = run_variant(task, seed, rungs or args.rungs, args, root)
                    v = pair[name]
                    print(
                        f"  best {_f(v['summary']['best_fitness'])} (slot {v['best_slot']}), "
                        f"{v['env_steps']:,} env steps, {v['wall_time_s']} s",
                        flush=True,
                    )
                rows.append({"seed": seed, **compare(pair["full"], pair["halving"])})
                runs.append({"seed": seed, **pair})
                results[task] = {"per_seed": rows, "mean": aggregate(rows), "runs": runs}
                meta["total_wall_s"] = time.perf_counter() - start
                write(results, meta, args.out)
    print()
    print("\n".join(table(results)))
    print(f"\ntotal wall time {meta['total_wall_s']:.0f} s; wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
