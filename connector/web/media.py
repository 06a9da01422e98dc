"""Read-only serving of rehosted pictures at ``/media/<content hash>.<ext>`` (local backend)."""

from __future__ import annotations

from flask import Blueprint, Response, send_file

from connector.media.fetch import IMAGE_TYPES
from connector.media.store import get_media_directory
from connector.media.urls import parse_media_name
from connector.web.context import get_services
from connector.web.errors import error_response

bp = Blueprint("media", __name__)

# The name is the content hash: the bytes behind a URL never change.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@bp.get("/media/<name>")
def serve_media(name: str) -> Response:
    """The stored picture with its recorded type, or the JSON 404 for anything else."""
    try:
        content_hash, ext = parse_media_name(name)
    except ValueError:
        return error_response(404)
    services = get_services()
    if services.settings.media.backend != "local":
        return error_response(404)
    record = services.store.get_media(content_hash)
    if record is None or record.ext != ext or record.content_type != IMAGE_TYPES[ext]:
        return error_response(404)
    path = get_media_directory(services.settings).resolve() / name
    if not path.is_file():
        return error_response(404)
    response = send_file(path, mimetype=record.content_type, etag=content_hash, conditional=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
