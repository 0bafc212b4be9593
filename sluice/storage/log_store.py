"""The log store: one durable, ordered record log per virtual channel.

The engine appends every insert, delete, seal and flush to its channel's log
before applying it, acknowledges a write only after :meth:`ChannelLog.sync`,
and replays the log from a checkpoint after a restart.  It speaks only to
these two protocols; the local implementation is
:class:`~sluice.storage.wal.WriteAheadLog` files under one folder.

Contract (``tests/storage/test_log_store_contract.py`` runs it over every
implementation):

* offsets are integers that grow with every record and are never reused;
  ``Record.end`` is the offset just past a record, and the next record's offset
  is at or after it;
* a record is durable once ``sync(record.end)`` has returned; ``sync`` may
  return early for records already durable;
* ``replay(start)`` yields every record at or after ``start`` in order, with
  its kind, timestamp and payload exactly as appended;
* ``truncate_before(offset)`` may forget records before ``offset`` (never
  at or after it);
* ``first_offset`` is the oldest offset still held, so recovery can tell a
  checkpoint that points at forgotten records (lost data) from a healthy one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from sluice.storage.wal import Record

#: Anything exporting the buffer protocol (bytes, memoryview, pyarrow.Buffer).
Buffer = Any


@runtime_checkable
class ChannelLog(Protocol):
    """One channel's log."""

    @property
    def end_offset(self) -> int:
        """The offset the next record will get."""
        ...

    @property
    def first_offset(self) -> int:
        """The oldest offset still held."""
        ...

    def where(self, offset: int) -> str:
        """Where the record at ``offset`` lives (a file, a stream position), for error messages."""
        ...

    def append(self, kind: int, timestamp: int, *payload: Buffer) -> Record:
        """Write one record (not yet durable); its payload is the concatenation of ``payload``."""
        ...

    def sync(self, upto: int) -> None:
        """Block until every record ending at or before ``upto`` is durable."""
        ...

    def replay(self, start: int = 0) -> Iterator[Record]:
        """Every record at or after ``start``, oldest first."""
        ...

    def truncate_before(self, offset: int) -> int:
        """Forget records wholly before ``offset``; return the bytes freed."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class LogStore(Protocol):
    """Where channel logs live."""

    def open(self, channel: str, *, start_offset: int = 0) -> ChannelLog:
        """The log of ``channel``, recovered if it has records, else empty from ``start_offset``.

        A log whose records were all persisted and trimmed must keep its offsets
        growing, so the caller passes the checkpoint it recovers from.
        """
        ...

    def drop(self, channel: str) -> None:
        """Delete ``channel``'s log (its handle must be closed)."""
        ...

    def channels(self) -> list[str]:
        """Every channel that has a log."""
        ...
