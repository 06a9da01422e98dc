"""Located problems of one mapping file: ``file:line:col``, the YAML path, did-you-mean hints."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

from connector.mapping.schema import HUBSPOT_KEYS, SHEET_KEYS


def _yaml_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def known(values: Iterable[str]) -> str:
    """The choices, comma-separated, for a ``(known: …)`` hint."""
    return ", ".join(values)


def suggest(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean`` hint for a misspelled ``word``, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class Checker:
    """Collects problems with their ``file:line:col`` and YAML path."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.values: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.spans: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.keys: dict[tuple[Any, ...], tuple[int, int]] = {}
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        self.spans[path] = (node.start_mark.index, node.end_mark.index)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                if (*path, key) in self.keys:
                    self.keys[(*path, key, "<dup>")] = (
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                    self.add((*path, key, "<dup>"), f"duplicate key {key!r}", key=True)
                    continue
                self.keys[(*path, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def add(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        probe = path
        where = (self.keys if key else self.values).get(probe)
        while where is None and probe:
            probe = probe[:-1]
            where = self.values.get(probe)
        line, col = where or (1, 1)
        shown = tuple(p for p in path if p != "<dup>")
        self.problems.append(f"{self.source}:{line}:{col}: {_yaml_path(shown)}: {message}")

    def warn(self, path: tuple[Any, ...], word: str, message: str) -> None:
        """A warning at ``word`` inside the scalar at ``path`` (at the scalar when not found)."""
        line, col = self.values.get(path, (1, 1))
        start, end = self.spans.get(path, (0, 0))
        found = re.search(rf"(?<![\w$@]){re.escape(word)}(?!\w)", self.text[start:end])
        if found:
            index = start + found.start()
            line = self.text.count("\n", 0, index) + 1
            col = index - self.text.rfind("\n", 0, index)
        self.warnings.append(f"{self.source}:{line}:{col}: {message}")

    def unknown_keys(
        self,
        data: dict[str, Any],
        path: tuple[Any, ...],
        allowed: Iterable[str],
        *,
        kind: str | None = None,
    ) -> None:
        allowed = tuple(allowed)
        for key in data:
            if key in allowed:
                continue
            if kind == "sheets" and key in HUBSPOT_KEYS:
                self.add((*path, key), f"{key!r} is only used with kind: hubspot", key=True)
            elif kind == "hubspot" and key in SHEET_KEYS:
                self.add((*path, key), f"{key!r} is only used with kind: sheets", key=True)
            else:
                self.add(
                    (*path, key),
                    f"unknown key {key!r}{suggest(str(key), allowed)} (known: {known(allowed)})",
                    key=True,
                )

    def choice(
        self, value: Any, path: tuple[Any, ...], what: str, choices: tuple[str, ...]
    ) -> bool:
        if value in choices:
            return True
        self.add(
            path,
            f"unknown {what} {value!r}{suggest(str(value), choices)} (known: {known(choices)})",
        )
        return False
