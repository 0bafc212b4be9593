"""Services every collection shares: settings, clocks, IDs, storage, the persister."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.config import Settings, WalSync
from sluice.engine.ids import IdAllocator
from sluice.engine.tso import TimestampOracle
from sluice.storage.segment_files import SegmentFiles
from sluice.storage.wal import WriteAheadLog

if TYPE_CHECKING:
    from sluice.engine.channel import Channel
    from sluice.engine.collection import Collection
    from sluice.engine.segment import Segment


def _no_persister(collection: Collection, channel: Channel, urgent: bool) -> None:
    """Placeholder until the engine wires its persister in."""


def _no_index_builder(collection: Collection, segment: Segment) -> None:
    """Placeholder until the engine wires its index builder in."""


@dataclass
class EngineContext:
    settings: Settings
    tso: TimestampOracle
    ids: IdAllocator
    files: SegmentFiles
    #: ``request_persist(collection, channel, urgent)``: ask the background
    #: persister to look at a channel (``urgent`` after a flush barrier).
    request_persist: Callable[[Collection, Channel, bool], None] = field(default=_no_persister)
    #: ``request_index(collection, segment)``: a segment was flushed; build its indexes.
    request_index: Callable[[Collection, Segment], None] = field(default=_no_index_builder)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def collection_dir(self, collection_id: int) -> Path:
        return self.data_dir / "collections" / str(collection_id)

    def wal_dir(self, vchannel: str) -> Path:
        return self.data_dir / "wal" / vchannel

    def open_wal(self, vchannel: str, *, start_offset: int = 0) -> WriteAheadLog:
        """Open a channel's log (``start_offset``: where it begins if it has no file yet)."""
        return WriteAheadLog(
            self.wal_dir(vchannel),
            fsync=self.settings.wal_sync == WalSync.FSYNC,
            file_bytes=self.settings.wal_file_bytes,
            recovery=self.settings.wal_recovery,
            start_offset=start_offset,
        )
