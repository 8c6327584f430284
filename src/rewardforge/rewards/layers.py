"""What the sandbox reports about its layers: the parent's own and the worker's confinement."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import NamedTuple

from rewardforge.rewards.channel import WORKER_ENV

#: Layers ``mode='strict'`` refuses to run without.
REQUIRED_LAYERS = (
    "resource limits",
    "network namespace",
    "unprivileged user",
    "no_new_privs",
    "landlock",
    "seccomp",
    "program isolation",
)


class LayerStatus(NamedTuple):
    name: str
    active: bool
    detail: str
    required: bool


def describe_layers(report: Mapping[str, list]) -> list[LayerStatus]:
    """The parent's layers plus what the worker reported about its own confinement."""
    layers = [
        LayerStatus("empty environment", True, "only " + ", ".join(sorted(WORKER_ENV)), True),
        LayerStatus("process group", True, "own session; killed as a group", True),
    ]
    for name in REQUIRED_LAYERS:
        active, detail = report.get(name, [False, "not reported by the worker"])
        layers.append(LayerStatus(name, bool(active), str(detail)[:300], True))
    bwrap = shutil.which("bwrap")
    layers.append(
        LayerStatus(
            "bubblewrap",
            False,
            f"installed at {bwrap}, not needed: the namespaces above are applied directly"
            if bwrap
            else "not installed (optional: the network namespace above already applies)",
            False,
        )
    )
    layers.append(
        LayerStatus(
            "result checks", True, "shape, dtype, finite, bounds, names, deadline (parent)", True
        )
    )
    return layers
