"""The payload keys a source expression reads, checked against the payload vocabulary.

A source is JMESPath evaluated on the profile (``result``) plus ``_meta``. Its AST is walked to
the key paths it reads from the payload (``a.b.c`` is one subexpression node with three
children; projections and filters read their right side from the list items); whatever an
expression builds itself (multi-select lists and objects, function results) is no payload
position, so keys read from it are not checked. ``{platform}`` stands for every platform.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jmespath.exceptions import JMESPathError
from jmespath.parser import Parser

from connector.mapping.apply import PSEUDO_SOURCES, expand_source
from connector.mapping.vocabulary import Vocabulary, load_vocabulary

PLACEHOLDER = "platform__"
META_KEYS = ("platform", "handle", "enriched_at", "now", "profile_url")
_TIERS = ("full", "raw")
KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class UnknownKey:
    """A key no documented payload has where the expression reads it."""

    key: str
    where: str
    suggestion: str | None = None

    @property
    def message(self) -> str:
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        return f"unknown key {self.key!r} {self.where}{hint}"


def read_paths(expression: str) -> list[KeyPath]:
    """The payload key paths ``expression`` reads (``{platform}`` as ``PLACEHOLDER``)."""
    text = expression.strip()
    if text in PSEUDO_SOURCES:
        text = PSEUDO_SOURCES[text]
    return list(_parsed_paths(expand_source(text, PLACEHOLDER)))


@lru_cache(maxsize=1024)
def _parsed_paths(expression: str) -> tuple[KeyPath, ...]:
    try:
        tree: dict[str, Any] = dict(Parser().parse(expression).parsed)
    except JMESPathError:
        return ()
    return tuple(dict.fromkeys(_read(tree, ())[0]))


def _read(node: dict[str, Any], base: KeyPath | None) -> tuple[list[KeyPath], KeyPath | None]:
    """(paths read, the position of the node's value); a position of None is no payload's."""
    kind, children = node["type"], node["children"]
    if kind == "field":
        if base is None:
            return [], None
        path = (*base, node["value"])
        return [path], path
    if kind == "subexpression":
        paths: list[KeyPath] = []
        for child in children:
            found, base = _read(child, base)
            paths += found
        return paths, base
    if kind in ("index_expression", "projection", "filter_projection", "pipe"):
        left_paths, left = _read(children[0], base)
        right_paths, right = _read(children[1], left)
        condition = _read(children[2], left)[0] if kind == "filter_projection" else []
        return left_paths + right_paths + condition, right
    if kind == "flatten":
        return _read(children[0], base)
    if kind in ("index", "slice", "identity", "current", "literal"):
        return [], base
    if kind in ("value_projection", "expref"):
        # the right side reads values whose position the AST does not tell
        return (_read(children[0], base)[0] if kind == "value_projection" else []), None
    # multi-select lists and objects, boolean operators, comparisons and functions: every
    # operand reads from the current node; what they build is no payload position.
    return [p for child in children for p in _read(child, base)[0]], None


def check_paths(paths: Iterable[KeyPath], vocabulary: Vocabulary | None = None) -> list[UnknownKey]:
    """The undocumented keys among ``paths``, each named once with a suggestion if one is close."""
    vocabulary = vocabulary or load_vocabulary()
    found: dict[tuple[str, str], UnknownKey] = {}
    for path in paths:
        unknown = _check_path(path, vocabulary)
        if unknown is not None:
            found.setdefault((unknown.key, unknown.where), unknown)
    return list(found.values())


def _check_path(path: KeyPath, vocabulary: Vocabulary) -> UnknownKey | None:
    if path[0] == "_meta":
        if len(path) == 1 or (len(path) == 2 and path[1] in META_KEYS):
            return None
        if path[1] not in META_KEYS:
            return UnknownKey(path[1], "in _meta", _closest(path[1], META_KEYS))
        return UnknownKey(path[2], f"in _meta.{path[1]} (a value, not an object)")
    reached: list[tuple[int, str | None, str]] = []
    for keys, platform in _readings(path, vocabulary):
        for tier in _TIERS:
            depth, shape = vocabulary.known_prefix(keys, platform=platform, tier=tier)
            if depth == len(keys):
                return None
            reached.append((depth, shape, keys[0]))
    depth = max(r[0] for r in reached)
    prefix, key = path[:depth], path[depth]
    shapes = [(shape, block) for d, shape, block in reached if d == depth and shape is not None]
    if not shapes:
        return UnknownKey(key, _nowhere(prefix, vocabulary))
    choices: dict[str, str] = {}
    for shape, block in shapes:
        for known in sorted(vocabulary.known_keys(shape)):
            choices.setdefault(known, block)
    suggestion = _closest(key, choices)
    if not prefix:
        return UnknownKey(key, "at the top level of the profile", suggestion)
    if len(prefix) == 1 and (prefix[0] == PLACEHOLDER or prefix[0] in vocabulary.platforms):
        block = choices[suggestion] if suggestion else prefix[0]
        name = "any platform's" if block == PLACEHOLDER else f"the {block}"
        return UnknownKey(key, f"in {name} block", suggestion)
    return UnknownKey(key, f"in {_dotted(prefix)}", suggestion)


def _nowhere(prefix: KeyPath, vocabulary: Vocabulary) -> str:
    """Where a key sits that lies below a scalar or an undocumented block."""
    if len(prefix) == 1 and prefix[0] in vocabulary.platforms:
        return f"in the {prefix[0]} block (no real payload or reference key list shows one)"
    return f"in {_dotted(prefix)} (a value, not an object)"


def _readings(path: KeyPath, vocabulary: Vocabulary) -> list[tuple[KeyPath, str | None]]:
    """The concrete (keys, requested platform) a path may mean."""
    platforms = sorted(vocabulary.tier("full")["blocks"], key=vocabulary.platforms.index)
    if any(PLACEHOLDER in k for k in path):
        return [(tuple(k.replace(PLACEHOLDER, p) for k in path), p) for p in platforms]
    # a named platform block is the requested one's or a summary beside another platform's
    return [(path, None), *((path, p) for p in platforms)]


def _dotted(path: KeyPath) -> str:
    return ".".join(k.replace(PLACEHOLDER, "{platform}") for k in path)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.65)
    return close[0] if close else None
