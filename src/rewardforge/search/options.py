"""Every setting of ``SearchConfig`` as an option: its dotted key, its flag and its help, read
from the model's fields. From these the CLI builds its flags, ``rf.search`` takes keyword
arguments, config files and ``key=value`` overrides are merged, and validation errors are told
in the user's terms (key and flag, with a did-you-mean for unknown keys).

Naming: the flag is the field's name (``strategy.samples`` -> ``--samples``); a section's
``name`` field is the section's flag (``strategy.name`` -> ``--strategy``); a field may set
another flag or a short one in ``json_schema_extra`` (``flag``, ``short``). Every flag names one
key (a test checks it); a strategy's options are those of every registered strategy, and one
given to a strategy that lacks it is an error saying which strategies have it.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from rewardforge.errors import ConfigError
from rewardforge.search.config import SearchConfig, TeacherSettings
from rewardforge.search.registry import list_strategies

#: YAML 1.1 reads these as booleans; as override values they stay text (``rungs=off``).
_TEXT_WORDS = {"on", "off", "yes", "no", "y", "n"}


@dataclass(frozen=True)
class Option:
    """One setting: ``path`` (dotted key), ``flag``, and what the CLI needs to parse it."""

    path: str
    flag: str
    short: str | None
    help: str
    kind: Literal["bool", "choice", "value"]
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    #: strategy options: strategy name -> its default there (the strategies that have it)
    defaults: dict[str, Any] = field(default_factory=dict)
    default: Any = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _option(path: str, name: str, info: FieldInfo, section: str | None) -> Option:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    base = section if name == "name" and section else name
    flag = str(extra.get("flag") or "--" + base.replace("_", "-"))
    annotation = _unwrap(info.annotation)
    kind: Literal["bool", "choice", "value"] = "value"
    choices: tuple[str, ...] = ()
    if annotation is bool:
        kind = "bool"
    elif typing.get_origin(annotation) is Literal:
        kind, choices = "choice", tuple(str(a) for a in typing.get_args(annotation))
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    return Option(
        path=path,
        flag=flag,
        short=extra.get("short"),  # type: ignore[arg-type]
        help=info.description or "",
        kind=kind,
        choices=choices,
        metavar=extra.get("metavar"),  # type: ignore[arg-type]
        default=default,
    )


def _section_fields(name: str) -> Iterable[tuple[str, FieldInfo]]:
    if name == "teacher":
        return TeacherSettings.model_fields.items()
    annotation = SearchConfig.model_fields[name].annotation
    assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return annotation.model_fields.items()


def options() -> list[Option]:
    """Every option, in the order of the model: top-level, strategy, then each section."""
    out = [_option("seed", "seed", SearchConfig.model_fields["seed"], None)]
    merged: dict[str, Option] = {}
    for spec in list_strategies():
        for name, info in spec.config.model_fields.items():
            opt = merged.get(name) or _option(f"strategy.{name}", name, info, "strategy")
            if name == "name":
                names = tuple(s.name for s in list_strategies())
                text = "the search loop: " + "; ".join(
                    f"{s.name} ({s.description})" if s.description else s.name
                    for s in list_strategies()
                )
                opt = Option(**{**opt.__dict__, "kind": "choice", "default": "evolve",
                                "choices": names, "help": text})  # fmt: skip
            else:
                opt.defaults[spec.name] = info.get_default(call_default_factory=True)
            merged[name] = opt
    out += merged.values()
    for section in ("designer", "model", "training", "evaluation", "executor", "teacher"):
        out += [_option(f"{section}.{n}", n, i, section) for n, i in _section_fields(section)]
    return out


def option_by_flag() -> dict[str, Option]:
    return {o.dest: o for o in options()}


# --- building a config ----------------------------------------------------------------------
def set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    """``tree["a"]["b"] = value`` for ``path`` ``"a.b"`` (creating the levels)."""
    *parents, leaf = path.split(".")
    for part in parents:
        node = tree.get(part)
        if isinstance(node, BaseModel):
            node = node.model_dump()
        if not isinstance(node, dict):
            node = {} if node is None or isinstance(node, (dict, BaseModel)) else {"name": node}
        tree[part] = node = dict(node)
        tree = node
    tree[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"strategy.samples=4"`` -> ``("strategy.samples", 4)``; values are read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"an override looks like key=value (e.g. strategy.samples=4), got {text!r}"
        )
    raw = raw.strip()
    if raw.lower() in _TEXT_WORDS:
        return key.strip(), raw
    try:
        return key.strip(), yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read the value of {text!r}: {exc}") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) config file as a mapping."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections (task, strategy, ...)")
    return data


def build_config(
    task: str | None = None,
    *,
    base: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> SearchConfig:
    """A validated config from ``base`` (a config file's mapping), then ``values`` (options by
    flag name, as ``rf.search`` and the CLI's flags give them, or whole sections), then dotted
    ``overrides``, then ``task``. Errors are ``ConfigError`` naming keys and flags."""
    tree: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v)
                            for k, v in (base or {}).items()}  # fmt: skip
    file_strategy = _strategy_name(tree)
    table = option_by_flag()
    for name, value in (values or {}).items():
        if name in table:
            set_path(tree, table[name].path, value)
        elif name in SearchConfig.model_fields:
            tree[name] = value
        else:
            raise ConfigError(
                f"unknown option {name!r}.{_suggest(name, [*table, *SearchConfig.model_fields])}"
            )
    for text in overrides:
        set_path(tree, *parse_override(text))
    if task is not None:
        tree["task"] = task
    if file_strategy and _strategy_name(tree) != file_strategy:
        _keep_shared(tree)
    try:
        return SearchConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, strategy=_strategy_name(tree))) from None


def _strategy_name(tree: dict[str, Any]) -> str | None:
    value = tree.get("strategy")
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return str(getattr(value, "name", ""))
    return str(value.get("name", "evolve")) if isinstance(value, dict) else None


def _keep_shared(tree: dict[str, Any]) -> None:
    """A strategy switched from the file's: keep the file's options the new one also has."""
    from rewardforge.search.registry import get_strategy

    strategy = tree["strategy"]
    if isinstance(strategy, BaseModel):
        strategy = strategy.model_dump()
    if not isinstance(strategy, dict):
        return
    try:
        fields = get_strategy(str(strategy.get("name", "evolve"))).config.model_fields
    except ConfigError:
        return
    tree["strategy"] = {k: v for k, v in strategy.items() if k in fields}


# --- errors in the user's terms -------------------------------------------------------------
def _suggest(name: str, known: Iterable[str]) -> str:
    known = list(known)
    leaf = name.rsplit(".", 1)[-1]
    same_leaf = [k for k in known if k.rsplit(".", 1)[-1] == leaf and k != name]
    close = same_leaf or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _strategies_with(name: str) -> list[str]:
    return [s.name for s in list_strategies() if name in s.config.model_fields and name != "name"]


def _describe(err: Mapping[str, Any], flags: dict[str, str]) -> str:
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        return message
    flag = flags.get(path)
    named = f"{path} ({flag})" if flag else path
    if err["type"] == "extra_forbidden":
        if loc[0] == "strategy" and len(loc) == 2 and (owners := _strategies_with(loc[1])):
            strategy = err.get("strategy", "this")
            return (f"{named} is an option of the {' and '.join(owners)} strateg{'ies' if len(owners) > 1 else 'y'}, not of "
                    f"{strategy}: add --strategy {owners[0]} or drop it")  # fmt: skip
        return f"unknown key {path}.{_suggest(path, flags)}"
    if err["type"] == "missing":
        return f"{named} is required" + (" (the task: pass it first)" if path == "task" else "")
    if loc == ["strategy"] or err["type"].startswith("value_error") and len(loc) <= 1:
        return message
    return f"bad value {err.get('input')!s} for {named}: {message}"


def format_errors(exc: ValidationError, *, strategy: str | None = None) -> str:
    """Pydantic's complaints about a config, one line each, with keys and flags."""
    flags = {o.path: o.flag for o in options()}
    flags.update({name: "" for name in SearchConfig.model_fields if name not in flags})
    lines = []
    for err in exc.errors():
        described = _describe({**err, "strategy": strategy or "this"}, flags)
        if described not in lines:
            lines.append(described)
    return "\n".join(lines)


def to_yaml(config: SearchConfig) -> str:
    """The config as a file ``--config`` reads back to the same config."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False)


__all__ = [
    "Option",
    "build_config",
    "format_errors",
    "load_config_file",
    "option_by_flag",
    "options",
    "parse_override",
    "set_path",
    "to_yaml",
]
