"""Pull reward code out of a model's answer.

Answers come as fenced blocks (```python or bare ```), sometimes several (a draft, a helper, the
final version), with prose around them, a reasoning section (``<think>...</think>``) before
them, or no fence at all. ``extract_code`` returns the block that defines ``compute_reward``
(the last such block), plus helper functions and imports from the answer's other blocks that
the code uses but does not define.
"""

from __future__ import annotations

import ast
import re
import textwrap

from rewardforge.errors import RewardExtractionError

ENTRY = "compute_reward"
_REASONING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(
    r"^[ \t]*(```|~~~)[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE
)
_CODE_LANGS = {"", "python", "py", "python3", "py3", "numpy"}
_DEF = re.compile(rf"^[ \t]*def[ \t]+{ENTRY}[ \t]*\(", re.MULTILINE)
_CODE_START = re.compile(r"^(import |from \S+ import |def |@|[A-Za-z_]\w*\s*=|#)")


def _strip_reasoning(answer: str) -> str:
    text = _REASONING.sub("", answer)
    opened = re.search(r"<(think|thinking|reasoning)>", text, re.IGNORECASE)
    if opened and _DEF.search(text, opened.end()) is None:
        text = text[: opened.start()]  # an unclosed reasoning section with no code after it
    return text


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _dedent(code: str) -> str:
    code = textwrap.dedent(code.replace("\r\n", "\n").expandtabs(4)).strip("\n")
    if _parses(code):
        return code
    lines = code.split("\n")
    if len(lines) > 1:  # first line lost its indent when copied (common in pasted answers)
        rest = textwrap.dedent("\n".join(lines[1:]))
        first_indent = len(lines[1]) - len(lines[1].lstrip())
        fixed = (
            lines[0].strip()
            + "\n"
            + textwrap.indent(
                rest, " " * max(first_indent, 4) if lines[0].rstrip().endswith(":") else ""
            )
        )
        if _parses(fixed):
            return fixed
    return code


def _blocks(text: str) -> list[str]:
    return [
        _dedent(match.group(3))
        for match in _FENCE.finditer(text)
        if match.group(2).lower() in _CODE_LANGS or _DEF.search(match.group(3))
    ]


def _defined_and_used(code: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(code)
    defined = (
        {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        | {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        | {
            (a.asname or a.name).split(".")[0]
            for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names
        }
    )
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, used


def _with_helpers(main: str, others: list[str]) -> str:
    """Prepend top-level functions, constants and imports from other blocks that ``main`` uses."""
    if not _parses(main):
        return main
    extra: list[str] = []
    for _ in range(3):  # helpers may need helpers
        defined, used = _defined_and_used("\n\n".join([*extra, main]))
        missing = used - defined
        added = False
        for block in others:
            if not _parses(block):
                continue
            tree = ast.parse(block)
            for node in tree.body:
                names = _node_names(node)
                if names & missing and not names & defined:
                    extra.append(ast.get_source_segment(block, node) or "")
                    defined |= names
                    added = True
        if not added:
            break
    imports = [e for e in extra if e.startswith(("import ", "from "))]
    rest = [e for e in extra if e not in imports]
    return "\n\n".join([*imports, *rest, main]) if extra else main


def _node_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return set()


def _unfenced(text: str) -> str | None:
    """Code written straight into prose: the ``def compute_reward`` with its body, plus the code
    lines just above it (imports, helpers, constants)."""
    lines = text.replace("\r\n", "\n").split("\n")
    found = [i for i, line in enumerate(lines) if _DEF.match(line)]
    if not found:
        return None
    index = found[-1]
    indent = len(lines[index]) - len(lines[index].lstrip())
    end = index + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        end += 1
    start = index
    while start > 0:
        above = lines[start - 1]
        stripped = above[indent:] if above[:indent].strip() == "" else above
        if above.strip() and not (
            _CODE_START.match(stripped) or stripped.startswith((" ", "\t", ")", "]", "}"))
        ):
            break
        start -= 1
    for first in range(start, index + 1):  # shrink from the top until it parses
        code = _dedent("\n".join(lines[first:end]))
        if _parses(code):
            return code
    return _dedent("\n".join(lines[index:end]))


#: Longest model answer (or file) searched for reward code; the code itself is limited further
#: (``program.MAX_PROGRAM_BYTES``).
MAX_ANSWER_CHARS = 2_000_000


def extract_code(answer: str) -> str:
    """The reward code in ``answer``; raises ``RewardExtractionError`` when there is none."""
    if len(answer) > MAX_ANSWER_CHARS:
        raise RewardExtractionError(
            f"the answer is {len(answer):,} characters long, more than the {MAX_ANSWER_CHARS:,} "
            "read for a reward program; answer with the code of one compute_reward"
        )
    text = _strip_reasoning(answer)
    blocks = _blocks(text)
    with_entry = [b for b in blocks if _DEF.search(b)]
    if with_entry:
        main = with_entry[-1]
        others = [b for b in blocks if b is not main]
        return _with_helpers(main, others).strip("\n") + "\n"
    code = _unfenced(text)
    if code is not None:
        return code.strip("\n") + "\n"
    start = " ".join(answer.strip().split())[:200]
    where = f"The answer starts: {start!r}" if start else "The answer is empty."
    raise RewardExtractionError(
        f"no function named {ENTRY} was found in the answer. Write it as "
        f"`def {ENTRY}(<variables>):` inside a ```python block. {where}"
    )
