"""Paths of a run's artifacts, stored relative to the run's folder.

A workspace gets copied and shared, so the store keeps a checkpoint's path relative to its run
folder (``<root>/<run_id>/``), and reading turns it back into a path under wherever that folder
is now. Rows written before (absolute paths) still resolve: as they are when the file is there,
else the same path under this workspace's copy of the run folder.
"""

from __future__ import annotations

from pathlib import Path, PurePath


def relative_to_run(root: Path, run_id: str, path: str | Path) -> str:
    """``path`` relative to ``root/run_id`` when it lies there, else as given."""
    given = Path(path)
    if not given.is_absolute():
        return str(given)
    run_dir = (root / run_id).resolve()
    try:
        return str(given.resolve().relative_to(run_dir))
    except ValueError:
        return str(given)


def resolve_in_run(root: Path, run_id: str, stored: str | None) -> Path | None:
    """The file a stored artifact path names, or None when it is not on disk. A relative path
    may not climb out of the run folder."""
    if not stored:
        return None
    path = PurePath(stored)
    run_dir = root / run_id
    if not path.is_absolute():
        if ".." in path.parts:
            return None
        found = run_dir / path
        return found if found.exists() else None
    if Path(path).exists():
        return Path(path)
    parts = path.parts
    if run_id in parts:  # a copied workspace: the same place under this run folder
        index = len(parts) - 1 - parts[::-1].index(run_id)
        moved = run_dir.joinpath(*parts[index + 1 :])
        if moved.exists():
            return moved
    return None
