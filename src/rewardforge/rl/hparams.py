"""Checks on hyperparameter values (from ``--set`` or a task's ``trainers:`` section) and on the
device, before a trainer is built: a wrong value is one clear error naming it, not a traceback
from deep inside training (or a run that silently does something else)."""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from rewardforge.errors import ConfigError
from rewardforge.tasks.spec import MAX_NUM_ENVS

#: Whole numbers that must be at least 1 (built-in and SB3 names alike).
COUNTS = frozenset(
    {
        "num_envs",
        "buffer_size",
        "batch_size",
        "train_freq",
        "gradient_steps",
        "rollout_steps",
        "num_minibatches",
        "update_epochs",
        "anneal_steps",
        "n_steps",
        "n_epochs",
    }
)
#: Whole numbers that may be 0.
NON_NEGATIVE_COUNTS = frozenset({"learning_starts"})
POSITIVE = frozenset({"learning_rate"})
UNIT_INTERVAL = frozenset({"gamma", "gae_lambda", "tau"})
#: Checked for the built-in trainers only (SB3 gives some of them other meanings, "auto").
NON_NEGATIVE = frozenset(
    {"clip_coef", "ent_coef", "vf_coef", "max_grad_norm", "ent_coef_init", "target_kl"}
)
MAX_WIDTH = 65_536
MAX_COUNT = 10_000_000_000
DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")


def check_device(device: str) -> None:
    if not isinstance(device, str) or not DEVICE.match(device):
        raise ConfigError(f"device must be cpu, cuda, cuda:N or mps, got {device!r}")


def _wrong(trainer: str, name: str, need: str, value: Any) -> ConfigError:
    return ConfigError(
        f"{trainer} hyperparameter {name} must be {need}, got {value!r} (set with --set "
        f"{name}=... or in the task's 'trainers: {trainer}:' section)"
    )


def _number(value: Any, *, whole: bool) -> float | None:
    """``value`` as a float when it is a finite (whole) number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if whole and not float(value).is_integer():
        return None
    return float(value)


def check_value(trainer: str, name: str, value: Any, expected: Any = None) -> None:
    """Raise ``ConfigError`` when ``value`` cannot be hyperparameter ``name``; ``expected`` is
    the type of the built-in config's field (None for SB3, whose values are checked only
    under names rewardforge knows)."""
    if value is None:
        return
    if name in COUNTS or name in NON_NEGATIVE_COUNTS:
        low = 1 if name in COUNTS else 0
        high = MAX_NUM_ENVS if name == "num_envs" else MAX_COUNT
        number = _number(value, whole=True)
        if number is None or not low <= number <= high:
            raise _wrong(trainer, name, f"a whole number from {low} to {high:,}", value)
    elif name in POSITIVE:
        number = _number(value, whole=False)
        if number is None or number <= 0:
            raise _wrong(trainer, name, "a positive number", value)
    elif name in UNIT_INTERVAL:
        number = _number(value, whole=False)
        if number is None or not 0 <= number <= 1:
            raise _wrong(trainer, name, "a number from 0 to 1", value)
    elif expected is None:
        return
    elif name in NON_NEGATIVE:
        number = _number(value, whole=False)
        if number is None or number < 0:
            raise _wrong(trainer, name, "a number, 0 or more", value)
    elif name == "net_arch":
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH for w in value
        ):
            raise _wrong(trainer, name, f"a list of layer widths from 1 to {MAX_WIDTH:,}", value)
    else:
        _check_type(trainer, name, value, expected)


def _check_type(trainer: str, name: str, value: Any, expected: Any) -> None:
    """The value has the config field's type (bool, int, float or str; None where optional)."""
    union = typing.get_origin(expected) in (typing.Union, types.UnionType)
    options = typing.get_args(expected) if union else ()
    kinds = [t for t in (options or (expected,)) if t is not type(None)]
    if len(kinds) != 1 or kinds[0] not in (bool, int, float, str):
        return
    kind = kinds[0]
    ok = (
        isinstance(value, bool)
        if kind is bool
        else isinstance(value, str)
        if kind is str
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if kind is int and ok:
        ok = float(value).is_integer()
    if kind is float and ok:
        ok = math.isfinite(value)
    if not ok:
        need = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
        raise _wrong(trainer, name, need[kind], value)


def check_hparams(trainer: str, values: Mapping[str, Any], config_cls: type | None = None) -> None:
    """Every value of ``values`` is a sensible value for its name (see ``check_value``)."""
    hints: dict[str, Any] = {}
    if config_cls is not None and is_dataclass(config_cls):
        resolved = typing.get_type_hints(config_cls)
        hints = {f.name: resolved.get(f.name) for f in fields(config_cls)}
    for name, value in values.items():
        check_value(trainer, name, value, hints.get(name))
    activation = values.get("activation")
    if config_cls is not None and activation is not None:
        from rewardforge.rl.nets import ACTIVATIONS

        if activation not in ACTIVATIONS:
            raise _wrong(trainer, "activation", f"one of {', '.join(ACTIVATIONS)}", activation)
