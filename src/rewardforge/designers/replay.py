"""The replay designer: candidates from files, a directory, or a recorded run.

``source`` is a ``.py`` file (one candidate), a text file holding a model answer, a directory
(every ``*.py``/``*.txt``/``*.md`` file in name order), or ``run:RUN_ID`` together with a store
(the candidates that run recorded, iteration by iteration). Proposals are served in order; when
they run out, the designer proposes nothing more and the search ends its iterations early."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rewardforge.designers.base import DesignContext, Proposal
from rewardforge.errors import ConfigError
from rewardforge.rewards.program import read_program_file

SUFFIXES = (".py", ".txt", ".md")


def _files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise ConfigError(f"replay directory {source} holds no {', '.join(SUFFIXES)} files")
        return files
    if source.is_file():
        return [source]
    raise ConfigError(
        f"replay source {source} does not exist; give a file, a directory or run:RUN_ID"
    )


class ReplayDesigner:
    name = "replay"

    def __init__(self, items: list[tuple[str, str]]) -> None:
        """``items`` are (label, code or answer text) in the order they are served."""
        if not items:
            raise ConfigError("the replay designer needs at least one candidate")
        self._items = items

    @classmethod
    def from_path(cls, source: str | Path) -> ReplayDesigner:
        files = _files(Path(source))
        return cls([(str(p), read_program_file(p, "replay file")) for p in files])

    @classmethod
    def from_codes(
        cls, codes: list[str], label: Callable[[int], str] = lambda i: f"recorded #{i}"
    ) -> ReplayDesigner:
        return cls([(label(i), c) for i, c in enumerate(codes)])

    def remaining(self, iteration: int, k: int) -> int:
        """Candidates left for iterations after ``iteration`` at ``k`` per iteration."""
        return max(0, len(self._items) - (iteration + 1) * k)

    def propose(self, k: int, context: DesignContext) -> list[Proposal]:
        """Items ``iteration*k .. iteration*k + k - 1``: stateless, so a resumed run gets the same."""
        start = context.iteration * k
        return [
            Proposal(code=text, designer=self.name, notes=label)
            for label, text in self._items[start : start + k]
        ]

    def repair(self, proposal: Proposal, error: str, context: DesignContext) -> Proposal | None:
        return None  # recorded candidates are replayed as they were
