"""Configs stored before the config had sections: one flat mapping of 54 keys.

``sectioned`` turns such a mapping into today's layout (``SearchConfig.from_stored`` uses it),
so a run written by an earlier rewardforge can still be shown, reported and resumed. A mapping
that already has sections is returned as it is."""

from __future__ import annotations

from typing import Any

#: Flat key -> (section, key in that section). Strategy keys are kept only when the stored
#: strategy has them; the rest (e.g. ``samples`` of a refine run, which it never used) are
#: dropped.
SECTIONS: dict[str, tuple[str, str]] = {
    "designer": ("designer", "name"),
    "replay_from": ("designer", "replay_from"),
    "max_repairs": ("designer", "max_repairs"),
    "model": ("model", "name"),
    "temperature": ("model", "temperature"),
    "cache": ("model", "cache"),
    "max_tokens": ("model", "max_tokens"),
    "max_cost": ("model", "max_cost"),
    "request_timeout": ("model", "request_timeout"),
    "trainer": ("training", "trainer"),
    "num_steps": ("training", "steps"),
    "num_envs": ("training", "num_envs"),
    "seeds": ("training", "seeds"),
    "device": ("training", "device"),
    "final_seeds": ("evaluation", "final_seeds"),
    "baselines": ("evaluation", "baselines"),
    "executor": ("executor", "name"),
    "workers": ("executor", "workers"),
    "ray_address": ("executor", "ray_address"),
    "gpus_per_task": ("executor", "gpus_per_task"),
    "teacher_utility": ("teacher", "utility"),
    "teacher_beta": ("teacher", "beta"),
    "teacher_mistake": ("teacher", "mistake"),
    "teacher_skip": ("teacher", "skip"),
    "teacher_equal": ("teacher", "equal"),
    "render_size": ("teacher", "render_size"),
    "camera": ("teacher", "camera"),
}
STRATEGY_KEYS = (
    "samples", "iterations", "rungs", "eta", "screening", "screen_min_auc", "screen_fraction",
    "success_target", "generate_success", "archie", "population_size", "elites",
    "refresh_steps", "thompson_window", "with_env_member", "l2_weight", "feedback", "teacher",
    "label_budget", "pairs_per_update", "update_every", "unsupervised_steps", "reward_model",
    "ensemble_size", "judge",
)  # fmt: skip


def is_flat(data: dict[str, Any]) -> bool:
    return isinstance(data.get("strategy", "evolve"), str) and (
        isinstance(data.get("designer"), str) or "num_steps" in data or "samples" in data
    )


def sectioned(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` in today's layout (see the module docstring)."""
    if not is_flat(data):
        return data
    from rewardforge.search.registry import get_strategy

    name = str(data.get("strategy", "evolve"))
    fields = get_strategy(name).config.model_fields
    out: dict[str, Any] = {"task": data["task"], "seed": data.get("seed", 0)}
    strategy: dict[str, Any] = {"name": name}
    for key in STRATEGY_KEYS:
        if key in data and key in fields:
            strategy[key] = data[key]
    out["strategy"] = strategy
    uses_teacher = name == "preference" or data.get("judge") is not None
    for key, (section, inner) in SECTIONS.items():
        if key not in data or (section == "teacher" and not uses_teacher):
            continue
        out.setdefault(section, {})[inner] = data[key]
    if out.get("designer", {}).get("name") != "replay":
        out.get("designer", {}).pop("replay_from", None)
    executor = out.setdefault("executor", {})
    if executor.get("name", "local") == "local":
        executor["workers"] = data.get("workers") or 1  # then None meant one, in-process
    return out
