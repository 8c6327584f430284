"""ARCHIE's reward structure: finishing the task always pays more than shaping.

:func:`archie_compose` joins a shaping reward and a success criterion into one reward program
(the same contract as any other)::

    compute_reward(<both functions' variables>) = shaped + bonus * is_success

with the original components plus ``success_bonus``. :func:`archie_bonus` picks a bonus larger
than all the shaping an episode can collect, so no policy gains more by shaping alone than by
reaching the goal once.

Both sources are edited as text (names renamed at the positions the parser reports), so their
comments and layout survive into the composed program."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping

from rewardforge.errors import ConfigError, RewardRejectedError

#: Floor of the per-step shaping used to size the bonus when shaping is never positive.
MIN_STEP_REWARD = 1e-2
SHAPED = "_shaped_reward"
SUCCESS = "_is_success"
BONUS_CONSTANT = "ARCHIE_SUCCESS_BONUS"
COMPONENT = "success_bonus"

_WRAPPER = '''
{constant} = {bonus!r}


def compute_reward({params}):
    """ARCHIE structure: the shaped reward, plus {constant} on every step where the
    success criterion holds (more than all the shaping an episode can collect)."""
    shaped, components = {shaped}({shaped_args})
    success = np.asarray({success}({success_args}), dtype=np.float64)
    bonus = {constant} * success
    components = dict(components)
    components["{component}"] = components.get("{component}", 0.0) + bonus
    return shaped + bonus, components
'''


def archie_bonus(
    max_positive_step_reward: float, max_episode_steps: int, multiple: float = 2.0
) -> float:
    """The success bonus: ``multiple`` times the most shaping an episode can collect.

    That is ``multiple * max(max_positive_step_reward, MIN_STEP_REWARD) * max_episode_steps``:
    one success step then pays ``multiple`` times a whole episode of the largest shaping
    reward. ``max_positive_step_reward`` is usually estimated on sampled states (the smoke
    test's maximum reward), which can fall short of the true maximum; ``multiple`` is the
    margin for that. The default 2 keeps rewards as small as that guarantee allows (large
    rewards make value learning unstable)."""
    if not math.isfinite(max_positive_step_reward):
        raise ConfigError(
            f"max_positive_step_reward must be a finite number, got {max_positive_step_reward}; "
            "estimate it from the smoke test of the shaping reward"
        )
    if max_episode_steps < 1:
        raise ConfigError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
    if not multiple > 1.0:
        raise ConfigError(
            f"multiple must be greater than 1 so that finishing pays more than shaping, "
            f"got {multiple}"
        )
    return float(multiple * max(max_positive_step_reward, MIN_STEP_REWARD) * max_episode_steps)


def archie_compose(reward_source: str, success_source: str, *, bonus: float) -> str:
    """One reward program: ``compute_reward`` renamed ``_shaped_reward``, ``is_success`` renamed
    ``_is_success``, and a new ``compute_reward`` over the union of their parameters (the
    reward's first) returning ``shaped + bonus * success`` with a ``success_bonus`` component.

    Helpers and constants of the success source whose names the reward source already uses
    are renamed ``_success_<name>``. Raises ``RewardRejectedError`` when either source does not
    parse or lacks its function, and ``ConfigError`` for a bonus that is not positive."""
    if not (math.isfinite(bonus) and bonus > 0):
        raise ConfigError(f"the success bonus must be a positive number, got {bonus}")
    reward_tree = _parse(reward_source, "reward")
    success_tree = _parse(success_source, "success criterion")
    entry = _function(reward_tree, "compute_reward", "reward")
    check = _function(success_tree, "is_success", "success criterion")
    reserved = {SHAPED, SUCCESS, BONUS_CONSTANT, "compute_reward"}

    reward_names = _bindings(reward_tree)
    reward_map = {"compute_reward": SHAPED}
    reward_map.update(
        {n: f"_reward_{n}" for n in reward_names if n in reserved - reward_map.keys()}
    )
    success_names = _bindings(success_tree)
    success_map = {"is_success": SUCCESS}
    taken = {reward_map.get(n, n) for n in reward_names}
    for name, binding in success_names.items():
        same_import = binding.startswith(_IMPORT) and reward_names.get(name) == binding
        if name in reserved or (name in taken and not same_import):
            success_map.setdefault(name, f"_success_{name}")
    shaped_text = _rename(reward_source, reward_tree, reward_map)
    repeated = [  # imports the reward source already makes, the same way
        node
        for node in success_tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and all(reward_names.get(n) == b for n, b in _bindings(ast.Module([node], [])).items())
    ]
    success_text = _rename(
        _blank(success_source, [*_docstring(success_tree), *repeated]), success_tree, success_map
    )

    reward_params, reward_call = _signature(entry, "reward")
    success_params, success_call = _signature(check, "success criterion")
    params = list(dict.fromkeys([*reward_params, *success_params]))
    numpy_bound = _NUMPY_AS_NP in (reward_names.get("np"), success_names.get("np"))
    wrapper = _WRAPPER.format(
        constant=BONUS_CONSTANT,
        bonus=float(bonus),
        params=", ".join(params),
        shaped=SHAPED,
        shaped_args=reward_call,
        success=SUCCESS,
        success_args=success_call,
        component=COMPONENT,
    )
    parts = [shaped_text.rstrip(), success_text.strip()]
    if not numpy_bound:
        parts.append("import numpy as np")
    source = "\n\n\n".join(parts) + "\n\n" + wrapper
    _parse(source, "composed ARCHIE reward")  # a bug here, not the model's: fail loudly
    return source


# -- parsing ------------------------------------------------------------------------------
_NUMPY_AS_NP = "import numpy as np"
_IMPORT = ("import ", "from ")


def _parse(source: str, what: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise RewardRejectedError(
            f"ARCHIE: the {what} source does not parse: syntax error on line {exc.lineno}: "
            f"{exc.msg}. Fix it (lint it first) before composing"
        ) from None


def _function(tree: ast.Module, name: str, what: str) -> ast.FunctionDef:
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    if len(found) != 1:
        raise RewardRejectedError(
            f"ARCHIE: the {what} source must define one top-level function {name!r}, "
            f"found {len(found)}"
        )
    return found[0]


def _signature(func: ast.FunctionDef, what: str) -> tuple[list[str], str]:
    """The function's parameter names, and the argument list that passes them through."""
    args = func.args
    if args.vararg or args.kwarg:
        raise RewardRejectedError(
            f"ARCHIE: {func.name} of the {what} takes *args or **kwargs; name each variable"
        )
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    keyword = [a.arg for a in args.kwonlyargs]
    call = ", ".join([*positional, *(f"{k}={k}" for k in keyword)])
    return positional + keyword, call


def _bindings(tree: ast.Module) -> dict[str, str]:
    """Top-level names and what binds them: an import's text, or the kind of statement."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = f"def {node.name}"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            source = (
                f"from {'.' * node.level}{node.module or ''} import "
                if isinstance(node, ast.ImportFrom)
                else "import "
            )
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                out[bound] = source + alias.name + (f" as {alias.asname}" if alias.asname else "")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        out[name.id] = f"assign {name.id}"
    return out


# -- editing --------------------------------------------------------------------------------
def _rename(source: str, tree: ast.Module, mapping: Mapping[str, str]) -> str:
    """``source`` with every binding and use of the names in ``mapping`` renamed: variables,
    parameters, function and class names, import aliases (``import m`` -> ``import m as new``).
    Attributes and keyword names are left alone."""
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # (line, start byte, end byte, text)

    def at(node: ast.Name | ast.arg, old: str, new: str, start: int | None = None) -> None:
        col = node.col_offset if start is None else start
        edits.append((node.lineno, col, col + len(old.encode("utf-8")), new))

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            at(node, node.id, mapping[node.id])
        elif isinstance(node, ast.arg) and node.arg in mapping:
            at(node, node.arg, mapping[node.arg])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in mapping:
            line = lines[node.lineno - 1].encode("utf-8")
            found = re.compile(rb"\b(?:def|class)\s+" + re.escape(node.name.encode())).search(
                line, node.col_offset
            )
            if found is not None:
                start = found.end() - len(node.name.encode())
                edits.append((node.lineno, start, found.end(), mapping[node.name]))
        elif isinstance(node, ast.alias):
            bound = (node.asname or node.name).split(".")[0]
            if bound in mapping and node.end_col_offset is not None:
                text = f"{node.name} as {mapping[bound]}"
                edits.append((node.lineno, node.col_offset, node.end_col_offset, text))
    for lineno, start, end, text in sorted(edits, reverse=True):
        raw = lines[lineno - 1].encode("utf-8")
        lines[lineno - 1] = (raw[:start] + text.encode("utf-8") + raw[end:]).decode("utf-8")
    return "".join(lines)


def _docstring(tree: ast.Module) -> list[ast.stmt]:
    """The module docstring's statement, if any (it would not be first in the composition)."""
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return [first]
    return []


def _blank(source: str, nodes: list[ast.stmt]) -> str:
    """``source`` with the lines of ``nodes`` blanked, so positions in its tree stay valid."""
    lines = source.splitlines(keepends=True)
    for node in nodes:
        for i in range(node.lineno - 1, node.end_lineno or node.lineno):
            lines[i] = "\n"
    return "".join(lines)
