"""Lint reward code: feedback for whoever wrote it (a model, usually), not a security layer.

The rules: the code parses; it defines exactly one ``compute_reward``; helper functions and
constants are fine; imports are numpy and math only; every parameter of ``compute_reward`` is a
variable the task declares. Every problem is reported at once, each with its line number, in
words a model can act on. Containment is the sandbox's job (see ``sandbox.py``).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from rewardforge.errors import RewardRejectedError, did_you_mean

ENTRY = "compute_reward"
ALLOWED_MODULES = ("numpy", "math")
#: Builtins that reward code has no use for; a call to one is reported.
FORBIDDEN_CALLS = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "__import__",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "setattr",
        "delattr",
        "exit",
        "quit",
        "help",
    }
)


@dataclass(frozen=True)
class LintedProgram:
    """Reward code that passed the lint."""

    source: str
    params: tuple[str, ...]
    helpers: tuple[str, ...]
    imports: tuple[str, ...]
    docstring: str | None
    num_lines: int


def _allowed_module(name: str) -> bool:
    return name.split(".")[0] in ALLOWED_MODULES


def _syntax_error(exc: SyntaxError, source: str) -> RewardRejectedError:
    line = exc.lineno or 0
    lines = source.splitlines()
    shown = ""
    if 1 <= line <= len(lines):
        text = lines[line - 1]
        caret = " " * max((exc.offset or 1) - 1, 0) + "^"
        shown = f"\n    {text}\n    {caret}"
    return RewardRejectedError(
        f"reward code rejected: syntax error on line {line}: {exc.msg}{shown}\n"
        f"Fix the syntax and return the complete code."
    )


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []
        self.imports: list[str] = []

    def problem(self, node: ast.AST, text: str) -> None:
        self.problems.append((getattr(node, "lineno", 0), text))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._module(node, "." * node.level + (node.module or ""))

    def _module(self, node: ast.AST, name: str) -> None:
        if _allowed_module(name):
            self.imports.append(name)
        else:
            self.problem(node, f"imports {name!r}; reward code may import only numpy and math")

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self.problem(node, f"calls {node.func.id}(), which reward code may not use")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("__") and node.attr.endswith("__"):
            self.problem(
                node, f"uses the attribute {node.attr!r}; dunder attributes are not allowed"
            )
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__") and node.id.endswith("__") and node.id != "__name__":
            self.problem(node, f"uses the name {node.id!r}; dunder names are not allowed")


def _top_level(tree: ast.Module, checker: _Checker) -> tuple[list[ast.FunctionDef], list[str]]:
    entries: list[ast.FunctionDef] = []
    helpers: list[str] = []
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.FunctionDef) and node.name == ENTRY:
            entries.append(node)
        elif isinstance(node, ast.FunctionDef):
            helpers.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)):
            continue
        elif index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # module docstring
        elif isinstance(node, ast.AsyncFunctionDef):
            checker.problem(node, f"'async def {node.name}' is not allowed; use a plain def")
        else:
            checker.problem(
                node,
                f"top-level {type(node).__name__.lower()} statement; only imports, constants and "
                f"function definitions may appear outside functions",
            )
    return entries, helpers


def _check_params(
    entry: ast.FunctionDef, variables: Sequence[str], checker: _Checker
) -> tuple[str, ...]:
    args = entry.args
    if args.vararg or args.kwarg:
        checker.problem(
            entry, f"{ENTRY} takes *args or **kwargs; name each variable it reads instead"
        )
    params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    valid = ", ".join(variables)
    for name in params:
        if name not in variables:
            checker.problem(
                entry,
                f"parameter {name!r} of {ENTRY} is not a variable of this task."
                f"{did_you_mean(name, variables)} Valid names: {valid}",
            )
    if len(set(params)) != len(params):
        checker.problem(entry, f"{ENTRY} names a parameter twice")
    return tuple(params)


def lint_reward(source: str, variable_names: Sequence[str]) -> LintedProgram:
    """Check reward code against the contract; raises ``RewardRejectedError`` listing every
    problem with its line number."""
    try:
        tree = ast.parse(source, filename="<reward>")
    except SyntaxError as exc:
        raise _syntax_error(exc, source) from None
    checker = _Checker()
    entries, helpers = _top_level(tree, checker)
    params: tuple[str, ...] = ()
    if not entries:
        hint = f" (found {', '.join(helpers)})" if helpers else ""
        checker.problems.append(
            (0, f"defines no function named {ENTRY}{hint}; define def {ENTRY}(<variables>)")
        )
    elif len(entries) > 1:
        lines = " and ".join(str(e.lineno) for e in entries)
        checker.problem(
            entries[1], f"defines {ENTRY} {len(entries)} times (lines {lines}); keep one"
        )
    if entries:
        params = _check_params(entries[0], list(variable_names), checker)
    checker.visit(tree)
    if checker.problems:
        listed = "\n".join(
            f"  - line {line}: {text}" if line else f"  - {text}"
            for line, text in sorted(checker.problems)
        )
        raise RewardRejectedError(f"reward code rejected:\n{listed}")
    entry = entries[0]
    return LintedProgram(
        source=source,
        params=params,
        helpers=tuple(helpers),
        imports=tuple(dict.fromkeys(checker.imports)),
        docstring=ast.get_docstring(entry),
        num_lines=len(source.splitlines()),
    )
