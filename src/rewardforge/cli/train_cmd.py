"""``rewardforge train TASK --reward FILE|env|sparse``: train, evaluate, print the fitness table."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from rewardforge.cli import checks
from rewardforge.cli.output import console, error_console, plain, print_json
from rewardforge.errors import ConfigError
from rewardforge.runs.workspace import writable_dir
from rewardforge.tasks import Task, get_task
from rewardforge.tasks.spec import MAX_EVAL_EPISODES, MAX_NUM_STEPS


def register(sub: Any) -> None:
    p = sub.add_parser("train", help="train policies on a reward and print their fitness")
    p.add_argument("task", help="task id or path to a task file")
    p.add_argument(
        "--reward", default="env", help="env, sparse, or a reward .py file (default env)"
    )
    p.add_argument("--trainer", help="ppo, sac, sb3:ALGO or sb3-contrib:ALGO (default: the task's)")
    p.add_argument(
        "--steps", type=int, help="environment steps per seed (default: the task's budget)"
    )
    p.add_argument(
        "--seeds", default="1", help="number of seeds, or a comma list like 0,1,2 (default 1)"
    )
    p.add_argument(
        "--eval-episodes", type=int, help="evaluation episodes per seed (default: the task's)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument(
        "--until-solved",
        action="store_true",
        help="evaluate every --eval-every steps and stop once every seed reached the task's "
        "target; prints the time and steps to solve",
    )
    p.add_argument(
        "--eval-every", type=int, help="steps between evaluations (default: a tenth of --steps)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter, e.g. --set learning_rate=0.001 (repeatable)",
    )
    p.add_argument(
        "--out", help="folder for metrics.jsonl, TensorBoard logs, checkpoints, results.json"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_train)


#: Most seeds one ``train`` trains (each is a member of the population).
MAX_SEEDS = 1024


def parse_seeds(text: str) -> list[int]:
    try:
        numbers = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--seeds takes a count (3) or a comma list (0,1,2), got {text!r}"
        ) from None
    if "," in text:
        seeds = numbers
    else:
        seeds = list(range(checks.count(numbers[0] if numbers else 0, "--seeds", MAX_SEEDS) or 0))
    if not 1 <= len(seeds) <= MAX_SEEDS or not all(0 <= s < 2**32 for s in seeds):
        raise ConfigError(
            f"--seeds takes 1 to {MAX_SEEDS} seeds, each from 0 to 2**32 - 1, got {text!r}"
        )
    return seeds


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def load_reward_spec(spec: str, task: Task) -> Any:
    try:
        from rewardforge.rewards.loader import load_reward
    except ImportError:  # the reward sandbox is not installed: baselines only
        pass
    else:
        return load_reward(spec, task)
    from rewardforge.rewards.base import get_baseline

    if Path(spec).suffix == ".py":
        raise ConfigError(
            f"reward file {spec} needs the reward sandbox, which is not installed yet; "
            "use --reward env or --reward sparse"
        )
    return get_baseline(spec)


def summarize(results: list[Any]) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float]:
        return {
            "mean": statistics.fmean(values),
            "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
        }

    fits = [r.fitness for r in results]
    return {
        "fitness": stats([f.fitness for f in fits]),
        "success_rate": stats([f.success_rate for f in fits]),
        "return": stats([f.mean_return for f in fits]),
        "length": stats([f.mean_length for f in fits]),
        "wall_time": max(r.wall_time for r in results),
        "errors": [r.error for r in results if r.error],
    }


def run_train(args: argparse.Namespace) -> int:
    from rewardforge.rl import make_trainer
    from rewardforge.rl.solve import train_to_target

    checks.count(args.steps, "--steps", MAX_NUM_STEPS)
    checks.count(args.eval_episodes, "--eval-episodes", MAX_EVAL_EPISODES)
    seeds = parse_seeds(args.seeds)
    out = writable_dir(args.out, "--out") if args.out else None
    task = get_task(args.task)
    name = args.trainer or task.budget.trainer
    trainer = make_trainer(name, task, device=args.device, **parse_overrides(args.set))
    steps = task.budget.num_steps if args.steps is None else args.steps
    every = checks.count(args.eval_every, "--eval-every", MAX_NUM_STEPS)
    if args.until_solved and task.target is None:
        raise ConfigError(
            f"task {task.id} sets no fitness target (fitness.target in its task file); "
            "--until-solved needs one"
        )
    reward = load_reward_spec(args.reward, task)
    solve = None
    try:
        if args.until_solved:
            results, solve = train_to_target(
                trainer, [reward], seeds, steps, eval_every=every or max(1, steps // 10),
                log_dir=out, num_eval_episodes=args.eval_episodes,
                checkpoint_dir=out / "checkpoints" if out else None,
            )  # fmt: skip
        else:
            results = trainer.train(
                [reward],
                seeds,
                steps,
                log_dir=out,
                progress=not args.json and sys.stderr.isatty(),
                num_eval_episodes=args.eval_episodes,
                checkpoint_dir=out / "checkpoints" if out else None,
            )
    finally:
        close = getattr(reward, "close", None)
        if callable(close):
            close()  # a sandboxed reward owns its worker process
    summary = {
        "task": task.id,
        "reward": reward.name,
        "trainer": name,
        "steps": steps,
        **summarize(results),
    }
    if solve is not None:
        summary["target"] = task.target
        summary["time_to_solve"] = [r.time_to_solve for r in solve]
        summary["steps_to_solve"] = [r.steps_to_solve for r in solve]
    payload = {"summary": summary, "members": [r.to_dict() for r in results]}
    if out:
        (out / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    if args.json:
        print_json(payload)
    else:
        _print_table(task, summary, results)
    if summary["errors"]:  # a reward that failed is a failed training, whatever the table says
        error_console.print(
            f"error: the reward failed in {len(summary['errors'])} of {len(results)} trainings "
            "(see above); its fitness is not the reward's",
            markup=False,
        )
        return 1
    return 0


def _print_table(task: Task, summary: dict[str, Any], results: list[Any]) -> None:
    table = Table(
        title=plain(
            f"{task.id}: {summary['reward']} reward, {summary['trainer']}, "
            f"{summary['steps']} steps per seed"
        )
    )
    for col in ("seed", task.fitness.kind, "return", "length", "wall s"):
        table.add_column(col, justify="right")
    for r in results:
        f = r.fitness
        table.add_row(
            str(r.seed),
            f"{f.fitness:.3f}",
            f"{f.mean_return:.1f}",
            f"{f.mean_length:.0f}",
            f"{r.wall_time:.1f}",
        )
    s = summary
    table.add_row(
        "mean ± std",
        f"{s['fitness']['mean']:.3f} ± {s['fitness']['std']:.3f}",
        f"{s['return']['mean']:.1f} ± {s['return']['std']:.1f}",
        f"{s['length']['mean']:.0f}",
        f"{s['wall_time']:.1f}",
        style="bold",
    )
    console.print(table)
    if "time_to_solve" in s:
        seeds = [r.seed for r in results]
        for seed, t, n in zip(seeds, s["time_to_solve"], s["steps_to_solve"], strict=True):
            console.print(
                f"seed {seed}: "
                + (f"reached {s['target']} in {t:.1f} s, {n:,} steps" if t is not None
                   else f"did not reach {s['target']} in {s['steps']:,} steps")
            )  # fmt: skip
    for err in s["errors"]:
        console.print(f"[red]reward failed[/red]: {plain(err)}")
