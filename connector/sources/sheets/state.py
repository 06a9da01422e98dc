"""What a sheet source remembers between calls: the worksheet's metadata and its open claims."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class HasTargets(Protocol):
    """The part of a mapping the source needs: the ordered target column headers."""

    @property
    def targets(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class SheetInfo:
    """The worksheet's id, title and size, as last fetched."""

    sheet_id: int
    title: str
    column_count: int
    fetched_at: float


@dataclass
class ClaimState:
    """A row this worker claimed: whose it is, when, and the values it held then."""

    identity: str
    claimed_at: float
    current: dict[str, Any] = field(default_factory=dict)
