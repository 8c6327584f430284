"""The package's shape: modules import each other in one direction, no module reaches into
another's private names, and no module grows past the size a reader can hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "rewardforge"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """Every rewardforge module ``path`` imports, at any level (functions and TYPE_CHECKING
    blocks included: a cycle held apart by an import inside a function is still a cycle)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("rewardforge")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rewardforge"):
            base = str(node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return {m for m in out if m in MODULES}


def cycles(prefix: str) -> list[list[str]]:
    """Import cycles among the modules whose names start with ``prefix``."""
    graph = {
        m: sorted(d for d in imports(p) if d.startswith(prefix) and d != m)
        for m, p in MODULES.items()
        if m.startswith(prefix)
    }
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in graph.get(node, []):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


@pytest.mark.parametrize("package", ["rewardforge.search", "rewardforge.tasks", "rewardforge"])
def test_no_import_cycles(package: str) -> None:
    assert cycles(package + ".") == []


def test_no_module_imports_another_modules_private_names() -> None:
    pattern = re.compile(r"from rewardforge\S* import .*\b_[A-Za-z]")
    hits = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_modules_stay_small() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n >= MAX_LINES} == {}


def test_the_cycle_finder_finds_cycles(tmp_path, monkeypatch) -> None:
    """A check that cannot fail checks nothing: two modules importing each other are found."""
    fake = {"rewardforge.x.a": tmp_path / "a.py", "rewardforge.x.b": tmp_path / "b.py"}
    fake["rewardforge.x.a"].write_text("def f():\n    from rewardforge.x.b import g\n")
    fake["rewardforge.x.b"].write_text("from rewardforge.x import a\n")
    monkeypatch.setattr(f"{__name__}.MODULES", fake)
    assert cycles("rewardforge.x.")
