"""``rewardforge search TASK`` and ``rewardforge resume RUN``: thin wrappers over ``Search``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pydantic import ValidationError
from rich.live import Live
from rich.table import Table

from rewardforge.cli.output import console, error_console, plain, print_json
from rewardforge.cli.runs_cmd import add_workspace_argument
from rewardforge.errors import ConfigError
from rewardforge.runs import Workspace
from rewardforge.search.config import SearchConfig
from rewardforge.search.designers import default_designer
from rewardforge.search.runner import REPLACE_PREFIX, Search, SearchEvent

#: CLI flag -> SearchConfig field, for the flags that map one to one.
OPTIONS = {
    "strategy": "strategy",
    "designer": "designer",
    "model": "model",
    "replay_from": "replay_from",
    "samples": "samples",
    "iterations": "iterations",
    "steps": "num_steps",
    "trainer": "trainer",
    "num_envs": "num_envs",
    "seeds": "seeds",
    "rungs": "rungs",
    "eta": "eta",
    "max_repairs": "max_repairs",
    "success_target": "success_target",
    "final_seeds": "final_seeds",
    "feedback": "feedback",
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_cost": "max_cost",
    "request_timeout": "request_timeout",
    "cache": "cache",
    "device": "device",
    "seed": "seed",
    "executor": "executor",
    "workers": "workers",
    "ray_address": "ray_address",
    "gpus_per_task": "gpus_per_task",
    "teacher": "teacher",
    "label_budget": "label_budget",
    "pairs_per_update": "pairs_per_update",
    "update_every": "update_every",
    "unsupervised_steps": "unsupervised_steps",
    "teacher_utility": "teacher_utility",
    "teacher_beta": "teacher_beta",
    "teacher_mistake": "teacher_mistake",
    "teacher_skip": "teacher_skip",
    "teacher_equal": "teacher_equal",
    "reward_model": "reward_model",
    "ensemble_size": "ensemble_size",
    "render_size": "render_size",
    "camera": "camera",
    "judge": "judge",
    "population_size": "population_size",
    "elites": "elites",
    "refresh_steps": "refresh_steps",
    "thompson_window": "thompson_window",
    "with_env_member": "with_env_member",
    "l2_weight": "l2_weight",
}


def register(sub: Any) -> None:
    p = sub.add_parser("search", help="search for a reward that makes a policy solve a task")
    p.add_argument("task", help="task id (`rewardforge tasks`) or path to a task file")
    p.add_argument(
        "--strategy",
        choices=["evolve", "refine", "oneshot", "preference", "population"],
        default="evolve",
    )
    p.add_argument(
        "--designer",
        choices=["llm", "offline", "replay"],
        help="who writes rewards (default: llm when a model key is configured, else offline)",
    )
    p.add_argument("--model", metavar="PROVIDER/NAME", help="model for the llm designer")
    p.add_argument("--replay-from", metavar="SOURCE", help="file, folder or run id to replay")
    p.add_argument("--samples", "-k", type=int, help="candidates per iteration (default 8)")
    p.add_argument("--iterations", "-i", type=int, help="iterations (default 3)")
    p.add_argument("--steps", type=int, help="training steps per candidate (task default)")
    p.add_argument("--trainer", help="ppo | sac | sb3:ALGO (task default)")
    p.add_argument("--num-envs", type=int, help="environments per candidate (task default)")
    p.add_argument("--seeds", type=int, help="training seeds per candidate during the search")
    p.add_argument("--rungs", help="successive-halving rungs, e.g. 0.25,0.5,1 or 'off'")
    p.add_argument("--eta", type=float, help="keep the top 1/eta after each rung (default 2)")
    p.add_argument("--no-screening", action="store_true", help="train every checked candidate")
    p.add_argument("--max-repairs", type=int, help="repairs per failed answer (default 2)")
    p.add_argument("--success-target", type=float, help="stop once the best reaches this")
    p.add_argument("--final-seeds", type=int, help="seeds of the final evaluation (0: skip)")
    p.add_argument("--no-baselines", action="store_true", help="skip the env/sparse baselines")
    p.add_argument("--generate-success", action="store_true", help="model writes is_success")
    p.add_argument("--archie", action="store_true", help="oneshot: bonus outweighs shaping")
    p.add_argument(
        "--feedback",
        choices=["auto", "human"],
        help="human: pause after each iteration for your feedback",
    )
    p.add_argument("--temperature", type=float, help="sampling temperature (default 1.0)")
    p.add_argument("--max-tokens", type=int, help="token budget of the run")
    p.add_argument("--max-cost", type=float, help="cost budget of the run in USD")
    p.add_argument(
        "--request-timeout",
        type=float,
        metavar="S",
        help="seconds a model request may take before it is retried (default 180)",
    )
    p.add_argument("--cache", choices=["use", "replay", "off"], help="model answer cache")
    p.add_argument("--device", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=int, help="run seed (a new seed gives fresh model samples)")
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where trainings run: local processes (default) or a Ray cluster",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="trainings at once, each a group of the candidates (local default 1: in this "
        "process; ray default: the cluster's CPUs)",
    )
    p.add_argument(
        "--ray-address",
        metavar="auto|HOST:PORT",
        help="Ray cluster to join (default: start one on this machine)",
    )
    p.add_argument(
        "--gpus-per-task", type=float, help="GPU share of one Ray training (default 0.25 on cuda)"
    )
    _add_preference_arguments(p)
    _add_population_arguments(p)
    add_workspace_argument(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_search)

    r = sub.add_parser("resume", help="continue a run that was stopped or killed")
    r.add_argument("run", help="run id (or a unique prefix of one)")
    add_workspace_argument(r)
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=run_resume)


def _add_preference_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("preference (--strategy preference) and judging (--judge)")
    g.add_argument("--teacher", choices=["scripted", "vlm"], help="who labels pairs of states")
    g.add_argument("--label-budget", type=int, help="pairs asked in all (default 1000)")
    g.add_argument("--pairs-per-update", type=int, help="pairs asked per update (default 100)")
    g.add_argument("--update-every", type=int, help="steps between updates (default 2000)")
    g.add_argument("--unsupervised-steps", type=int, help="exploration steps (default 2000)")
    g.add_argument("--teacher-utility", choices=["auto", "env", "success", "score"])
    g.add_argument("--teacher-beta", type=float, help="B-Pref: stochastic teacher's beta")
    g.add_argument("--teacher-mistake", type=float, help="B-Pref: probability of a wrong label")
    g.add_argument("--teacher-skip", type=float, help="B-Pref: skip threshold (fraction)")
    g.add_argument("--teacher-equal", type=float, help="B-Pref: equal threshold (fraction)")
    g.add_argument("--reward-model", choices=["mlp", "cnn"], help="over variables or frames")
    g.add_argument("--ensemble-size", type=int, help="reward-model ensemble members (3)")
    g.add_argument("--render-size", type=int, help="pixels of frames shown to a VLM (224)")
    g.add_argument("--camera", help="MuJoCo camera name for rendering")
    g.add_argument("--judge", choices=["scripted", "vlm"], help="evolve: tournament fitness")


def _add_population_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("population (LaRes): rewards x SAC policies sharing one buffer")
    g.add_argument("--population-size", type=int, help="reward programs trained together (5)")
    g.add_argument("--elites", type=int, help="members kept at each refresh (2)")
    g.add_argument("--refresh-steps", type=int, help="env steps between refreshes (--steps)")
    g.add_argument("--thompson-window", type=int, help="episodes per member's window (20)")
    g.add_argument(
        "--with-env-member",
        action="store_true",
        default=None,
        help="one more member learns from the environment's own reward",
    )
    g.add_argument("--l2-weight", type=float, help="pull of a new member toward the best (0.01)")


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    values: dict[str, Any] = {"task": args.task}
    for flag, field in OPTIONS.items():
        value = getattr(args, flag)
        if value is not None:
            values[field] = value
    values.setdefault("designer", default_designer())
    if args.strategy == "oneshot" and args.samples is None:
        values["samples"] = 1
    if args.no_screening:
        values["screening"] = False
    if args.no_baselines:
        values["baselines"] = False
    values["generate_success"] = args.generate_success
    values["archie"] = args.archie
    try:
        return SearchConfig(**values)
    except ValidationError as exc:
        raise ConfigError(_flag_errors(exc)) from None


def _flag_errors(exc: ValidationError) -> str:
    """Pydantic's complaints about the settings, told in terms of the CLI flags."""
    flags = {field: flag for flag, field in OPTIONS.items()}
    lines = []
    for err in exc.errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:  # a check across several settings
            lines.append(f"bad settings: {message}")
            continue
        name = str(err["loc"][0])
        flag = "--" + flags.get(name, name).replace("_", "-")
        lines.append(f"bad value for {flag} ({err.get('input')!r}): {message}")
    return "\n".join(lines)


def run_search(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    search = Search(config, Workspace(args.workspace))
    return _run(search, args.json)


def run_resume(args: argparse.Namespace) -> int:
    search = Search.resume(Workspace(args.workspace), args.run)
    return _run(search, args.json)


def _run(search: Search, as_json: bool) -> int:
    view = LiveView(search)
    search.on_event = view
    search.ask_feedback = view.ask_feedback
    with view:
        summary = search.run_search()
    if as_json:
        print_json(summary)
    else:
        print_summary(summary)
    return 0


def print_summary(summary: dict[str, Any]) -> None:
    console.print(f"[bold]run {plain(summary['run_id'])}[/bold] finished")
    if summary.get("best_candidate") is None:
        console.print("no candidate trained successfully; see `rewardforge show RUN`")
        return
    console.print(
        f"best candidate #{summary['best_candidate']}: fitness {summary['best_fitness']:.3f} "
        f"(reward: {summary['reward_path']})",
        markup=False,
    )
    if "final" in summary:
        line = f"final evaluation: {summary['final']['mean']:.3f} ± {summary['final']['std']:.3f}"
        for name in ("env", "sparse"):
            if name in summary:
                line += f"; {name} baseline {summary[name]['mean']:.3f}"
        if summary.get("human_normalized") is not None:
            line += f"; human-normalized {summary['human_normalized']:.2f}"
        console.print(line)
    console.print(
        f"environment steps {summary['env_steps']:,} (training every candidate fully: "
        f"{summary['full_budget_env_steps']:,}); {summary['wall_time_s']:.0f} s"
    )
    run = summary["run_id"]
    console.print(f"next: rewardforge report {run}  |  rewardforge export {run}", markup=False)


class LiveView:
    """Iteration, candidates training / done / failed / screened, best fitness, tokens, cost."""

    def __init__(self, search: Search) -> None:
        self.search = search
        self.state: dict[str, Any] = {
            "iteration": "-",
            "proposed": 0,
            "failed": 0,
            "repairs": 0,
            "screened": 0,
            "training": 0,
            "done": 0,
            "rung": "-",
            "best": None,
            "tokens": 0,
            "cost": 0.0,
            "phase": "starting",
        }
        self.live: Live | None = None
        self.interactive = console.is_terminal

    def __enter__(self) -> LiveView:
        if self.interactive:
            self.live = Live(self.render(), console=console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def render(self) -> Table:
        s = self.state
        table = Table(title=f"search {plain(self.search.run_id)}", show_header=False)
        best = "-" if s["best"] is None else f"{s['best']:.3f}"
        rows = [
            ("phase", s["phase"]),
            ("iteration", f"{s['iteration']} of {self.search.num_iterations}"),
            (
                "candidates",
                f"{s['training']} training, {s['done']} done, {s['failed']} failed "
                f"({s['repairs']} repairs), {s['screened']} screened out",
            ),
            ("halving", s["rung"]),
            ("best fitness", best),
            ("model", f"{s['tokens']:,} tokens, ${s['cost']:.4f}"),
        ]
        for name, value in rows:
            table.add_row(name, plain(value))
        return table

    def __call__(self, event: SearchEvent) -> None:
        s, d = self.state, event.data
        if event.kind == "iteration":
            s.update(iteration=event.iteration, phase="proposing", training=0, done=0, rung="-")
        elif event.kind == "proposed":
            s["proposed"] += d["count"]
            s["phase"] = "checking"
        elif event.kind == "repair":
            s["repairs"] += 1
        elif event.kind == "checked":
            if not d["ok"]:
                s["failed"] += 1
            else:
                s["training"] += 1
        elif event.kind == "screened":
            s["screened"] += d["out"]
            s["training"] -= d["out"]
        elif event.kind == "rung":
            s["phase"] = "training"
            scores = d["scores"]
            top = max(scores.values()) if scores else None
            s["rung"] = f"rung {d['rung'] + 1} at {d['steps']:,} steps: {len(scores)} candidates"
            if top is not None:
                s["rung"] += f", top {top:.3f}"
        elif event.kind == "trained":
            s["training"] -= 1
            s["done"] += 1
            if d["status"] == "failed":
                s["failed"] += 1
        elif event.kind == "iteration_done":
            s["best"] = d["best_fitness"]
            self._line(f"iteration {event.iteration}: best fitness so far {s['best']}")
        elif event.kind == "model":
            usage = d["usage"]
            s["tokens"], s["cost"] = usage.total_tokens, usage.cost_usd
        elif event.kind == "final":
            s["phase"] = "final evaluation (best reward and baselines, fresh seeds)"
            self._line(s["phase"])
        if self.live is not None:
            self.live.update(self.render())

    def _line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False)
        else:
            error_console.print(text, markup=False)

    def ask_feedback(self, digest: str) -> str | None:
        """Show the iteration's best candidates and read a person's feedback from stdin."""
        if self.live is not None:
            self.live.stop()
        try:
            error_console.print(digest, markup=False)
            error_console.print(
                "Your feedback for the next iteration (one line; empty: keep the automatic "
                f"reflection; start with '{REPLACE_PREFIX}' to replace it):"
            )
            line = sys.stdin.readline()
            return line.strip() or None
        finally:
            if self.live is not None:
                self.live.start()
