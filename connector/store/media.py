"""Rehosted media files with their references, and creators found by discovery searches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase
from connector.store.models import Media
from connector.store.schema import discovered, media, media_blobs, media_refs


def _media(row: Any) -> Media:
    return Media(row.content_hash, row.ext, row.content_type, int(row.size), row.created_at)


class MediaMixin(StoreBase):
    """Media bookkeeping (files live elsewhere) and discovery results."""

    def save_media(self, content_hash: str, ext: str, content_type: str, size: int) -> bool:
        """Record a stored file; False when the same content was already recorded."""
        stmt = (
            self.insert(media)
            .values(
                content_hash=content_hash,
                ext=ext,
                content_type=content_type,
                size=size,
                created_at=self.now(),
            )
            .on_conflict_do_nothing()
            .returning(media.c.content_hash)
        )
        return self.transaction(lambda conn: conn.execute(stmt).first() is not None)

    def get_media(self, content_hash: str) -> Media | None:
        """The recorded file with ``content_hash``, or None."""
        query = sa.select(media).where(media.c.content_hash == content_hash)
        row = self.transaction(lambda conn: conn.execute(query).first())
        return _media(row) if row else None

    def add_media_ref(self, content_hash: str, source: str, identity: str) -> None:
        """Point ``identity`` of ``source`` at the file (replacing its previous picture)."""
        stmt = self.insert(media_refs).values(
            source=source, identity=identity, content_hash=content_hash, updated_at=self.now()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "identity"],
            set_={
                "content_hash": stmt.excluded.content_hash,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        self.transaction(lambda conn: conn.execute(stmt))

    def fetch_unreferenced_media(self, older_than: timedelta) -> list[Media]:
        """Files no record points at, recorded more than ``older_than`` ago."""
        cutoff = self.now() - older_than
        referenced = sa.select(media_refs.c.content_hash).where(
            media_refs.c.content_hash == media.c.content_hash
        )
        query = (
            sa.select(media)
            .where(media.c.created_at < cutoff, ~referenced.exists())
            .order_by(media.c.created_at)
        )
        return self.transaction(lambda conn: [_media(r) for r in conn.execute(query)])

    def delete_media(self, content_hash: str) -> bool:
        """Forget a file that is still unreferenced; False if it is referenced again or gone."""
        referenced = sa.select(media_refs.c.content_hash).where(
            media_refs.c.content_hash == content_hash
        )
        stmt = sa.delete(media).where(media.c.content_hash == content_hash, ~referenced.exists())
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def save_media_blob(self, content_hash: str, data: bytes) -> bool:
        """Keep the bytes of a picture; False when they were already kept."""
        stmt = (
            self.insert(media_blobs)
            .values(content_hash=content_hash, data=data, created_at=self.now())
            .on_conflict_do_nothing()
            .returning(media_blobs.c.content_hash)
        )
        return self.transaction(lambda conn: conn.execute(stmt).first() is not None)

    def get_media_blob(self, content_hash: str) -> bytes | None:
        """The kept bytes of a picture, or None."""
        query = sa.select(media_blobs.c.data).where(media_blobs.c.content_hash == content_hash)
        data = self.transaction(lambda conn: conn.execute(query).scalar())
        return bytes(data) if data is not None else None

    def has_media_blob(self, content_hash: str) -> bool:
        """Whether the bytes of a picture are kept (without reading them)."""
        query = sa.select(media_blobs.c.content_hash).where(
            media_blobs.c.content_hash == content_hash
        )
        return self.transaction(lambda conn: conn.execute(query).first() is not None)

    def delete_media_blob(self, content_hash: str) -> bool:
        """Drop the bytes of a picture; False when they were not kept."""
        stmt = sa.delete(media_blobs).where(media_blobs.c.content_hash == content_hash)
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def save_discovered(
        self, search: str, platform: str, handle_key: str, destination: str
    ) -> bool:
        """Record a creator found by ``search``; False if it was found before (by any search)."""
        stmt = (
            self.insert(discovered)
            .values(
                platform=platform,
                handle_key=handle_key,
                search=search,
                destination=destination,
                discovered_at=self.now(),
            )
            .on_conflict_do_nothing()
            .returning(discovered.c.handle_key)
        )
        return self.transaction(lambda conn: conn.execute(stmt).first() is not None)

    def fetch_discovered_handles(self, platform: str) -> set[str]:
        """Handle keys already discovered on ``platform``."""
        query = sa.select(discovered.c.handle_key).where(discovered.c.platform == platform)
        return self.transaction(lambda conn: set(conn.execute(query).scalars().all()))

    def count_discovered(self, search: str | None = None) -> dict[str, int]:
        """Creators discovered per search (only ``search`` when given)."""
        query = sa.select(discovered.c.search, sa.func.count()).group_by(discovered.c.search)
        if search is not None:
            query = query.where(discovered.c.search == search)
        return self.transaction(lambda conn: {r[0]: int(r[1]) for r in conn.execute(query)})
