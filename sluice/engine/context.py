"""Services every collection shares: settings, clocks, IDs, stores, background work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sluice.config import Settings
from sluice.engine.ids import IdAllocator
from sluice.engine.stores import Stores
from sluice.engine.tso import TimestampOracle
from sluice.storage.log_store import ChannelLog
from sluice.storage.meta_store import MetaStore
from sluice.storage.segment_files import SegmentFiles

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
    stores: Stores
    tso: TimestampOracle
    ids: IdAllocator
    #: ``request_persist(collection, channel, urgent)``: ask the background
    #: persister to look at a channel (``urgent`` after a flush barrier).
    request_persist: Callable[[Collection, Channel, bool], None] = field(default=_no_persister)
    #: ``request_index(collection, segment)``: a segment was flushed; build its indexes.
    request_index: Callable[[Collection, Segment], None] = field(default=_no_index_builder)

    @property
    def meta(self) -> MetaStore:
        return self.stores.meta

    @property
    def files(self) -> SegmentFiles:
        return self.stores.files

    def open_wal(self, vchannel: str, *, start_offset: int = 0) -> ChannelLog:
        """Open a channel's log (``start_offset``: where it begins if it has no records yet)."""
        return self.stores.logs.open(vchannel, start_offset=start_offset)
