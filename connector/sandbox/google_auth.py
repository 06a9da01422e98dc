"""Service-account keys for the Google sandbox and verification of their JWT-bearer assertions."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_CLIENT_EMAIL = "connector@sandbox-project.iam.gserviceaccount.com"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
)
MAX_ASSERTION_LIFETIME = 3600
_CLOCK_SKEW = 300


class GrantError(ValueError):
    """An assertion Google's token endpoint answers with ``invalid_grant``."""


def build_service_account_info(
    token_uri: str, client_email: str = DEFAULT_CLIENT_EMAIL
) -> dict[str, Any]:
    """A real-looking service-account JSON with a freshly generated 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    project = client_email.split("@", 1)[-1].split(".", 1)[0]
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**21 - 10**20) + 10**20),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + client_email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }


def get_public_key_pem(info: Mapping[str, Any]) -> str:
    """The PEM public key matching a service-account JSON's ``private_key``."""
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parse_assertion(
    assertion: str,
    public_keys: Mapping[str, Mapping[str, str]],
    *,
    audience: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Check an RS256 JWT-bearer assertion like Google does and return its claims.

    ``public_keys`` maps a service account's ``client_email`` to its keys: ``private_key_id`` →
    PEM public key (an account may hold several keys, as on Google).
    """
    try:
        header_b64, claims_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(claims_b64))
        signature = _b64decode(signature_b64)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise GrantError("Invalid JWT: not a compact JWS.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise GrantError("Invalid JWT: not a compact JWS.")
    if header.get("alg") != "RS256":
        raise GrantError("Invalid JWT Signature.")
    keys = public_keys.get(str(claims.get("iss")))
    if not keys:
        raise GrantError("Invalid grant: account not found")
    pem = keys.get(str(header.get("kid")))
    if pem is None:
        raise GrantError("Invalid JWT Signature.")
    public_key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise GrantError("Invalid JWT Signature.")
    try:
        public_key.verify(
            signature,
            f"{header_b64}.{claims_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise GrantError("Invalid JWT Signature.") from exc
    # google-auth always signs for Google's endpoint, whatever ``token_uri`` says.
    if claims.get("aud") not in (audience, *GOOGLE_TOKEN_AUDIENCES):
        raise GrantError("Invalid JWT: Failed audience check.")
    now = time.time() if now is None else now
    iat, exp = claims.get("iat"), claims.get("exp")
    if (
        not isinstance(iat, (int, float))
        or not isinstance(exp, (int, float))
        or exp - iat > MAX_ASSERTION_LIFETIME
        or iat > now + _CLOCK_SKEW
        or exp < now - _CLOCK_SKEW
    ):
        raise GrantError(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        )
    return claims
