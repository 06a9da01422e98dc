"""The docs are part of the product: README lists every setting and command, Procfile imports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, get_args, get_origin

import click
import pytest
from pydantic import BaseModel

from connector.cli import _register_commands, cli
from connector.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for argument in get_args(annotation):
        found.extend(_models(argument))
    return found


def setting_paths(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every leaf setting as a dotted path (lists of models as ``name[]``)."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nested = _models(annotation)
        is_list = get_origin(annotation) is list
        if nested and name != "low_balance":
            for sub in nested:
                paths |= setting_paths(sub, f"{prefix}{name}{'[]' if is_list else ''}.")
        else:
            paths.add(f"{prefix}{name}")
    return paths


def documented_paths(text: str) -> set[str]:
    """Settings named in README table rows: `a.b` / `c` means a.b and a.c."""
    documented: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        tokens = re.findall(r"`([^`]+)`", first_cell)
        prefix = ""
        for token in tokens:
            if "." in token:
                prefix = token.rsplit(".", 1)[0] + "."
                documented.add(token)
            else:
                documented.add(prefix + token)
    return documented


def test_readme_opens_with_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:25])
    assert "make demo" in first_screen
    assert "make test" in first_screen


def test_readme_lists_every_setting() -> None:
    documented = documented_paths(README)
    missing = sorted(p for p in setting_paths() if p not in documented)
    assert missing == [], f"settings missing from README's configuration reference: {missing}"


def _command_paths(group: click.Group, prefix: str = "connector") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, path))
        else:
            paths.append(path)
    return paths


def test_readme_lists_every_cli_command() -> None:
    _register_commands()
    missing = [
        path
        for path in _command_paths(cli)
        if f"`{path}" not in README
        and f"/ `{path.split()[-1]}" not in README
        and path not in README
    ]
    assert missing == [], f"commands missing from README: {missing}"


@pytest.mark.parametrize("line", (ROOT / "Procfile").read_text().splitlines())
def test_procfile_targets_exist(line: str) -> None:
    kind, command = line.split(":", 1)
    if "connector.web:create_app" in command:
        module = importlib.import_module("connector.web")
        assert callable(module.create_app)
    else:
        _register_commands()
        words = command.split()
        assert words[0] == "connector"
        assert words[1] in cli.commands, f"{kind}: no command {words[1]!r}"


def test_every_transform_is_documented() -> None:
    from connector.mapping.transforms import TRANSFORMS

    mappings_doc = (ROOT / "docs" / "mappings.md").read_text()
    missing = [name for name in TRANSFORMS if f"`{name}" not in mappings_doc]
    assert missing == []


def test_status_vocabulary_is_documented() -> None:
    from connector.sources.base import Status

    for status in Status.ALL:
        assert f"`{status}" in README
