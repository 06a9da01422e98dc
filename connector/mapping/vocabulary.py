"""The payload vocabulary (vocabulary.yaml beside this module): which keys a payload carries where.

Built from the real samples and the API reference's key lists only; the mapping lint and the
tests that hold the sandbox to real payloads read it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

SAME_AS_FULL = "same_as_full"


@dataclass(frozen=True)
class Position:
    """One object in a payload: where it is and which shape (None: undocumented) it has."""

    path: str
    shape: str | None


class Vocabulary:
    """Answers "is key K valid at this position" for influencers.club payloads."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.platforms: tuple[str, ...] = tuple(data["platforms"]["names"])
        self.shapes: dict[str, dict[str, Any]] = data["shapes"]
        self.tiers: dict[str, dict[str, Any]] = data["tiers"]

    def keys(self, shape: str) -> set[str]:
        """The keys a shape lists by name (all groups; patterns and open maps aside)."""
        return {k for group in self.shapes[shape].get("groups", ()) for k in group["keys"]}

    def allows(self, shape: str, key: str) -> bool:
        """Whether ``key`` may appear in an object of this shape."""
        spec = self.shapes[shape]
        if spec.get("open") or key in self.keys(shape):
            return True
        if spec.get("keys_from") == "platforms" and key in self.platforms:
            return True
        if "any_key" in spec:
            return re.fullmatch(spec.get("key_pattern", ".*"), key) is not None
        return any(
            fnmatch.fnmatchcase(key, pattern.replace("{platform}", platform))
            for item in spec.get("key_patterns", ())
            for pattern in [item["pattern"]]
            for platform in (self.platforms if "{platform}" in pattern else ("",))
        )

    def known_keys(self, shape: str) -> set[str]:
        """The keys of a shape a suggestion may name: listed keys, platforms, ``{platform}_x``."""
        spec = self.shapes[shape]
        keys = self.keys(shape)
        if spec.get("keys_from") == "platforms":
            keys |= set(self.platforms)
        for item in spec.get("key_patterns", ()):
            pattern = item["pattern"]
            if "*" not in pattern:
                keys |= {pattern.replace("{platform}", p) for p in self.platforms}
        return keys

    def known_prefix(
        self, keys: Sequence[str], *, platform: str | None, tier: str = "full"
    ) -> tuple[int, str | None]:
        """How many leading keys of ``result.<keys…>`` are documented, and the shape reached.

        The shape is that of the object holding the first undocumented key (None: a scalar,
        or an object the vocabulary does not describe).
        """
        shape: str | None = self.tier(tier)["result"]
        for index, key in enumerate(keys):
            if shape is None or not self.allows(shape, key):
                return index, shape
            shape = self.child(shape, key, tier=tier, platform=platform)
        return len(keys), shape

    def child(self, shape: str, key: str, *, tier: str, platform: str | None) -> str | None:
        """The shape of ``key``'s value inside ``shape`` (None: scalars or undocumented)."""
        spec = self.shapes[shape]
        if spec.get("open"):
            return shape
        if shape == self.tier(tier)["result"] and key in self.platforms:
            return self.block(tier, key, requested=platform)
        if "any_key" in spec:
            return spec["any_key"]
        nested: dict[str, str] = spec.get("nested", {})
        return nested.get(key)

    def knows_path(self, keys: Sequence[str], *, platform: str | None, tier: str = "full") -> bool:
        """Whether ``result.<keys…>`` is a documented path when ``platform`` was requested.

        With ``platform`` None every platform key leads to that platform's requested block.
        """
        return self.known_prefix(keys, platform=platform, tier=tier)[0] == len(keys)

    def tier(self, tier: str) -> dict[str, Any]:
        return self.tiers[tier]

    def block(self, tier: str, platform: str, *, requested: str | None) -> str | None:
        """The shape of ``result.<platform>``: the full block if requested, else the summary."""
        spec = self.tier(tier)
        blocks = spec.get("blocks", {})
        summary = spec.get("summary", {})
        if blocks == SAME_AS_FULL:
            blocks = self.tier("full")["blocks"]
        if summary == SAME_AS_FULL:
            summary = self.tier("full")["summary"]
        if requested is None or platform == requested or tier == "raw":
            return blocks.get(platform)
        return summary.get(platform)

    def walk(
        self, result: Any, *, platform: str, tier: str = "full"
    ) -> Iterator[tuple[Position, str, bool]]:
        """Every (object position, key, known) of a ``result`` object, depth first.

        An unknown key is reported once; what lies below it is not walked.
        """
        yield from self._walk(result, Position("result", self.tier(tier)["result"]), tier, platform)

    def _walk(
        self, value: Any, where: Position, tier: str, platform: str
    ) -> Iterator[tuple[Position, str, bool]]:
        if isinstance(value, list):
            for item in value:
                yield from self._walk(
                    item, Position(f"{where.path}[]", where.shape), tier, platform
                )
            return
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            known = where.shape is not None and self.allows(where.shape, key)
            yield where, key, known
            if known:
                assert where.shape is not None
                shape = self.child(where.shape, key, tier=tier, platform=platform)
                yield from self._walk(item, Position(f"{where.path}.{key}", shape), tier, platform)

    def unknown_paths(self, result: Any, *, platform: str, tier: str = "full") -> list[str]:
        """Key paths of ``result`` that the vocabulary does not list at their position."""
        return [
            f"{where.path}.{key}"
            for where, key, known in self.walk(result, platform=platform, tier=tier)
            if not known
        ]


@cache
def load_vocabulary() -> Vocabulary:
    """The vocabulary shipped with the package (``connector/mapping/vocabulary.yaml``)."""
    text = resources.files(__package__).joinpath("vocabulary.yaml").read_text(encoding="utf-8")
    return Vocabulary(yaml.safe_load(text))
