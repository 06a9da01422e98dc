"""The registry of small, pure, named field transforms that mapping files chain together."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from connector.errors import RowError
from connector.mapping.social import select_links
from connector.mapping.transform_spec import (
    OUTPUT_TYPES,
    PLACEHOLDER,
    Param,
    TransformContext,
    TransformEnv,
    TransformSpec,
    check_args,
    parse_call,
    template_placeholders,
)
from connector.mapping.values import (
    TransformFailure,
    describe,
    parse_bool,
    parse_datetime,
    parse_number,
    parse_text,
)

__all__ = [
    "OUTPUT_TYPES",
    "REHOST_OFF",
    "SHEETS_CELL_LIMIT",
    "TRANSFORMS",
    "Param",
    "TransformContext",
    "TransformEnv",
    "TransformFailure",
    "TransformSpec",
    "apply_transforms",
    "check_args",
    "describe",
    "parse_bool",
    "parse_call",
    "parse_datetime",
    "template_placeholders",
]

SHEETS_CELL_LIMIT = 50_000
REHOST_OFF = "image rehosting not configured"
_BARE_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}(:\d+)?([/?#].*)?$")


def _to_int(value: Any, args: tuple[Any, ...], env: TransformEnv) -> int | None:
    if value is None:
        return None
    number = parse_number(value, "int")
    if isinstance(number, int):
        return number
    return math.floor(number + 0.5) if number >= 0 else -math.floor(-number + 0.5)


def _to_float(value: Any, args: tuple[Any, ...], env: TransformEnv) -> float | None:
    if value is None:
        return None
    try:
        return float(parse_number(value, "float"))
    except OverflowError as exc:
        raise TransformFailure(f"could not convert {describe(value)} to float") from exc


def _round(value: Any, args: tuple[Any, ...], env: TransformEnv) -> int | float | None:
    if value is None:
        return None
    digits = args[0]
    number = parse_number(value, "a number")
    if digits <= 0:
        rounded = _to_int(round(number, digits) if digits < 0 else number, (), env)
        return rounded
    return number if isinstance(number, int) else round(number, digits)


def _percent(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None:
        return None
    number = parse_number(value, "a number")
    return f"{number:.{args[0]}f}%"


def _lower(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    return None if value is None else parse_text(value, "lower").lower()


def _upper(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    return None if value is None else parse_text(value, "upper").upper()


def _strip(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    return None if value is None else parse_text(value, "strip").strip()


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        if isinstance(value, list):
            return ", ".join(_render(v) for v in value if v is not None)
        return json.dumps(value, ensure_ascii=False, default=str)
    return parse_text(value, "render")


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


def _date(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None or value == "":
        return None
    return parse_datetime(value).date().isoformat()


def _datetime(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    if value is None or value == "":
        return None
    moment = parse_datetime(value).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


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
    return parse_text(value, "map") if not isinstance(value, dict | list) else json.dumps(value)


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

    result = PLACEHOLDER.sub(replace, args[0])
    return result if found_any else None


def _rehost(value: Any, args: tuple[Any, ...], env: TransformEnv) -> str | None:
    # The original URL expires after ~24 h, so it is never passed on when rehosting fails.
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TransformFailure(f"rehost expects an image URL, got {describe(value)}")
    if env.context.rehost is None:
        env.notes.append(REHOST_OFF)
        return None
    try:
        return env.context.rehost(value)
    except RowError as exc:
        env.errors.append(f"image rehosting failed: {exc}")
    except Exception as exc:  # a broken rehoster must not break the row
        env.errors.append(f"image rehosting failed: {type(exc).__name__}: {exc}")
    return None


def _social_links(value: Any, args: tuple[Any, ...], env: TransformEnv) -> list[str] | None:
    return select_links(value, env.root, per_platform=args[0], include_own=args[1])


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
        _spec(
            "social_links",
            _social_links,
            "list",
            "the creator's accounts on other platforms as profile URLs (docs/mappings.md)",
            Param("per_platform", "int", 1, minimum=1),
            Param("include_own", "bool", False),
        ),
        _spec("rehost", _rehost, "string", "copy an (expiring) image to permanent storage"),
    )
}


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
