"""Time to solve: the built-in trainer vs Stable-Baselines3, on the environment's own reward.

Time to solve is the wall-clock from the start of training until the policy's evaluation first
reaches the task's target (success tasks: the task's success target, 0.9 unless it sets one;
score tasks: the score target the task sets), evaluating every ``eval_every`` environment steps
with the evaluation time included. Steps to solve are reported beside it; a run that does not
solve by its cap reports "not solved" and its best fitness.

Each side runs in its own process, one after the other (never at the same time: each may use
every core), alternating which side goes first from seed to seed, so both see the same machine
in the same run. The built-in side is exactly ``rewardforge train TASK --reward env``: the
task's own trainer and hyperparameters. The SB3 side uses the RL Zoo's settings where the Zoo
has the task (``SB3_SETTINGS`` says which; on Fetch that includes SB3's HER buffer and
normalised observations), SB3's defaults otherwise.

    .venv/bin/python benchmarks/time_to_solve.py                        # the whole suite, 2 seeds
    .venv/bin/python benchmarks/time_to_solve.py --tasks fetch-reach,pendulum --seeds 3
    .venv/bin/python benchmarks/time_to_solve.py --tasks reacher --resume  # add to the results
    .venv/bin/python benchmarks/time_to_solve.py --device cuda --out benchmarks/results/time_to_solve_cuda

Writes ``OUT.json`` (every run with its curve), ``OUT.md`` (the table) and ``OUT.html`` (fitness
against wall-clock per task, inline SVG).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "time_to_solve"

#: The suite of issue 16 and each task's cap (seconds of wall-clock per run, both sides): the
#: time-to-solve target set for the task.
SUITE: dict[str, float] = {
    "pendulum": 30,
    "point-reach": 30,
    "fetch-reach": 60,
    "reacher": 300,
    "button-press": 600,
    "door-close": 600,
    "window-close": 600,
    "drawer-open": 1200,
    "fetch-push": 2700,
    "halfcheetah": 1200,
    "hopper": 1200,
}

#: Environment steps between evaluations, per task (default 5,000).
EVAL_EVERY: dict[str, int] = {
    "pendulum": 1000,
    "point-reach": 10_000,
    "fetch-reach": 1000,
    "reacher": 2500,
    "fetch-push": 10_000,
    "halfcheetah": 10_000,
    "hopper": 10_000,
}

#: The SB3 side per task: algorithm and keyword arguments. "zoo" marks the RL Zoo's settings
#: (hyperparams/sac.yml and her.yml without the HER buffer); "default" SB3's own.
SB3_SETTINGS: dict[str, tuple[str, dict[str, Any], str]] = {
    "pendulum": ("sb3:SAC", {"learning_rate": 1e-3}, "zoo (Pendulum-v1)"),
    "point-reach": ("sb3:SAC", {}, "default"),
    "fetch-reach": (
        "sb3:SAC",
        {
            "batch_size": 256,
            "gamma": 0.95,
            "learning_rate": 1e-3,
            "learning_starts": 1000,
            "normalize": True,
            "her": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
            "policy_kwargs": {"net_arch": [64, 64]},
        },
        "zoo (FetchReach: HER, normalised observations)",
    ),
    "fetch-push": (
        "sb3:SAC",
        {
            "gamma": 0.95,
            "learning_rate": 7e-4,
            "learning_starts": 1000,
            "use_sde": True,
            "normalize": True,
            "her": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        },
        "zoo (FetchPush: HER, gSDE, normalised observations)",
    ),
    "reacher": ("sb3:SAC", {}, "default"),
    "halfcheetah": ("sb3:SAC", {"learning_starts": 10_000}, "zoo (MuJoCo defaults)"),
    "hopper": ("sb3:SAC", {"learning_starts": 10_000}, "zoo (MuJoCo defaults)"),
}
DEFAULT_SB3 = ("sb3:SAC", {}, "default")
MAX_STEPS = 5_000_000


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this process: train until solved or capped; returns what happened."""
    import resource

    import torch

    from rewardforge.rewards.base import EnvReward
    from rewardforge.rl import make_trainer
    from rewardforge.rl.solve import train_until_solved
    from rewardforge.tasks import get_task

    torch.set_num_threads(1)
    task = get_task(spec["task"])
    # time to solve is judged on the deterministic policy on both sides (SB3 and the RL Zoo
    # evaluate so), whatever the trainer's own default for a search's fitness (PPO: sampled)
    trainer = make_trainer(
        spec["trainer"], task, device=spec["device"], eval_policy="deterministic",
        **spec["hparams"],
    )  # fmt: skip
    start = time.perf_counter()
    with trainer.start([EnvReward()], [spec["seed"]], planned_steps=spec["max_steps"]) as pop:
        result = train_until_solved(
            pop,
            target=spec["target"],
            max_steps=spec["max_steps"],
            eval_every=spec["eval_every"],
            max_seconds=spec["cap_s"],
        )[0]
        steps = pop.steps
    wall = time.perf_counter() - start
    return {
        **result.to_dict(),
        "steps": steps,
        "wall_s": wall,
        "steps_per_s": steps / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_side(spec: dict[str, Any]) -> dict[str, Any]:
    """``worker(spec)`` in a fresh process; a crash is a result with its error."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {**spec, "error": proc.stderr.strip().splitlines()[-1:] or ["no output"]}
    return {**spec, **json.loads(lines[-1])}


def plan(tasks: list[str], seeds: int, sides: list[str], device: str) -> list[dict[str, Any]]:
    from rewardforge.tasks import get_task

    specs = []
    for task_id in tasks:
        task = get_task(task_id)
        if task.target is None:
            raise SystemExit(f"task {task_id} sets no fitness target (fitness.target)")
        base = {
            "task": task_id,
            "target": task.target,
            "cap_s": SUITE.get(task_id, 600),
            "eval_every": EVAL_EVERY.get(task_id, 5000),
            "max_steps": MAX_STEPS,
            "device": device,
        }
        for seed in range(seeds):
            order = sides if seed % 2 == 0 else sides[::-1]
            for side in order:
                if side == "builtin":
                    trainer, hparams, settings = task.budget.trainer, {}, "task defaults"
                else:
                    trainer, hparams, settings = SB3_SETTINGS.get(task_id, DEFAULT_SB3)
                specs.append(
                    {
                        **base,
                        "side": side,
                        "seed": seed,
                        "trainer": trainer,
                        "hparams": hparams,
                        "settings": settings,
                    }
                )
    return specs


def _key(run: dict[str, Any]) -> tuple[str, str, int]:
    return run["task"], run["side"], run["seed"]


def _stopped(run: dict[str, Any]) -> float:
    """When a run that did not solve stopped: its last evaluation (the cap, or just past it)."""
    return float(run["curve"][-1][1]) if run.get("curve") else float(run["cap_s"])


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task: per side the median time and steps to solve over seeds (a run not
    solved counts as the cap, so a median that includes one is a lower bound), solved runs,
    best fitness; the SB3 / built-in ratio of the medians (a lower bound likewise)."""
    rows = []
    for task in dict.fromkeys(r["task"] for r in runs):
        row: dict[str, Any] = {"task": task}
        for side in ("builtin", "sb3"):
            mine = [r for r in runs if r["task"] == task and r["side"] == side and "error" not in r]
            if not mine:
                continue
            cap = mine[0]["cap_s"]
            solved = [r for r in mine if r["solved"]]
            # the cap is checked at evaluations: a run not solved counts as the time it stopped
            times = [r["time_to_solve"] if r["solved"] else _stopped(r) for r in mine]
            row[side] = {
                "trainer": mine[0]["trainer"],
                "settings": mine[0]["settings"],
                "runs": len(mine),
                "solved": len(solved),
                "median_s": statistics.median(times) if solved else float("inf"),
                "lower_bound": 0 < len(solved) < len(mine),
                "min_s": min(times),
                "max_s": max(r["time_to_solve"] for r in solved) if solved else float("inf"),
                "median_steps": statistics.median(
                    [r["steps_to_solve"] if r["solved"] else float("inf") for r in mine]
                ),
                "best_fitness": [round(r["best_fitness"], 3) for r in mine],
                "steps_per_s": statistics.median(r["steps_per_s"] for r in mine),
                "cap_s": cap,
                "target": mine[0]["target"],
            }
        b, s = row.get("builtin"), row.get("sb3")
        if b and s and b["median_s"] < float("inf"):
            sb3_s = s["median_s"] if s["median_s"] < float("inf") else s["min_s"]
            row["ratio"] = sb3_s / b["median_s"]
            row["ratio_lower_bound"] = s["solved"] < s["runs"]
        rows.append(row)
    return rows


def _time(side: dict[str, Any]) -> str:
    if side["median_s"] == float("inf"):
        return f"not solved by {side['cap_s']:.0f} s (best {max(side['best_fitness']):.2f})"
    if side["runs"] == 1:
        return f"{side['median_s']:.0f} s, 1/1 solved"
    low = ">=" if side["lower_bound"] else ""
    top = f"{side['max_s']:.0f}" if side["solved"] == side["runs"] else "not solved"
    return (
        f"{low}{side['median_s']:.0f} s ({side['min_s']:.0f}-{top}), "
        f"{side['solved']}/{side['runs']} solved"
    )


def _steps(side: dict[str, Any]) -> str:
    return "-" if side["median_steps"] == float("inf") else f"{side['median_steps']:,.0f}"


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Time to solve: built-in trainer vs Stable-Baselines3 (environment's reward)",
        "",
        "Median over seeds of the wall-clock until the deterministic policy's evaluation first "
        "reaches the target (evaluation time included); a run not solved by its cap counts as "
        "the cap, so a median or ratio that includes one is a lower bound (>=). Written by "
        "`benchmarks/time_to_solve.py`.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "| task | target | built-in time to solve | steps | SB3 time to solve | steps | "
        "SB3 / built-in | built-in steps/s | SB3 steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        b, s = row.get("builtin"), row.get("sb3")
        target = (b or s or {}).get("target", "")
        ratio = row.get("ratio")
        ratio_text = "-"
        if ratio is not None:
            ratio_text = (">=" if row["ratio_lower_bound"] else "") + f"{ratio:.1f}x"
        lines.append(
            f"| {row['task']} | {target} | {_time(b) if b else '-'} | {_steps(b) if b else '-'} | "
            f"{_time(s) if s else '-'} | {_steps(s) if s else '-'} | {ratio_text} | "
            f"{b['steps_per_s']:.0f} | {s['steps_per_s']:.0f} |"
            if b and s
            else f"| {row['task']} | {target} | {_time(b) if b else '-'} | "
            f"{_steps(b) if b else '-'} | {_time(s) if s else '-'} | {_steps(s) if s else '-'} "
            f"| - | - | - |"
        )
    lines += ["", "Trainers and settings:", ""]
    for row in rows:
        for side in ("builtin", "sb3"):
            if side in row:
                r = row[side]
                lines.append(f"- {row['task']}, {side}: `{r['trainer']}` ({r['settings']})")
    lines += ["", f"Machine: {meta['machine']}; {meta['date']}; commit {meta['commit']}.", ""]
    return "\n".join(lines)


def html(runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from rewardforge.report.plots import Series, line_chart

    charts = []
    colors = {"builtin": "#0072B2", "sb3": "#E69F00"}
    for row in rows:
        series = []
        for r in runs:
            if r["task"] != row["task"] or "error" in r:
                continue
            curve = r["curve"]
            series.append(
                Series(
                    f"{r['side']} seed {r['seed']}",
                    [0.0] + [p[1] for p in curve],
                    [0.0] + [p[2] for p in curve],
                    color=colors[r["side"]],
                )
            )
        charts.append(
            line_chart(
                f"tts-{row['task']}",
                series,
                title=f"{row['task']}: fitness against wall-clock",
                xlabel="seconds",
                ylabel="fitness",
            )
        )
    body = "\n".join(f"<section>{c}</section>" for c in charts)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Time to solve</title></head>"
        f"<body><h1>Time to solve</h1>{body}</body></html>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(SUITE))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--sides", default="builtin,sb3", help="builtin, sb3 or both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="path without extension")
    parser.add_argument("--resume", action="store_true", help="keep runs already in OUT.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = []
    if args.resume and out.with_suffix(".json").exists():
        done = json.loads(out.with_suffix(".json").read_text())["runs"]
    have = {_key(r) for r in done if "error" not in r}
    specs = plan(args.tasks.split(","), args.seeds, args.sides.split(","), args.device)
    runs = [r for r in done if "error" not in r]
    meta = {
        "command": "python " + " ".join(["benchmarks/time_to_solve.py", *sys.argv[1:]]),
        "machine": f"{platform.platform()}, Python {platform.python_version()}, "
        f"{len(os.sched_getaffinity(0))} usable cores",
        "date": datetime.date.today().isoformat(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }
    for spec in specs:
        if _key(spec) in have:
            continue
        load = os.getloadavg()[0]
        result = run_side(spec)
        result["load_before"] = load
        runs = [r for r in runs if _key(r) != _key(spec)] + [result]
        status = (
            result.get("error")
            or f"{'solved' if result['solved'] else 'NOT solved'} "
            f"t={result['time_to_solve']} steps={result['steps_to_solve']} "
            f"best={result['best_fitness']:.2f} wall={result['wall_s']:.0f}s"
        )
        print(f"{spec['task']:13s} {spec['side']:8s} seed {spec['seed']}: {status}", flush=True)
        rows = summarize(runs)
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
        out.with_suffix(".md").write_text(markdown(rows, meta))
        out.with_suffix(".html").write_text(html(runs, rows))


if __name__ == "__main__":
    main()
