"""The demo's seed data and settings: a mixed sheet, a HubSpot list, alerts and a search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.sandbox.stack import SandboxStack

ALERT_SECRET = "whsec_" + "ZGVtby1zZWNyZXQtZm9yLXNpZ25lZC13ZWJob29rcw=="
PICTURE_COLUMN = "Profile Picture"
IMAGE_LIFETIME = 15

SHEET_ROWS: list[list[str]] = [
    ["@found_ana.fit", "instagram"],
    ["https://www.instagram.com/found_ben.travel/", ""],
    ["found_cara_cooks", "Instagram"],
    ["instagram.com/found_ana.fit?utm_source=ig_web", ""],
    ["https://www.tiktok.com/@found_dan.dance", ""],
    ["@found_eve.comedy", "TikTok"],
    ["https://www.youtube.com/@FoundFitChannel", ""],
    ["https://x.com/found_gus", ""],
    ["@found_gus", "X"],
    ["https://www.twitch.tv/found_hal_plays", ""],
    ["notfound_ivy", "instagram"],
    ["ghost_jack", "tiktok"],
    ["n/a", "instagram"],
    ["two words", "instagram"],
    ["https://www.instagram.com/p/Cabc123/", ""],
    ["jane,john", "instagram"],
    *[[f"found_crm_{i:03d}", "instagram"] for i in range(0, 12)],
    *[
        [f"@found_sheet_{i:02d}", p]
        for i, p in zip(range(12), ["instagram", "tiktok", "youtube", "twitter"] * 3, strict=True)
    ],
]
HUBSPOT_HANDLES = [f"found_crm_{i:03d}" for i in range(290)] + [
    f"notfound_crm_{i}" for i in range(10)
]
# Contacts with only an e-mail: the crm source looks them up (0.05 a hit, misses free), then
# enriches the creator found; found_crm_001/002 and found_sheet_00 are also named by handle
# (in this list and in the leads sheet), so they are paid for once.
HUBSPOT_EMAIL_ONLY = [
    *[f"found_mail_{i:02d}+instagram@example.com" for i in range(8)],
    "found_mail_tt+tiktok@example.com",
    "found_crm_001+instagram@example.com",
    "found_crm_002+instagram@example.com",
    "found_sheet_00+instagram@example.com",
    "ghost_mail_01@example.com",
    "ghost_mail_02@example.com",
    "info@brand.example",
    "sales@brand.example",
    "noreply@brand.example",
]
HUBSPOT_EMAILS = [f"creator{i}@example.com" for i in range(len(HUBSPOT_HANDLES))] + (
    HUBSPOT_EMAIL_ONLY
)
# A sheet that only wants names, counts and bios: enriched in the Raw tier (0.03 a creator).
# @found_ana.fit is in the leads sheet too: a Full answer serves this Raw request when it
# lands first.
RAW_SHEET_ROWS: list[list[str]] = [
    *[
        [f"@found_aud_{i:02d}", p]
        for i, p in zip(range(10), ["instagram", "tiktok", "twitter", "youtube"] * 3, strict=False)
    ],
    ["@found_ana.fit", "instagram"],
    ["ghost_aud", "tiktok"],
]
RAW_HEADER = ["Handle", "Platform", "Followers", "Bio"]


def build_demo_settings(
    stack: SandboxStack,
    *,
    data_dir: Path,
    database_url: str,
    sheet_key: str,
    list_id: str,
    slack_url: str,
    webhook_url: str,
    web_url: str,
    token: str,
    raw_sheet_key: str | None = None,
) -> dict[str, Any]:
    """The demo's settings: sources, alerts, a saved search and compressed timings.

    The state database is named explicitly, so that the web app can run with a data directory
    of its own, as on any PaaS; the pictures live in that database, where it serves them from.
    """
    sources = [
        {
            "name": "leads",
            "type": "sheets",
            "spreadsheet": sheet_key,
            "platform_column": "Platform",
            "poll_interval": 2,
            "reconcile_every": 10,
        },
        {
            "name": "crm",
            "type": "hubspot",
            "list": list_id,
            "platform": "instagram",
            "handle_property": "instagram_handle",
            "identify_by": "handle_then_email",
            "poll_interval": 3,
        },
    ]
    if raw_sheet_key is not None:
        sources.append(
            {
                "name": "audience",
                "type": "sheets",
                "spreadsheet": raw_sheet_key,
                "platform_column": "Platform",
                "mode": "raw",
                "mapping": "mappings/sheets_raw.yaml",
                "poll_interval": 2,
                "reconcile_every": 10,
            }
        )
    return stack.settings_data(
        data_dir=data_dir,
        database_url=database_url,
        sources=sources,
        public_base_url=web_url,
        pipeline={"batch_poll_seconds": 1, "outbox_flush_every": 2, "approval_over": 150},
        credits={
            "check_every": 3,
            "low_balance": [{"level": "warn", "below": 500}, {"level": "critical", "below": 100}],
        },
        alerts={
            "channels": [
                {"type": "slack", "webhook_url": slack_url},
                {"type": "webhook", "url": webhook_url, "secret": ALERT_SECRET},
            ]
        },
        web={"auth_token": token},
        media={"backend": "database"},
        discovery={
            "searches": [
                {
                    "name": "fitness-tiktok",
                    "platform": "tiktok",
                    "filters": {"number_of_followers": {"min": 10000, "max": 100000}},
                    "sort_by": "number_of_followers",
                    "target": 15,
                    "page_size": 10,
                    "every": 3600,
                    "destination": "leads",
                }
            ]
        },
    )
