"""Population (LaRes) vs evolve (Eureka): same designer, same environment steps.

For each task and run seed, two real searches (``Search(config, Workspace(tmp)).run()``)
with the offline designer seeded by the run seed, SAC with the task's settings for it (both
strategies, also where the task's default trainer is PPO), no final evaluation
and ``success_target 1.0`` (a run stops once one of its policies succeeds in every evaluation
episode):

  evolve      K candidates per iteration, I iterations, S steps per candidate, successive
              halving (rungs 0.25,0.5,1, eta 2) and screening as a user gets them;
  population  P members (E elites), R refreshes; the refresh length is evolve's environment
              steps of that seed divided by R (whole vector steps, rounded down), so both take
              the same steps in all.

"Best fitness" after a number of environment steps is the best fitness any evaluated policy of
the run had so far: for evolve, candidates trained to the end of their rung; for population,
members at a refresh. The curve of each run is that against cumulative environment steps;
the table reads the curves at a quarter, a half, three quarters and all of the budget.
Population trains every member on every transition, so it does about P times the gradient
steps per environment step; wall time is reported beside.

    .venv/bin/python benchmarks/population.py --tasks pendulum,mountaincar,point-reach --seeds 2
    .venv/bin/python benchmarks/population.py --quick     # tiny budgets: checks the script works
"""

from __future__ import annotations

import argparse
import json
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
from rewardforge.search.config import SearchConfig
from rewardforge.search.options import build_config
from rewardforge.search.runner import Search

RESULTS = Path(__file__).resolve().parent / "results"
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
QUICK = {"samples": 2, "iterations": 1, "num_steps": "400", "population_size": 2, "elites": 1,
         "refreshes": 2, "seeds": 1}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", default="pendulum,mountaincar,point-reach", help="task ids")
    p.add_argument("--seeds", type=int, default=2, help="run seeds 0..N-1")
    p.add_argument("--samples", type=int, default=4, help="evolve: candidates per iteration (K)")
    p.add_argument("--iterations", type=int, default=2, help="evolve: iterations (I)")
    p.add_argument(
        "--num-steps",
        default="3000",
        help="evolve: steps per candidate (S), with per-task values: 3000,point-reach=12000",
    )
    p.add_argument("--num-envs", type=int, default=4, help="environments (both strategies)")
    p.add_argument("--population-size", type=int, default=5, help="population: members (P)")
    p.add_argument("--elites", type=int, default=2, help="population: elites (E)")
    p.add_argument("--refreshes", type=int, default=4, help="population: refreshes (R)")
    p.add_argument("--quick", action="store_true", help="tiny budgets to check the script")
    p.add_argument("--render", action="store_true", help="rewrite the .md from the saved .json")
    p.add_argument("--out", type=Path, default=RESULTS / "population.json")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    args.tasks = [t for t in args.tasks.split(",") if t]
    args.steps = steps_per_task(str(args.num_steps), args.tasks)
    return args


def steps_per_task(text: str, tasks: list[str]) -> dict[str, int]:
    """``"3000,point-reach=12000"`` -> 3000 for every task, 12000 for point-reach."""
    default, named = None, {}
    for part in filter(None, text.split(",")):
        name, _, value = part.rpartition("=")
        if name:
            named[name] = int(value)
        else:
            default = int(value)
    missing = [t for t in tasks if t not in named and default is None]
    if missing:
        raise SystemExit(f"--num-steps gives no budget for {', '.join(missing)}")
    return {t: named.get(t, default or 0) for t in tasks}


def _search(config: SearchConfig, root: Path) -> tuple[dict[str, Any], Workspace, float]:
    workspace = Workspace(root)
    start = time.perf_counter()
    summary = Search(config, workspace).run().to_dict()
    return summary, workspace, time.perf_counter() - start


def _curve(workspace: Workspace, run_id: str, strategy: str) -> list[tuple[int, float]]:
    """(cumulative environment steps, best fitness so far) after each iteration. Evolve: the
    fitness of every candidate of the iterations so far; population: every evaluation of a
    member (a training record at the population's cumulative step count) so far."""
    store = workspace.store
    if strategy == "population":
        seen = [(t.budget_steps, t.fitness) for t in store.list_trainings(run_id)]
    else:
        seen = [(c.iteration, c.fitness) for c in store.list_candidates(run_id)]
    points, steps = [], 0
    for record in store.list_iterations(run_id):
        steps += int(record.details.get("env_steps", 0))
        upto = steps if strategy == "population" else record.iteration
        best = max((f for when, f in seen if f is not None and when <= upto), default=0.0)
        points.append((steps, best))
    return points


def run_pair(task: str, seed: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    common = dict(designer="offline", trainer="sac", num_envs=args.num_envs, final_seeds=0,
                  baselines=False, success_target=1.0, seed=seed, workers=1)  # fmt: skip
    evolve = build_config(task, values=dict(**common, strategy="evolve", samples=args.samples,
                          iterations=args.iterations, steps=args.steps[task]))  # fmt: skip
    e_summary, e_ws, e_wall = _search(evolve, root / "evolve")
    total = int(e_summary["env_steps"])
    # whole vector steps, never more than evolve took: R refreshes of the same length
    refresh = max(args.num_envs, total // args.refreshes // args.num_envs * args.num_envs)
    population = build_config(task, values=dict(
        **common, strategy="population", population_size=args.population_size,
        elites=args.elites, iterations=args.refreshes,
        refresh_steps=refresh,
        steps=args.steps[task],
    ))  # fmt: skip
    p_summary, p_ws, p_wall = _search(population, root / "population")
    out = {"seed": seed, "budget": total}
    for name, summary, ws, wall in (("evolve", e_summary, e_ws, e_wall),
                                    ("population", p_summary, p_ws, p_wall)):  # fmt: skip
        curve = _curve(ws, summary["run_id"], name)
        out[name] = {
            "curve": curve,
            "best": curve[-1][1] if curve else 0.0,
            "env_steps": int(summary["env_steps"]),
            "wall_s": round(wall, 1),
            "at": [at(curve, f * total) for f in FRACTIONS],
        }
    return out


def at(curve: list[tuple[int, float]], steps: float) -> float:
    """Best fitness so far once ``steps`` environment steps were taken (0 before any point)."""
    return max((fit for s, fit in curve if s <= steps + 1e-9), default=0.0)


def _mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    return f"{statistics.fmean(values):.2f} ± {statistics.pstdev(values):.2f}"


def table(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    head = " | ".join(f"{int(f * 100)}%" for f in FRACTIONS)
    lines = [
        f"| task | strategy | best fitness at {head} of the steps | env steps | wall s |",
        "|---|---|" + "---|" * len(FRACTIONS) + "---|---|",
    ]
    for task, rows in results.items():
        for name in ("evolve", "population"):
            cells = [_mean_std([r[name]["at"][i] for r in rows]) for i in range(len(FRACTIONS))]
            steps = statistics.fmean(r[name]["env_steps"] for r in rows)
            wall = statistics.fmean(r[name]["wall_s"] for r in rows)
            lines.append(
                f"| {task} | {name} | " + " | ".join(cells) + f" | {steps:,.0f} | {wall:.0f} |"
            )
    return lines


def curves(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = ["Curves (environment steps: best fitness so far), per seed:", ""]
    for task, rows in results.items():
        for r in rows:
            for name in ("evolve", "population"):
                points = ", ".join(f"{s:,}: {f:.2f}" for s, f in r[name]["curve"])
                lines.append(f"- {task}, seed {r['seed']}, {name}: {points}")
    return lines


NOTES = [
    "- Best fitness is that of the best policy evaluated so far (one deterministic evaluation",
    "  over the task's evaluation episodes), not a retraining of the best reward from scratch:",
    "  a population member learns from every member's transitions, so its policy is ahead of",
    "  what its reward would give a lone policy at the same steps.",
    "- A run stops once a policy succeeds in every evaluation episode (success target 1.0), so",
    "  the env steps column can be below the budget.",
    "- At equal environment steps, population does about P times the gradient steps (every",
    "  member learns from every transition); the wall-time column shows what that costs here.",
]


def write(results: dict[str, Any], meta: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "tasks": results}, indent=2) + "\n"
    )
    lines = [
        "# Population (LaRes) vs evolve (Eureka) at equal environment steps",
        "",
        f"Offline designer; evolve: K={meta['samples']}, {meta['iterations']} iterations, "
        f"{', '.join(f'{t} {n:,}' for t, n in meta['steps'].items())} steps per candidate (by task) with successive halving; population: "
        f"P={meta['population_size']}, {meta['elites']} elites, {meta['refreshes']} refreshes "
        f"sharing evolve's environment steps of the same seed; {meta['num_envs']} environments, "
        f"SAC with the task's settings for both, seeds 0..{meta['seeds'] - 1} (mean ± std over seeds). "
        "Written by `benchmarks/population.py`:",
        "",
        f"    {meta['command']}",
        "",
        *table(results),
        "",
        *NOTES,
        "",
        *curves(results),
        "",
        f"Machine: {meta['machine']}, {meta['cpus']} CPUs (shared with other jobs), "
        f"Python {meta['python']}; total wall time {meta['total_wall_s']:.0f} s.",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render:
        saved = json.loads(args.out.read_text())
        write(saved["tasks"], saved["meta"], args.out)
        return
    start = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            for seed in range(args.seeds):
                row = run_pair(task, seed, args, Path(tmp) / f"{task}_{seed}")
                results.setdefault(task, []).append(row)
                print(
                    f"{task} seed {seed}: budget {row['budget']:,} steps; best evolve "
                    f"{row['evolve']['best']:.2f} ({row['evolve']['wall_s']:.0f} s), population "
                    f"{row['population']['best']:.2f} ({row['population']['wall_s']:.0f} s)",
                    flush=True,
                )
    keys = ("samples", "iterations", "steps", "num_envs", "population_size", "elites",
            "refreshes", "seeds")  # fmt: skip
    meta = {
        **{k: getattr(args, k) for k in keys},
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "total_wall_s": time.perf_counter() - start,
    }
    out = args.out.with_name("population_quick.json") if args.quick else args.out
    write(results, meta, out)
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
