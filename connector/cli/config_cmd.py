"""``connector config check``: the resolved settings (secrets masked) and every problem they have.

Problems are what fails when the file loads (types, unknown keys, unset variables) and what
would only fail at run time (placeholders, missing credentials, unusable URLs and secrets,
broken mappings, a media backend that cannot work): each with where it is and how to fix it.
A file that does not load exits 2 (as every command does), run-time errors exit 1; warnings
(setups that work only under conditions the connector cannot see) do not fail. ``--json``
prints one JSON object on stdout and nothing else.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import yaml

from connector.cli.checks import check_config
from connector.cli.context import get_context
from connector.cli.output import echo_json
from connector.config import DEFAULT_CONFIG_PATH, Settings, load_settings
from connector.config.runtime import Finding
from connector.errors import ConfigError, format_error

# "<file>:<line>: <path>: <message>" as ConfigError lists load problems (line optional).
_LOCATED = re.compile(
    r"^(?:(?P<file>[^:\s]+):(?:\d+:)? )?(?P<path>[^:\s]+): (?P<message>.*)$", re.S
)
_REQUIRED_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@click.group("config")
def config_group() -> None:
    """Inspect the settings file."""


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the settings and problems as JSON.")
def check_command(as_json: bool) -> None:
    """Validate the settings and what they need at run time; exit 1 on any error.

    Prints the settings with secrets masked, then each problem with its fix.
    """
    context = get_context()
    try:
        settings, findings = _load_and_check(context.config_path)
    except ConfigError as exc:
        # Not even the rest could be checked: the load problems alone, as every command says them.
        if as_json:
            problems = [_load_finding(problem).as_dict() for problem in exc.problems]
            echo_json(
                {
                    "ok": False,
                    "errors": len(problems),
                    "warnings": 0,
                    "problems": problems,
                    "settings": None,
                }
            )
        else:
            click.echo(format_error(exc), err=True)
        raise SystemExit(2) from exc
    context.setup_logging(settings)
    errors = sum(1 for f in findings if f.level == "error")
    warnings = len(findings) - errors
    data = _masked(settings) if settings is not None else None
    if as_json:
        echo_json(
            {
                "ok": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "problems": [f.as_dict() for f in findings],
                "settings": data,
            }
        )
    else:
        if data is not None:
            click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
        for finding in findings:
            click.echo(str(finding), err=True)
        click.echo(_summary(errors, warnings), err=True)
    if settings is None:
        raise SystemExit(2)
    if errors:
        raise SystemExit(1)


def _load_and_check(config_path: str | None) -> tuple[Settings | None, list[Finding]]:
    """The settings (None when only unset variables stop them loading) and every problem found.

    ``ConfigError`` when the file does not load for any other reason.
    """
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        findings = [_load_finding(problem) for problem in exc.problems]
        # Unset variables stop loading; read the file with them empty to find the rest too.
        try:
            lenient = load_settings(config_path, environ=_blank_unset(config_path))
        except ConfigError:
            raise exc from None
        reported = {f.path for f in findings}
        more = [f for f in check_config(lenient) if not _covered(f.path, reported)]
        return None, findings + more
    return settings, check_config(settings)


def _covered(path: str, reported: set[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in reported)


def _load_finding(problem: str) -> Finding:
    match = _LOCATED.match(problem)
    if match is None:
        return Finding("error", "", problem, "fix the settings file")
    message = match.group("message")
    fix = "fix the settings file (see connector.example.yaml)"
    if "environment variable" in message and "is not set" in message:
        fix = "set the variable in the environment, or give it a default: ${VAR:-default}"
    where = f" ({match.group('file')})" if match.group("file") else ""
    return Finding("error", match.group("path"), message + where, fix)


def _blank_unset(config_path: str | None) -> dict[str, str]:
    """The environment plus every variable the file needs without a default, set empty."""
    path = Path(config_path or os.environ.get("CONNECTOR_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return dict(os.environ)
    return {**{name: "" for name in _REQUIRED_VAR.findall(text)}, **os.environ}


def _masked(settings: Settings) -> dict[str, Any]:
    data = settings.masked()
    data["database_url"] = data.get("database_url") or f"(default) {settings.resolved_database_url}"
    data["media"]["backend"] = (
        f"auto ({settings.media_backend})"
        if settings.media.backend == "auto"
        else settings.media.backend
    )
    return data


def _summary(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return "config ok"
    parts = [f"{errors} error(s)"] if errors else []
    if warnings:
        parts.append(f"{warnings} warning(s)")
    verdict = "config has problems" if errors else "config ok, with warnings"
    return f"{verdict}: {', '.join(parts)}"


COMMANDS = [config_group]
