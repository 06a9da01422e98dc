"""What an alert says: the versioned webhook JSON body and the Slack Block Kit message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PAYLOAD_VERSION = 1
_EMOJI = {"ok": ":white_check_mark:", "warn": ":warning:", "critical": ":rotating_light:"}


@dataclass(frozen=True)
class Alert:
    """One message about one rule: what changed, the figures behind it, where to look."""

    id: str
    type: str
    rule: str
    state: str
    previous_state: str
    title: str
    text: str
    occurred_at: datetime
    value: float | None = None
    threshold: float | None = None
    credits: dict[str, Any] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    dashboard_url: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """The versioned JSON body of the generic webhook (documented in docs/alerts.md)."""
        return {
            "version": PAYLOAD_VERSION,
            "type": self.type,
            "id": self.id,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "rule": self.rule,
            "state": self.state,
            "previous_state": self.previous_state,
            "title": self.title,
            "text": self.text,
            "value": self.value,
            "threshold": self.threshold,
            "credits": dict(self.credits),
            "held": list(self.held),
            "details": dict(self.details),
            "dashboard_url": self.dashboard_url,
        }


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        whole = value.is_integer() or abs(value) >= 100
        return f"{value:,.0f}{suffix}" if whole else f"{value:,.2f}{suffix}"
    return f"{value}{suffix}"


def build_slack_message(alert: Alert) -> dict[str, Any]:
    """A Block Kit message: balance, threshold, burn rate, run-out date, held work, link."""
    credits = alert.credits
    runout = credits.get("runout_date")
    held = alert.held
    held_text = (
        "\n".join(
            f"• `{h['run_id']}` ({h['source']}): {h.get('reason') or h.get('status')}"
            for h in held[:5]
        )
        if held
        else "nothing"
    )
    fields = [
        f"*Balance*\n{_fmt(credits.get('balance'))} credits",
        f"*Threshold*\n{_fmt(alert.threshold)}",
        f"*Burn rate*\n{_fmt(credits.get('burn_rate_per_day'), ' / day')}",
        f"*Run-out*\n{runout[:10] if runout else 'no forecast yet'}",
        f"*Queued work*\n{_fmt(credits.get('queued_cost'))} credits",
        f"*Held work*\n{_fmt(credits.get('held_cost'))} credits",
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": alert.title[:150], "emoji": True},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.text[:3000]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Held runs*\n{held_text}"}},
    ]
    if alert.dashboard_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open dashboard"},
                        "url": alert.dashboard_url,
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"rule `{alert.rule}` · {alert.previous_state} → {alert.state} · "
                    f"{alert.type} · id `{alert.id}`",
                }
            ],
        }
    )
    emoji = ":test_tube:" if alert.type == "alert.test" else _EMOJI.get(alert.state, "")
    return {"text": f"{emoji} {alert.title}".strip(), "blocks": blocks}
