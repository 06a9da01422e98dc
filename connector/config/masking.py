"""Masking of secrets in settings before they are shown: secret fields and URL passwords."""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

MASK = "**********"
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)")


def mask_value(value: Any) -> Any:
    """A copy of ``value`` with secrets and passwords inside URLs replaced by ``MASK``."""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, str):
        # URLs such as redis://:password@host carry their secret inline.
        return _URL_PASSWORD.sub(r"\1" + MASK + r"\2", value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value
