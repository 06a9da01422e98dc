"""What a HubSpot source remembers per contact (done, claimed, gone) and reads from it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from connector.sources.base import Status

DONE, CLAIM, GONE = "done", "claim", "gone"


def get_fingerprint(
    handle_text: str | None, platform_text: str | None = None, email_text: str | None = None
) -> str:
    """A short hash of the handle (and platform, and e-mail) text; a change re-queues the contact.

    The e-mail counts only for sources that identify creators by e-mail (pass ``None``
    otherwise), so fingerprints of handle-only sources stay as they were.
    """
    text = f"{(handle_text or '').strip()}\x1f{(platform_text or '').strip().lower()}"
    if email_text and email_text.strip():
        text += f"\x1f{email_text.strip().lower()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_known(value: str | None) -> tuple[str, float, str]:
    """``done:<fp>``, ``gone:`` or ``claim:<expires>:<fp>`` → (kind, expires, fp)."""
    kind, _, rest = (value or "").partition(":")
    if kind == CLAIM:
        expires, _, fp = rest.partition(":")
        try:
            return kind, float(expires), fp
        except ValueError:
            return kind, 0.0, fp
    return kind, 0.0, rest


def select_retry_contacts(
    wanted: Sequence[str],
    found: Mapping[str, Mapping[str, str | None]],
    *,
    named: set[str],
    known: Mapping[str, str],
    now: float,
    handle_property: str,
    status_property: str,
    email_property: str | None = None,
) -> tuple[list[str], list[str]]:
    """Contacts to set to ``retry`` (named, or in ``error``), and why the others are skipped.

    ``email_property``: the source identifies creators by e-mail too, so a contact with only
    an e-mail can be retried.
    """
    chosen: list[str] = []
    skipped: list[str] = []
    for record_id in wanted:
        values = found.get(record_id)
        if values is None:
            continue
        status = (values.get(status_property) or "").strip().lower()
        if record_id not in named and status != Status.ERROR:
            continue
        kind, expires, _ = parse_known(known.get(record_id))
        identity = [handle_property, *([email_property] if email_property else [])]
        if not any((values.get(name) or "").strip() for name in identity):
            skipped.append(
                f"contact {record_id}: no handle" + (" or e-mail" * bool(email_property))
            )
        elif kind == CLAIM and expires > now:
            skipped.append(f"contact {record_id}: being worked on ({status or 'claimed'})")
        else:
            chosen.append(record_id)
    return chosen, skipped
