"""The ``local`` media backend: files in one directory, for web and worker on one disk."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from connector.errors import TransientError
from connector.media.base import MediaUrls
from connector.media.fetch import MediaUnavailableError
from connector.media.urls import parse_media_name


class LocalMediaBackend(MediaUrls):
    """Files named ``<hash>.<ext>`` in one directory, served by the web app under ``/media/``."""

    def __init__(self, directory: str | os.PathLike[str], public_base_url: str | None) -> None:
        super().__init__(public_base_url)
        self.directory = Path(directory)

    def path_for(self, content_hash: str, ext: str) -> Path:
        """The file's path (the name is validated, so no path tricks)."""
        name = f"{content_hash}.{ext}"
        parse_media_name(name)
        return self.directory / name

    def put(self, content_hash: str, ext: str, data: bytes, content_type: str) -> str:
        """Write the file atomically unless it is already there."""
        url = self.url_for(content_hash, ext)
        path = self.path_for(content_hash, ext)
        if path.is_file() and path.stat().st_size == len(data):
            return url
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.chmod(temp, 0o644)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise MediaUnavailableError(
                f"cannot write {path.name} into {self.directory}: {exc.strerror or exc}"
            ) from exc
        return url

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the file is in the directory."""
        return self.path_for(content_hash, ext).is_file()

    def delete(self, content_hash: str, ext: str) -> bool:
        """Remove the file; False when it was not there."""
        try:
            self.path_for(content_hash, ext).unlink()
        except FileNotFoundError:
            return False
        return True

    def fetch(self, content_hash: str, ext: str) -> bytes | None:
        """The file's bytes, or None when it is not in the directory."""
        try:
            return self.path_for(content_hash, ext).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TransientError(f"cannot read {content_hash}.{ext}: {exc.strerror}") from exc

    def check(self) -> None:
        """The directory is readable, or not created yet (nothing rehosted so far)."""
        if self.directory.exists() and not os.access(self.directory, os.R_OK | os.X_OK):
            raise TransientError(f"media directory {self.directory} is not readable")
