"""Transform specifications: the types the registry is built from and checks on written calls."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from connector.mapping.values import describe

_REQUIRED = object()
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True)
class TransformContext:
    """Optional capabilities handed to transforms by the pipeline step that runs a mapping.

    ``rehost`` downloads an image and returns a permanent URL; it raises ``RowError`` when it
    cannot.
    """

    rehost: Callable[[str], str] | None = None


@dataclass
class TransformEnv:
    """What one field's transform chain may look at: the context, the profile, enum options."""

    context: TransformContext = field(default_factory=TransformContext)
    root: Mapping[str, Any] = field(default_factory=dict)
    options: tuple[tuple[str, str], ...] = ()
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Param:
    """One positional argument of a transform."""

    name: str
    kind: str  # "int", "str", "bool", "mapping" or "any"
    default: Any = _REQUIRED
    minimum: int | None = None

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class TransformSpec:
    """A registered transform: function, arguments and the type of what it returns."""

    name: str
    func: Callable[[Any, tuple[Any, ...], TransformEnv], Any]
    params: tuple[Param, ...]
    output: str  # "int", "float", "number", "string", "bool", "list", "scalar" or "any"
    summary: str

    @property
    def usage(self) -> str:
        if not self.params:
            return self.name
        parts = [p.name if p.required else f"{p.name}={p.default!r}" for p in self.params]
        return f"{self.name}({', '.join(parts)})"


OUTPUT_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float,),
    "number": (int, float),
    "string": (str,),
    "bool": (bool,),
    "list": (list,),
    "scalar": (str, int, float, bool),
    "any": (object,),
}


def template_placeholders(text: str) -> list[str]:
    """The ``{…}`` expressions in a template text (``{{`` and ``}}`` are literal braces)."""
    return [m.group(1).strip() for m in PLACEHOLDER.finditer(text) if m.group(1) is not None]


def parse_call(text: str) -> tuple[str, tuple[Any, ...]]:
    """Split ``round(2)`` / ``join(", ")`` into a name and its literal arguments."""
    match = _CALL.match(text)
    if not match:
        raise ValueError(f'cannot read transform {text!r} (write e.g. int, round(2), join(", "))')
    name, inner = match.group(1), match.group(2)
    if inner is None or not inner.strip():
        return name, ()
    try:
        args = ast.literal_eval(f"({inner},)")
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(
            f'cannot read the arguments of {text.strip()!r}: use literals such as 2, "text", '
            "true/false as True/False, or write the YAML form {name: argument}"
        ) from exc
    return name, tuple(args)


def check_args(spec: TransformSpec, args: Sequence[Any]) -> str | None:
    """Return what is wrong with these arguments for ``spec``, or ``None`` when they fit."""
    if not all(_json_like(a) for a in args):
        return (
            f"{spec.name}: arguments must be text, numbers, True/False/None, lists or "
            f"tables (usage: {spec.usage})"
        )
    required = sum(1 for p in spec.params if p.required)
    if not required <= len(args) <= len(spec.params):
        count = (
            f"{required}" if required == len(spec.params) else f"{required} to {len(spec.params)}"
        )
        return f"{spec.name} takes {count} argument(s), got {len(args)} (usage: {spec.usage})"
    for param, arg in zip(spec.params, args, strict=False):
        problem = _check_arg(param, arg)
        if problem:
            return f"{spec.name}: argument '{param.name}' {problem} (usage: {spec.usage})"
    if spec.name == "bool" and len(args) == 1:
        return 'bool takes no labels or both labels, e.g. bool("Yes", "No")'
    if spec.name == "template":
        for placeholder in template_placeholders(args[0]):
            if placeholder != "value":
                try:
                    jmespath.compile(placeholder)
                except JMESPathError as exc:
                    return f"template: invalid placeholder {{{placeholder}}}: {exc}"
    return None


def _json_like(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str | int | float | bool) and _json_like(v) for k, v in value.items()
        )
    return False


def _check_arg(param: Param, arg: Any) -> str | None:
    if param.kind == "int":
        if not isinstance(arg, int) or isinstance(arg, bool):
            return f"must be a whole number, got {describe(arg)}"
        if param.minimum is not None and arg < param.minimum:
            return f"must be at least {param.minimum}, got {arg}"
    elif param.kind == "str" and not isinstance(arg, str):
        return f"must be text, got {describe(arg)}"
    elif param.kind == "bool" and not isinstance(arg, bool):
        return f"must be True or False, got {describe(arg)}"
    elif (
        param.kind == "mapping"
        and not (arg is None and not param.required)
        and (not isinstance(arg, dict) or not arg)
    ):
        return f'must be a non-empty table such as {{"from": "to"}}, got {describe(arg)}'
    return None
