"""Read-only serving of rehosted pictures at ``/media/<content hash>.<ext>``, from any backend.

The bytes come from the configured backend (a local directory, the state database or an S3
bucket), so any web process serves what any worker stored. The type is the one recorded when
the bytes were sniffed, never guessed again, and the name is the content hash: the bytes behind
a URL never change, so they are cached for a year.
"""

from __future__ import annotations

import io

from flask import Blueprint, Response, send_file

from connector.media.fetch import IMAGE_TYPES
from connector.media.store import SERVED_BACKENDS
from connector.media.urls import parse_media_name
from connector.web.context import get_services
from connector.web.errors import error_response

bp = Blueprint("media", __name__)

CACHE_CONTROL = "public, max-age=31536000, immutable"


@bp.get("/media/<name>")
def serve_media(name: str) -> Response:
    """The stored picture with its recorded type, or the JSON 404 for anything else."""
    try:
        content_hash, ext = parse_media_name(name)
    except ValueError:
        return error_response(404)
    services = get_services()
    if services.settings.media_backend not in SERVED_BACKENDS or services.media is None:
        return error_response(404)
    record = services.store.get_media(content_hash)
    if record is None or record.ext != ext or record.content_type != IMAGE_TYPES[ext]:
        return error_response(404)
    data = services.media.fetch(content_hash, ext)
    if data is None:
        return error_response(404)
    response = send_file(
        io.BytesIO(data),
        mimetype=record.content_type,
        etag=content_hash,
        conditional=True,
        last_modified=record.created_at,
        max_age=None,
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
