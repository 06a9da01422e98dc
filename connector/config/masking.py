"""Masking of secrets before anything is shown, logged or stored: secret fields and URL parts.

The one rule for URLs (``mask_url``): the user-info, the query string and the fragment are
replaced by ``MASK``, because that is where keys, signatures and passwords travel
(``redis://:pw@host``, ``?access_key=…``, ``#access_token=…``). Scheme, host, port and path stay
readable so the URL can still be recognised.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

MASK = "**********"
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


def mask_url(url: str) -> str:
    """``url`` with its user-info, query string and fragment replaced by ``MASK``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition('://')[0]}://{MASK}"
    if not parts.scheme:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    masked = f"{parts.scheme}://{netloc}{parts.path}"
    if parts.query:
        masked += f"?{MASK}"
    if parts.fragment:
        masked += f"#{MASK}"
    return masked


def mask_urls(text: str) -> str:
    """``text`` with every URL in it passed through ``mask_url``."""
    return _URL.sub(lambda match: mask_url(match.group(0)), text)


def mask_value(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced by ``MASK`` and every URL masked."""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, str):
        return mask_urls(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value
