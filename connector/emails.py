"""Pure parsing of e-mail addresses: normalisation, and refusing what can name no creator."""

from __future__ import annotations

import re

from connector.errors import InvalidEmailError

MAX_EMAIL_CHARS = 254
MAX_LOCAL_CHARS = 64
# Local parts that name a function of an organisation, not a person: influencers.club would
# bill 0.05 credits to tell us no creator owns them (or the wrong one). Creators' own business
# addresses (``booking@``, ``collabs@``, ``management@``) reach the creator and are kept.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "accounting",
        "accounts",
        "admin",
        "administrator",
        "billing",
        "careers",
        "contact",
        "customerservice",
        "do-not-reply",
        "donotreply",
        "enquiries",
        "enquiry",
        "help",
        "hello",
        "hostmaster",
        "hr",
        "info",
        "inquiries",
        "inquiry",
        "invoices",
        "jobs",
        "legal",
        "mail",
        "mailer-daemon",
        "marketing",
        "news",
        "newsletter",
        "no-reply",
        "noreply",
        "office",
        "orders",
        "postmaster",
        "privacy",
        "sales",
        "security",
        "service",
        "support",
        "team",
        "webmaster",
    }
)
_PLACEHOLDERS = frozenset({"", "-", "--", "?", "n/a", "na", "none", "null", "unknown", "tbd", "@"})
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_INVISIBLE = "\u200b\ufeff\u00a0"


def parse_email(text: object) -> str:
    """The normalised address (trimmed, lower-cased) or ``InvalidEmailError`` saying why not.

    Refuses what could never be a creator's address without a paid lookup: placeholders,
    several addresses in one cell, malformed addresses and role-based ones (``info@``, …).
    """
    raw = "" if text is None else str(text)
    cleaned = raw.strip().strip(_INVISIBLE).strip().lower().removeprefix("mailto:")
    if cleaned in _PLACEHOLDERS:
        raise InvalidEmailError("empty or placeholder value", hint="enter the creator's e-mail")
    if any(sep in cleaned for sep in (",", ";", "\n")) or cleaned.count("@") > 1:
        raise InvalidEmailError("several addresses in one cell", hint="keep one e-mail per record")
    if any(ch.isspace() for ch in cleaned):
        raise InvalidEmailError("contains spaces", hint="an e-mail address has no spaces")
    local, at, domain = cleaned.partition("@")
    if not at or not local or not domain:
        raise InvalidEmailError("not an e-mail address (name@domain.tld)")
    if len(cleaned) > MAX_EMAIL_CHARS or len(local) > MAX_LOCAL_CHARS:
        raise InvalidEmailError(f"too long (at most {MAX_EMAIL_CHARS} characters)")
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmailError(f"the part before @ is not valid ({local!r})")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidEmailError(f"the domain is not valid ({domain!r})")
    if not _TLD.match(labels[-1]):
        raise InvalidEmailError(f"the domain has no valid ending ({domain!r})")
    if get_role(cleaned) is not None:
        raise InvalidEmailError(
            f"role-based address ({local.partition('+')[0]}@): it names a function, not a creator",
            hint="enter the creator's personal or business e-mail",
        )
    return cleaned


def get_role(address: str) -> str | None:
    """The role word of a role-based address (``info`` for ``Info+x@a.com``), else ``None``."""
    local = address.strip().lower().partition("@")[0].partition("+")[0]
    return local if local in ROLE_LOCAL_PARTS else None
