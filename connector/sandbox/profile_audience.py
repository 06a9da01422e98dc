"""Audience demographics of the synthetic creators (Instagram, TikTok and YouTube only)."""

from __future__ import annotations

import itertools
from typing import Any

from connector.sandbox.profile_content import (
    BRANDS,
    COUNTRIES,
    LANGUAGES,
    LINKS,
    NICHES,
    build_weights,
    get_neighbours,
)
from connector.sandbox.profiles import Creator, get_stats


def _audience_data(c: Creator) -> dict[str, Any]:
    countries = COUNTRIES[: c.rng.randint(3, 6)]
    weights = build_weights(c, [code for code, _ in countries])
    ages = build_weights(c, ["13-17", "18-24", "25-34", "35-44", "45-64", "65-"])
    female = round(c.rng.uniform(0.2, 0.8), 6)
    return {
        "notable_users_ratio": round(c.rng.uniform(0.01, 0.2), 6),
        "audience_credibility": round(c.rng.uniform(0.5, 0.95), 4),
        "audience_types": build_weights(c, ["mass_followers", "suspicious", "influencers", "real"]),
        "credibility_class": c.rng.choice(["bad", "low", "normal", "good", "high"]),
        "audience_reachability": build_weights(c, ["-500", "500-1000", "1000-1500", "1500-"]),
        "audience_genders": [
            {"code": "MALE", "weight": round(1 - female, 6)},
            {"code": "FEMALE", "weight": female},
        ],
        "audience_ages": ages,
        "audience_genders_per_age": [
            {
                "code": a["code"],
                "male": round(a["weight"] * (1 - female), 6),
                "female": round(a["weight"] * female, 6),
            }
            for a in ages
        ],
        "audience_ethnicities": [
            {"code": w["code"], "name": n, "weight": w["weight"]}
            for w, n in zip(
                build_weights(c, ["white", "hispanic", "asian"]),
                ["White / Caucasian", "Hispanic", "Asian"],
                strict=True,
            )
        ],
        "audience_languages": [
            {"code": w["code"], "name": name, "weight": w["weight"]}
            for w, (_, name) in zip(
                build_weights(c, [code for code, _ in LANGUAGES]), LANGUAGES, strict=True
            )
        ],
        "audience_interests": [
            {
                "id": 10 + i,
                "name": niche,
                "weight": round(c.rng.uniform(0.05, 0.4), 6),
                "affinity": round(c.rng.uniform(0.8, 2.0), 6),
            }
            for i, niche in enumerate(sorted(NICHES)[:3])
        ],
        "audience_brand_affinity": [
            {
                "id": 100 + i,
                "name": brand,
                "interest": [{"id": 25, "name": "Electronics & Computers"}],
                "weight": round(c.rng.uniform(0.02, 0.2), 6),
                "affinity": round(c.rng.uniform(0.8, 2.0), 6),
            }
            for i, brand in enumerate(BRANDS[:2])
        ],
        "audience_geo": _geo(c, countries, weights),
        "audience_lookalikes": [
            {**_summary_user(c, h), "score": round(c.rng.uniform(0.3, 0.9), 4)}
            for h in get_neighbours(c, 2)
        ],
        "notable_users": [_summary_user(c, h) for h in get_neighbours(c, 2)],
    }


def _summary_user(c: Creator, handle: str) -> dict[str, Any]:
    stats = get_stats(c.platform, handle)
    code, name = COUNTRIES[int(stats.user_id) % len(COUNTRIES)]
    coords = {"lat": 40.0, "lon": -3.7}
    country = {
        "id": 1000 + COUNTRIES.index((code, name)),
        "name": name,
        "code": code,
        "coords": coords,
    }
    place = {"id": 5000, "name": f"{name} City", "coords": coords}
    return {
        "user_id": stats.user_id,
        "username": handle,
        "picture": c.picture("thumb"),
        "followers": stats.followers,
        "fullname": stats.full_name,
        "url": LINKS.get(c.platform, "https://example.invalid/{}").format(handle),
        "geo": {"city": place, "subdivision": {**place, "id": 4000}, "country": country},
        "is_verified": stats.followers > 1_000_000,
        "engagements": int(stats.followers * stats.engagement_percent / 100),
        "stats": [
            {
                "post_type": "all",
                "engagements": int(stats.followers * stats.engagement_percent / 100),
            }
        ],
    }


def _geo(
    c: Creator, countries: tuple[tuple[str, str], ...], weights: list[dict[str, Any]]
) -> dict[str, Any]:
    top_code, top_name = countries[0]
    top = {"id": 1000, "name": top_name, "code": top_code}
    city = {"id": 5000, "name": f"{top_name} City", "coords": {"lat": 40.4, "lon": -3.7}}
    return {
        "countries": [
            {"id": 1000 + i, "name": name, "code": code, "weight": w["weight"]}
            for i, ((code, name), w) in enumerate(zip(countries, weights, strict=True))
        ],
        "states": [{"id": 3000, "name": "Capital Region", "weight": 0.12, "country": top}],
        "subdivisions": [
            {"id": 4000, "name": "Capital Region", "code": f"{top_code}-CR",
             "items": [{"id": 4001, "name": "Capital County", "weight": 0.08}]}
        ],
        "cities": [
            {**city, "weight": round(c.rng.uniform(0.01, 0.1), 6), "country": top,
             "state": {"id": 3000, "name": "Capital Region"}}
        ],
    }  # fmt: skip


def _histogram(c: Creator) -> list[dict[str, Any]]:
    edges = sorted(round(c.rng.uniform(0.4, 0.95), 4) for _ in range(4))
    buckets: list[dict[str, Any]] = [{"max": edges[0], "total": c.rng.randint(100, 9000)}]
    for low, high in itertools.pairwise(edges):
        buckets.append({"min": low, "max": high, "total": c.rng.randint(100, 9000)})
    buckets[2]["median"] = True
    return buckets


def build_audience(c: Creator) -> dict[str, Any]:
    """The ``audience`` block: followers and likers data, commenters empty, histograms."""
    likers = _audience_data(c)
    likers["audience_accounts_created_at"] = build_weights(c, ["2023-Q4", "2024-Q4", "2025-Q4"])
    return {
        "audience_followers": {"success": True, "data": _audience_data(c), "is_hidden": False},
        "audience_commenters": {"success": False, "error": "empty_audience"},
        "audience_likers": (
            {"success": False, "error": "empty_audience"}
            if c.platform == "tiktok"
            else {"success": True, "data": likers}
        ),
        "audience_credibility_followers_histogram": _histogram(c),
        "audience_credibility_likers_histogram": _histogram(c),
    }
