"""HubSpot's file manager: the upload, look-up and archive verbs the picture backend uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")
Call = Callable[..., Any]

UPLOAD_OPTIONS = {
    "access": "PUBLIC_NOT_INDEXABLE",
    "overwrite": False,
    # Same bytes uploaded again (another worker, a restart) give back the file already there.
    "duplicateValidationStrategy": "RETURN_EXISTING",
    "duplicateValidationScope": "EXACT_FOLDER",
}


class HubSpotFiles:
    """Files API verbs; ``call`` is the CRM client's budgeted, timed, translating call."""

    def __init__(self, files_api: Any, call: Callable[..., Any]) -> None:
        self._files = files_api
        self._call = call

    def upload_file(self, path: str, *, folder: str, name: str) -> str | None:
        """Upload a public, unindexed file once per content; its URL (None if HubSpot gave none)."""
        uploaded = self._call(
            "upload a profile picture to the file manager",
            self._files.upload,
            file=path,
            folder_path=folder,
            file_name=name,
            options=json.dumps(UPLOAD_OPTIONS),
        )
        url = getattr(uploaded, "url", None) or getattr(uploaded, "default_hosting_url", None)
        return url if isinstance(url, str) else None

    def fetch_file_id(self, path: str) -> str | None:
        """The id of the file at ``path`` (``/folder/name``), None when it is not there."""
        found = self._call("look up a profile picture", self._files.get_metadata, path)
        file_id = getattr(found, "id", None)
        return str(file_id) if file_id else None

    def archive_file(self, file_id: str) -> None:
        """Archive (delete) a file."""
        self._call("delete a profile picture", self._files.archive, file_id)
