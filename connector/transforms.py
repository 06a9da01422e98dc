"""The registry of small, pure, named field transforms that mapping files chain together."""

from __future__ import annotations

import ast
import email.utils
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from connector.errors import RowError

SHEETS_CELL_LIMIT = 50_000
_REQUIRED = object()
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_TRUE = {"true", "yes", "y", "1", "on", "t"}
_FALSE = {"false", "no", "n", "0", "off", "f", ""}
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_BARE_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}(:\d+)?([/?#].*)?$")


class TransformFailure(Exception):
    """A row-level problem: the field gets no value and the message is reported for the row."""


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
    kind: str  # "int", "str", "mapping" or "any"
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


def describe(value: Any, limit: int = 40) -> str:
    """A short ``repr`` of a value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any, target: str) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
    elif isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise TransformFailure(f"could not convert {describe(value)} to {target}")


def _to_int(value: Any, args: tuple[Any, ...], env: TransformEnv) -> int | None:
    if value is None:
        return None
    number = _number(value, "int")
    if isinstance(number, int):
        return number
    return math.floor(number + 0.5) if number >= 0 else -math.floor(-number + 0.5)


def _to_float(value: Any, args: tuple[Any, ...], env: TransformEnv) -> float | None:
    if value is None:
        return None
    try:
        return float(_number(value, "float"))
    except OverflowError as exc:
        raise TransformFailure(f"could not convert {describe(value)} to float") from exc


def _round(value: Any, args: tuple[Any, ...], env: TransformEnv) -> int | float | None:
    if value is None:
        return None
    digits = args[0]
    number = _number(value, "a number")
    if digits <= 0:
        rounded = _to_int(round(number, digits) if digits < 0 else number, (), env)
        return rounded
    return number if isinstance(number, int) else round(number, digits)


def _percent(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None:
        return None
    number = _number(value, "a number")
    return f"{number:.{args[0]}f}%"


def _text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    kind = "a list" if isinstance(value, list) else type(value).__name__
    raise TransformFailure(f"{name} expects text, got {kind} {describe(value)} (add join first)")


def _lower(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    return None if value is None else _text(value, "lower").lower()


def _upper(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    return None if value is None else _text(value, "upper").upper()


def _strip(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    return None if value is None else _text(value, "strip").strip()


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        if isinstance(value, list):
            return ", ".join(_render(v) for v in value if v is not None)
        return json.dumps(value, ensure_ascii=False, default=str)
    return _text(value, "render")


def _join(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list):
        return _render(value)
    parts = [_render(v) if not isinstance(v, list) else json.dumps(v) for v in value]
    return args[0].join(p for p in parts if p != "")


def _first(value: Any, args: tuple[Any, ...], env: TransformEnv) -> Any:
    if isinstance(value, list):
        return next((v for v in value if v is not None), None)
    return value


def _take(value: Any, args: tuple[Any, ...], env: TransformEnv) -> list[Any] | None:
    if value is None:
        return None
    return value[: args[0]] if isinstance(value, list) else [value]


def _json(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def parse_datetime(value: Any) -> datetime:
    """Read ISO 8601, ``YYYY-MM-DD``, Twitter/RFC 2822 dates or epoch (s or ms) as aware UTC."""
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime(value.year, value.month, value.day)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if abs(value) > 1e11 else value
            parsed = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str) and value.strip():
            parsed = _parse_date_text(value.strip())
        else:
            raise ValueError(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError) as exc:
        raise TransformFailure(f"could not read {describe(value)} as a date") from exc


def _parse_date_text(text: str) -> datetime:
    if text.isdigit():
        number = int(text)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return email.utils.parsedate_to_datetime(text)


def _date(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None or value == "":
        return None
    return parse_datetime(value).date().isoformat()


def _datetime(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None or value == "":
        return None
    moment = parse_datetime(value).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def parse_bool(value: Any) -> bool:
    """Read ``true/yes/1/on`` and ``false/no/0/off`` (any case) and numbers as a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TransformFailure(f"could not read {describe(value)} as true/false")


def _bool(value: Any, args: tuple[Any, ...], env: TransformEnv) -> Any:
    if value is None:
        return None
    result = parse_bool(value)
    if args[0] is not None or args[1] is not None:
        return args[0] if result else args[1]
    return result


def _url(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TransformFailure(f"expected a URL, got {describe(value)}")
    text = value.strip()
    if not text:
        return None
    if text.startswith("//"):
        text = "https:" + text
    elif "://" not in text and _BARE_DOMAIN.match(text):
        text = "https://" + text
    match = re.match(r"^(https?)://([^/?#\s]+)([^\s]*)$", text, re.IGNORECASE)
    if not match or ("." not in match.group(2) and match.group(2).lower() != "localhost"):
        raise TransformFailure(f"{describe(value)} is not an http(s) URL")
    return text


def _truncate(value: Any, args: tuple[Any, ...], env: TransformEnv) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    limit = args[0]
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


def _key(value: Any) -> str:
    return _text(value, "map") if not isinstance(value, dict | list) else json.dumps(value)


def _lookup(table: Mapping[Any, Any], value: Any) -> tuple[bool, Any]:
    text = _key(value)
    folded = {str(k).strip().casefold(): v for k, v in table.items()}
    if text in table:
        return True, table[text]
    if text.strip().casefold() in folded:
        return True, folded[text.strip().casefold()]
    return False, None


def _map(value: Any, args: tuple[Any, ...], env: TransformEnv) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_map(v, args, env) for v in value if v is not None]
    found, mapped = _lookup(args[0], value)
    if found:
        return mapped
    return args[1] if len(args) > 1 and args[1] is not None else value


def _enum(value: Any, args: tuple[Any, ...], env: TransformEnv) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        picked = [_enum(v, args, env) for v in value if v is not None]
        return list(dict.fromkeys(p for p in picked if p is not None))
    table = args[0] if args else None
    if table:
        found, mapped = _lookup(table, value)
        if found and mapped is None:
            return None
        value = mapped if found else value
    options = env.options or tuple((str(v), str(v)) for v in (table or {}).values())
    text = _key(value).strip()
    for option_value, _label in options:
        if text == option_value:
            return option_value
    for option_value, label in options:
        if text.casefold() in (option_value.casefold(), label.casefold()):
            return option_value
    known = ", ".join(v for v, _ in options)
    raise TransformFailure(f"{describe(value)} is not one of the options ({known})")


def _default(value: Any, args: tuple[Any, ...], env: TransformEnv) -> Any:
    return args[0] if value is None or value in ("", [], {}) else value


def template_placeholders(text: str) -> list[str]:
    """The ``{…}`` expressions in a template text (``{{`` and ``}}`` are literal braces)."""
    return [m.group(1).strip() for m in _PLACEHOLDER.finditer(text) if m.group(1) is not None]


def _template(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    found_any = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found_any
        if match.group(1) is None:
            return match.group(0)[0]
        name = match.group(1).strip()
        if name == "value":
            item = value
        else:
            try:
                item = jmespath.search(name, env.root)
            except JMESPathError:
                item = None
        if item is None or item == "" or item == []:
            return ""
        found_any = True
        return _render(item)

    result = _PLACEHOLDER.sub(replace, args[0])
    return result if found_any else None


def _rehost(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    # The original URL expires after ~24 h, so it is never passed on when rehosting fails.
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TransformFailure(f"rehost expects an image URL, got {describe(value)}")
    if env.context.rehost is None:
        env.notes.append("image rehosting not configured")
        return None
    try:
        return env.context.rehost(value)
    except RowError as exc:
        env.errors.append(f"image rehosting failed: {exc}")
    except Exception as exc:  # a broken rehoster must not break the row
        env.errors.append(f"image rehosting failed: {type(exc).__name__}: {exc}")
    return None


def _spec(
    name: str, func: Callable[..., Any], output: str, summary: str, *params: Param
) -> TransformSpec:
    return TransformSpec(name, func, params, output, summary)


TRANSFORMS: dict[str, TransformSpec] = {
    s.name: s
    for s in (
        _spec("int", _to_int, "int", "number or numeric text → whole number (rounded)"),
        _spec("float", _to_float, "float", "number or numeric text → decimal number"),
        _spec(
            "round",
            _round,
            "number",
            "round to n decimals (0 → whole number)",
            Param("n", "int", 0, minimum=-9),
        ),
        _spec(
            "percent",
            _percent,
            "string",
            "3.41 → '3.41%' (the API already uses percent)",
            Param("decimals", "int", 2, minimum=0),
        ),
        _spec("lower", _lower, "string", "lower-case text"),
        _spec("upper", _upper, "string", "upper-case text"),
        _spec("strip", _strip, "string", "trim surrounding whitespace"),
        _spec("join", _join, "string", "list → text joined by sep", Param("sep", "str", ", ")),
        _spec("first", _first, "any", "first non-null item of a list"),
        _spec("take", _take, "list", "first n items of a list", Param("n", "int", minimum=0)),
        _spec("json", _json, "string", "any value → compact JSON text"),
        _spec("date", _date, "string", "any date/time → YYYY-MM-DD (UTC)"),
        _spec("datetime", _datetime, "string", "any date/time → ISO 8601 UTC (…Z)"),
        _spec(
            "bool",
            _bool,
            "scalar",
            "true/false, or the two labels given",
            Param("true_label", "any", None),
            Param("false_label", "any", None),
        ),
        _spec("url", _url, "string", "check an http(s) URL, adding https:// when missing"),
        _spec(
            "truncate",
            _truncate,
            "scalar",
            "cut text to n characters (Sheets: 50,000)",
            Param("n", "int", SHEETS_CELL_LIMIT, minimum=2),
        ),
        _spec(
            "map",
            _map,
            "any",
            "replace values through a table; unknown ones kept or default",
            Param("table", "mapping"),
            Param("default", "any", None),
        ),
        _spec(
            "enum",
            _enum,
            "any",
            "match a HubSpot option value/label (optionally via a table)",
            Param("table", "mapping", None),
        ),
        _spec(
            "default", _default, "any", "use this value when null or empty", Param("value", "any")
        ),
        _spec(
            "template",
            _template,
            "string",
            "fill '{first_name} ({location})' from the profile",
            Param("text", "str"),
        ),
        _spec("rehost", _rehost, "string", "copy an (expiring) image to permanent storage"),
    )
}


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
    elif (
        param.kind == "mapping"
        and not (arg is None and not param.required)
        and (not isinstance(arg, dict) or not arg)
    ):
        return f'must be a non-empty table such as {{"from": "to"}}, got {describe(arg)}'
    return None


def apply_transforms(
    value: Any, calls: Sequence[tuple[str, tuple[Any, ...]]], env: TransformEnv
) -> Any:
    """Run a chain left to right; raises only ``TransformFailure`` with a row-level message."""
    for name, args in calls:
        spec = TRANSFORMS[name]
        full = tuple(args) + tuple(p.default for p in spec.params[len(args) :])
        try:
            value = spec.func(value, full, env)
        except TransformFailure:
            raise
        except Exception as exc:  # a transform bug must cost one field, not the run
            raise TransformFailure(f"{name} failed on {describe(value)}: {exc}") from exc
    return value
