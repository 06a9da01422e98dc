"""Which enrichment tier a mapping needs: the cheapest whose documented response carries it.

A mapping reads payload paths (its sources and ``template`` placeholders). A tier *carries* a
mapping for a requested platform when the tier's documented response (the payload vocabulary)
lists every path the mapping reads that any tier documents for that platform, and, if the
mapping reads the platform's block at all, documents that block. Paths no tier documents are
typos or new fields (the lint warns about them) and decide nothing. Only documentation counts:
Profile's "lighter platform block" and its summary blocks have no key list of their own (the
vocabulary lends them Full's), so a mapping reading any platform block never gets Profile;
Raw answers with the requested platform's block only, so summary blocks are not Raw's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from connector.enrich.models import PRICES, TIERS
from connector.handles import PLATFORMS
from connector.mapping.model import Mapping
from connector.mapping.source_paths import PLACEHOLDER, KeyPath, read_paths
from connector.mapping.transform_spec import template_placeholders
from connector.mapping.vocabulary import SAME_AS_FULL, Vocabulary, load_vocabulary

_NAMES = {"raw": "Raw", "profile": "Profile", "full": "Full"}


@dataclass(frozen=True)
class TierAdvice:
    """The cheapest tier per platform for one mapping, and what Full may serve.

    ``by_platform``: platform → the cheapest tier carrying the mapping (``full`` when no
    cheaper one does). ``full_serves``: (tier, platform) pairs for which a stored Full answer
    carries every path the mapping reads that the tier documents, so it may answer a request in
    that tier. ``missing``: for each cheaper tier, the first path it lacks (for messages).
    """

    by_platform: dict[str, str]
    full_serves: frozenset[tuple[str, str]] = frozenset()
    missing: dict[str, str] = field(default_factory=dict)

    def get_tier(self, platform: str) -> str:
        """The tier ``mode: auto`` uses for a creator on ``platform``."""
        return self.by_platform.get(platform, "full")

    def serves(self, tier: str, platform: str) -> bool:
        """Whether a Full answer may serve a request in ``tier`` for ``platform``."""
        return tier == "full" or (tier, platform) in self.full_serves

    @property
    def cheapest(self) -> str:
        """The cheapest tier chosen for any platform."""
        return min(self.by_platform.values(), key=TIERS.index, default="full")

    def describe(self) -> str:
        """One line for ``connector mappings check``: the tier to use and what it saves."""
        tier = self.cheapest
        if tier == "full":
            reasons = "; ".join(f"{_NAMES[t]} lacks {p}" for t, p in self.missing.items())
            return f"needs Full ({reasons})" if reasons else "needs Full"
        where = sorted(p for p, t in self.by_platform.items() if t == tier)
        others = sorted(p for p, t in self.by_platform.items() if t != tier)
        scope = "" if not others else f" on {', '.join(where)}"
        line = (
            f"reads only fields {_NAMES[tier]} returns{scope}: `mode: {tier}` costs "
            f"{PRICES[tier]:g} instead of {PRICES['full']:g} per creator"
        )
        if others:
            rest = ", ".join(f"{p} ({self.by_platform[p]})" for p in others)
            line += f"; `mode: auto` uses {tier} there and the cheapest tier elsewhere: {rest}"
        return line


def read_mapping_paths(mapping: Mapping) -> list[KeyPath]:
    """Every payload path the mapping reads: its sources and its templates' placeholders."""
    paths: list[KeyPath] = []
    for spec in mapping.fields:
        for source in spec.sources:
            paths += read_paths(source)
        for call in spec.transforms:
            if call.name == "template" and call.args and isinstance(call.args[0], str):
                for placeholder in template_placeholders(call.args[0]):
                    if placeholder != "value":
                        paths += read_paths(placeholder)
    return list(dict.fromkeys(p for p in paths if p and p[0] != "_meta"))


def analyse_tiers(mapping: Mapping, vocabulary: Vocabulary | None = None) -> TierAdvice:
    """The tier advice for ``mapping`` (pure; cache it per loaded mapping)."""
    return _analyse(tuple(read_mapping_paths(mapping)), vocabulary or load_vocabulary())


@lru_cache(maxsize=256)
def _analyse(paths: tuple[KeyPath, ...], vocabulary: Vocabulary) -> TierAdvice:
    by_platform: dict[str, str] = {}
    missing: dict[str, str] = {}
    serves: set[tuple[str, str]] = set()
    for platform in PLATFORMS:
        concrete = [_substitute(p, platform) for p in paths]
        documented = {
            tier: {p for p in concrete if _documents(vocabulary, tier, p, platform)}
            for tier in TIERS
        }
        wanted = set().union(*documented.values())
        reads_block = any(p[0] == platform for p in concrete)
        chosen = "full"
        for tier in TIERS[:-1]:
            lacking = sorted(wanted - documented[tier])
            if reads_block and not _has_block(vocabulary, tier, platform):
                lacking = lacking or [(platform,)]
            if not lacking:
                chosen = tier
                break
            missing.setdefault(tier, _dotted(lacking[0]))
        by_platform[platform] = chosen
        for tier in TIERS[:-1]:
            if documented[tier] <= documented["full"]:
                serves.add((tier, platform))
    return TierAdvice(by_platform, frozenset(serves), missing)


def _substitute(path: KeyPath, platform: str) -> KeyPath:
    return tuple(k.replace(PLACEHOLDER, platform) for k in path)


def _documents(vocabulary: Vocabulary, tier: str, keys: KeyPath, platform: str) -> bool:
    """Whether ``result.<keys>`` is documented for a ``tier`` call on ``platform``."""
    if keys[0] in vocabulary.platforms and tier != "full":
        if keys[0] != platform:
            summary = vocabulary.tier(tier).get("summary")
            if not summary or summary == SAME_AS_FULL:
                return False
        elif not _has_block(vocabulary, tier, platform):
            return False
    return vocabulary.knows_path(keys, platform=platform, tier=tier)


def _has_block(vocabulary: Vocabulary, tier: str, platform: str) -> bool:
    """Whether ``tier`` documents its own block for ``platform`` (not one lent by Full)."""
    blocks = vocabulary.tier(tier).get("blocks")
    return isinstance(blocks, dict) and platform in blocks


def _dotted(path: Sequence[str] | Iterable[str]) -> str:
    return ".".join(path)
