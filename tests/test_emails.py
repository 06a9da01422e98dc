"""E-mail parsing: normalisation, and every reason an address is refused without a lookup."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.emails import ROLE_LOCAL_PARTS, get_role, parse_email
from connector.errors import InvalidEmailError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("\ufeffjane+collabs@example.co.uk\u200b", "jane+collabs@example.co.uk"),
        ("mailto:Jane@Example.com", "jane@example.com"),
        ("booking@janeruns.com", "booking@janeruns.com"),
        ("o'neil@example.ie", "o'neil@example.ie"),
        ("jane@xn--bcher-kva.example", "jane@xn--bcher-kva.example"),
    ],
)
def test_usable_addresses_are_trimmed_and_lower_cased(text: str, expected: str) -> None:
    assert parse_email(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty or placeholder"),
        ("n/a", "empty or placeholder"),
        (None, "empty or placeholder"),
        ("jane@example.com, joe@example.com", "several addresses"),
        ("jane@@example.com", "several addresses"),
        ("jane doe@example.com", "contains spaces"),
        ("jane.example.com", "not an e-mail address"),
        ("@example.com", "not an e-mail address"),
        ("jane@", "not an e-mail address"),
        ("jane..doe@example.com", "the part before @ is not valid"),
        (".jane@example.com", "the part before @ is not valid"),
        ("jane(at)@example.com", "the part before @ is not valid"),
        ("jane@localhost", "the domain is not valid"),
        ("jane@-example.com", "the domain is not valid"),
        ("jane@example.c0m", "no valid ending"),
        ("info@brand.com", "role-based address (info@)"),
        ("Sales+eu@brand.com", "role-based address (sales@)"),
        ("noreply@brand.com", "role-based address (noreply@)"),
        ("a" * 65 + "@example.com", "too long"),
    ],
)
def test_unusable_addresses_say_why(text: str | None, reason: str) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        parse_email(text)
    assert reason in caught.value.message


@pytest.mark.parametrize("role", sorted(ROLE_LOCAL_PARTS))
def test_every_role_word_is_refused(role: str) -> None:
    assert get_role(f"{role}@example.com") == role
    with pytest.raises(InvalidEmailError, match="role-based"):
        parse_email(f"{role}@example.com")


_LOCAL = st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s and s.partition("+")[0] not in ROLE_LOCAL_PARTS
)
_DOMAIN = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){0,2}\.[a-z]{2,6}", fullmatch=True)


@given(local=_LOCAL, domain=_DOMAIN, pad=st.sampled_from(["", " ", "\t", "\u200b"]))
def test_parsing_is_idempotent_and_case_insensitive(local: str, domain: str, pad: str) -> None:
    address = f"{local}@{domain}"
    parsed = parse_email(pad + address.upper() + pad)
    assert parsed == address
    assert parse_email(parsed) == parsed


@given(st.text(max_size=80))
def test_any_text_is_parsed_or_refused_with_a_reason(text: str) -> None:
    try:
        parsed = parse_email(text)
    except InvalidEmailError as exc:
        assert exc.message
    else:
        assert parsed == parsed.strip().lower() and parsed.count("@") == 1
