"""Training metrics: JSONL lines and TensorBoard scalars (tag ``member{k}/name``).

Logged at each reflection point, per member: ``success_rate``, ``episode_length``,
``env_return`` (the environment's own return) and ``reward/<component>`` (mean per-episode sum
of each reward component, ``reward/reward`` for the total); after each evaluation:
``eval/fitness`` and ``eval/mean_return``. ``config.json`` holds the hyperparameters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Writes ``metrics.jsonl`` and TensorBoard event files under ``log_dir`` (None: off)."""

    def __init__(self, log_dir: str | Path | None, hparams: dict[str, Any] | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self._file = None
        self._writer: Any = None
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._file = (self.log_dir / "metrics.jsonl").open("a", encoding="utf-8")
        if hparams is not None:
            (self.log_dir / "config.json").write_text(json.dumps(hparams, indent=2, default=str))
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.log_dir / "tensorboard"))

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def log(self, step: int, member: int, label: str, values: dict[str, float]) -> None:
        if self._file is None:
            return
        clean = {k: float(v) for k, v in values.items() if v is not None}
        line = {"step": step, "member": member, "label": label, **clean}
        self._file.write(json.dumps(line) + "\n")
        for key, value in clean.items():
            if math.isfinite(value):
                self._writer.add_scalar(f"member{member}/{key}", value, step)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._writer.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._writer.close()
            self._file = None
