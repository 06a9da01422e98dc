"""Signed, expiring synthetic profile pictures served by the influencers.club sandbox."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct
import time
import zlib
from dataclasses import dataclass

from flask import Blueprint, Response

DEFAULT_SECRET = b"influencers-club-sandbox-images"
DEFAULT_BASE_URL = "https://pictures.sandbox.invalid"
OVERSIZED_BYTES = 6_500_000

_JPEG_FRACTION = 0.3
_OVERSIZED_FRACTION = 0.02


@dataclass(frozen=True)
class ImageRef:
    """What a signed picture token names: the creator, the picture kind and its expiry."""

    platform: str
    handle: str
    kind: str
    expires: int


class ImageTokenError(Exception):
    """The token is malformed, its signature is wrong, or it has expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _sign(payload: str, secret: bytes) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:32]


def build_image_token(ref: ImageRef, *, secret: bytes = DEFAULT_SECRET) -> str:
    """Encode and sign ``ref`` like the query string of a presigned URL."""
    payload = f"{ref.platform}|{ref.handle}|{ref.kind}|{ref.expires}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{_sign(payload, secret)}"


def build_image_url(
    base_url: str | None,
    platform: str,
    handle: str,
    kind: str,
    *,
    lifetime: float,
    now: float | None = None,
    secret: bytes = DEFAULT_SECRET,
) -> str:
    """Return ``{base_url}/_sandbox/img/<token>.jpg`` valid for ``lifetime`` seconds."""
    expires = int((time.time() if now is None else now) + lifetime)
    token = build_image_token(ImageRef(platform, handle, kind, expires), secret=secret)
    return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/_sandbox/img/{token}.jpg"


def parse_image_token(
    token: str, *, now: float | None = None, secret: bytes = DEFAULT_SECRET
) -> ImageRef:
    """Check the signature and expiry of ``token``; raise ``ImageTokenError`` otherwise."""
    encoded, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        platform, handle, kind, expires = payload.split("|")
        ref = ImageRef(platform, handle, kind, int(expires))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ImageTokenError("AccessDenied", "Query-string authentication is malformed") from None
    if not hmac.compare_digest(signature, _sign(payload, secret)):
        raise ImageTokenError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    if ref.expires < (time.time() if now is None else now):
        raise ImageTokenError("AccessDenied", "Request has expired")
    return ref


def _fraction(ref: ImageRef, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}|{ref.platform}:{ref.handle}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def build_png(seed: bytes, *, width: int = 32, height: int = 32, level: int = 9) -> bytes:
    """A valid RGB PNG whose colour bands come from ``seed`` (unique per creator)."""
    rows = []
    for y in range(height):
        offset = (y * 3 // max(1, height // 8)) % (len(seed) - 2)
        rows.append(b"\x00" + seed[offset : offset + 3] * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"tEXt", b"Comment\x00" + seed.hex().encode()),
            _png_chunk(b"IDAT", zlib.compress(b"".join(rows), level)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _jpeg_segment(marker: int, data: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data


def _dc_bits(diff: int) -> tuple[int, int]:
    category = abs(diff).bit_length()
    value = diff if diff >= 0 else diff + (1 << category) - 1
    return category, value


def build_jpeg(rgb: tuple[int, int, int], comment: bytes = b"") -> bytes:
    """A valid baseline 8x8 JPEG of one colour (DC-only blocks, minimal Huffman tables)."""
    r, g, b = rgb
    ycc = (
        0.299 * r + 0.587 * g + 0.114 * b,
        128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
        128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
    )
    bits = ""
    for component in ycc:
        # A flat 8x8 block's DC coefficient is 8 x (level - 128) with an all-ones quant table.
        category, value = _dc_bits(round(8 * (min(255.0, max(0.0, component)) - 128)))
        bits += format(category, "04b") + (format(value, f"0{category}b") if category else "")
        bits += "0"  # EOB: every AC coefficient is zero
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)).replace(
        b"\xff", b"\xff\x00"
    )
    dc_table = b"\x00" + bytes([0, 0, 0, 12] + [0] * 12) + bytes(range(12))
    ac_table = b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    parts = [
        b"\xff\xd8",
        _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _jpeg_segment(0xFE, comment) if comment else b"",
        _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64),
        _jpeg_segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 3) + components),
        _jpeg_segment(0xC4, dc_table + ac_table),
        _jpeg_segment(
            0xDA, b"\x03" + b"".join(bytes([i, 0x00]) for i in (1, 2, 3)) + b"\x00\x3f\x00"
        ),
        scan,
        b"\xff\xd9",
    ]
    return b"".join(parts)


@functools.lru_cache(maxsize=4)
def _oversized_png(seed: bytes) -> bytes:
    # Stored (level 0) so that the body really is larger than a rehosting size cap.
    return build_png(seed, width=1600, height=1360, level=0)


def render_image(ref: ImageRef) -> tuple[bytes, str]:
    """Return the picture bytes and the content type the sandbox serves for ``ref``."""
    seed = hashlib.sha256(f"{ref.platform}:{ref.handle}:{ref.kind}".encode()).digest()
    if "badpic" in ref.handle:
        page = f"<html><body><h1>Not an image</h1><p>{ref.handle}</p></body></html>"
        return page.encode(), "image/jpeg"
    if "bigpic" in ref.handle or _fraction(ref, "bigpic") < _OVERSIZED_FRACTION:
        return _oversized_png(seed), "image/png"
    if _fraction(ref, "jpeg") < _JPEG_FRACTION:
        comment = f"{ref.platform}:{ref.handle}:{ref.kind}".encode()
        return build_jpeg((seed[0], seed[1], seed[2]), comment), "image/jpeg"
    return build_png(seed), "image/png"


def _denied(error: ImageTokenError) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{error.message}</Message>"
        "<RequestId>SANDBOX</RequestId></Error>"
    )
    return Response(body, status=403, content_type="application/xml")


def create_images_blueprint(secret: bytes = DEFAULT_SECRET) -> Blueprint:
    """Blueprint serving ``GET /_sandbox/img/<token>.jpg``: 403 when tampered or expired."""
    blueprint = Blueprint("sandbox_images", __name__)

    @blueprint.get("/_sandbox/img/<token>.jpg")
    def image(token: str) -> Response:
        try:
            ref = parse_image_token(token, secret=secret)
        except ImageTokenError as exc:
            return _denied(exc)
        body, content_type = render_image(ref)
        response = Response(body, status=200, content_type=content_type)
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response

    return blueprint
