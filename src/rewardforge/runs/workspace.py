"""A workspace: the run store plus one artifact folder per run (see ``runs/store.py``)."""

from __future__ import annotations

import os
from pathlib import Path

from rewardforge.errors import ConfigError, RunError
from rewardforge.runs.opening import writable
from rewardforge.runs.store import RunStore

#: Environment variable naming the default workspace; without it, ``./runs``.
HOME_ENV = "REWARDFORGE_HOME"
DEFAULT_ROOT = "runs"
STORE_FILE = "runs.sqlite"
MODEL_CACHE_FILE = "model_cache.sqlite"
ARTIFACT_DIRS = ("rewards", "checkpoints", "tb")


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The workspace root: the argument, else ``$REWARDFORGE_HOME``, else ``./runs``."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(HOME_ENV, "")
    return Path(env).expanduser() if env else Path(DEFAULT_ROOT)


class Workspace:
    """Where runs live: ``<root>/runs.sqlite``, the model cache, and ``<root>/<run_id>/``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = resolve_root(root).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"the workspace {self.root} is a file, not a folder; pass --workspace DIR (or "
                f"set {HOME_ENV}) to a folder, which is created if missing"
            )
        self._store: RunStore | None = None

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def store_path(self) -> Path:
        return self.root / STORE_FILE

    @property
    def exists(self) -> bool:
        """Whether a store has been created here (reading commands should not create one)."""
        return self.store_path.exists()

    @property
    def readonly(self) -> bool:
        """True when this process cannot write here: reading commands still work."""
        return self.exists and not writable(self.root)

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = RunStore(self.store_path, readonly=self.readonly)
        return self._store

    @property
    def model_cache_path(self) -> Path:
        """The model layer's SQLite answer cache, shared by the runs of this workspace."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the workspace {self.root}: {exc.strerror}") from None
        return self.root / MODEL_CACHE_FILE

    def run_dir(self, run_id: str) -> Path:
        """The run's artifact folder, created with rewards/, checkpoints/ and tb/ (only looked
        up in a read-only workspace)."""
        path = self.root / run_id
        if self.readonly:
            return path
        try:
            for sub in ARTIFACT_DIRS:
                (path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the run folder {path}: {exc.strerror}") from None
        return path

    def reward_path(self, run_id: str, candidate_id: int) -> Path:
        return self.run_dir(run_id) / "rewards" / f"candidate_{candidate_id}.py"

    def checkpoint_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoints"

    def tb_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "tb"

    def gif_path(self, run_id: str) -> Path:
        """Where the animation of the best policy goes; the report embeds it when present."""
        return self.run_dir(run_id) / "best.gif"

    def report_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "report.html"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def writable_dir(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` as a folder this process can write, created if missing; ``ConfigError`` naming
    ``option`` when it is a file or cannot be written."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder} is a file; give a folder (created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {folder} cannot be created: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {folder} is not writable; give a folder you can write")
    return folder
