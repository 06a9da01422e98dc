"""Loading settings: YAML with ``${VAR}`` interpolation, every problem located by file and line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from connector.config.settings import Settings, check_settings
from connector.errors import ConfigError

DEFAULT_CONFIG_PATH = "connector.yaml"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, environ: Mapping[str, str], path: str, problems: list[str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {
            k: interpolate(v, environ, f"{path}.{k}" if path else str(k), problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, environ, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(
            f"{path}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )
        return ""

    whole = _VAR.fullmatch(value)
    result = _VAR.sub(replace, value)
    if whole and result == "" and whole.group(2) is not None:
        return None
    return result


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each YAML path (tuple of keys/indexes) to its 1-based line number."""
    index: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                index[(*path, key_node.value)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key_node.value))
                index[(*path, key_node.value)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the discriminator tag ("sheets") into the location of union members.
    return tuple(p for p in loc if p not in ("sheets", "hubspot", "slack", "webhook"))


def parse_settings(
    data: Mapping[str, Any] | None,
    *,
    environ: Mapping[str, str] | None = None,
    source: str = "<settings>",
    text: str | None = None,
) -> Settings:
    """Validate a parsed YAML mapping into ``Settings``; every problem is reported at once."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(["the top level must be a mapping of settings"], source=source)
    resolved = interpolate(dict(data), environ, "", problems)
    lines = _line_index(text) if text else {}
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = _clean_loc(tuple(error["loc"]))
            line = lines.get(loc) or lines.get(loc[:-1])
            where = f"{source}:{line}: " if line else f"{source}: "
            msg = error["msg"]
            if error["type"] == "extra_forbidden":
                msg = "unknown setting (check the spelling; see connector.example.yaml)"
            problems.append(f"{where}{_format_loc(loc)}: {msg}")
        raise ConfigError(problems, source=source) from exc
    problems.extend(f"{source}: {problem}" for problem in check_settings(settings))
    if problems:
        raise ConfigError(problems, source=source)
    return settings


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings from ``path``, ``$CONNECTOR_CONFIG`` or ``./connector.yaml``."""
    environ = os.environ if environ is None else environ
    chosen = Path(path or environ.get("CONNECTOR_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            [
                f"config file {chosen} not found (copy connector.example.yaml to connector.yaml, "
                "or pass --config PATH / set CONNECTOR_CONFIG)"
            ]
        ) from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                f"{chosen}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start}): save the file as UTF-8"
            ]
        ) from exc
    except OSError as exc:
        raise ConfigError(
            [f"cannot read config file {chosen}: {exc.strerror or exc} (check the path and rights)"]
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{chosen}:{mark.line + 1}:{mark.column + 1}" if mark else str(chosen)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from exc
    return parse_settings(data, environ=environ, source=str(chosen), text=text)
