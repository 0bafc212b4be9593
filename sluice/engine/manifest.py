"""A collection's segment manifest: segments, binlogs and channel checkpoints.

The metadata-store key ``collection/<id>/manifest`` is committed atomically
whenever persisted state changes: a binlog was written, a segment changed
state, a checkpoint moved.  Everything in it
describes files that were fully written and fsynced *before* the manifest
naming them was committed, and checkpoints never point past the durable end
of their WAL.  Recovery loads the manifest and replays each channel's WAL
from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from sluice.storage.meta_store import MetaStore


@dataclass
class ChannelState:
    """What a channel has persisted: its checkpoint and how far its deletes are synced."""

    checkpoint_offset: int = 0
    checkpoint_ts: int = 0
    deletes_synced_end: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "checkpoint_offset": self.checkpoint_offset,
            "checkpoint_ts": self.checkpoint_ts,
            "deletes_synced_end": self.deletes_synced_end,
        }


@dataclass
class Manifest:
    segments: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, ChannelState] = field(default_factory=dict)

    @staticmethod
    def key(collection_id: int) -> str:
        return f"collection/{collection_id}/manifest"

    @staticmethod
    def prefix(collection_id: int) -> str:
        """Every key a collection's persisted state lives under."""
        return f"collection/{collection_id}/"

    @classmethod
    def load(cls, store: MetaStore, collection_id: int) -> Manifest:
        data = store.get(cls.key(collection_id))
        if data is None:
            return cls()
        raw = orjson.loads(data)
        return cls(
            segments=list(raw["segments"]),
            channels={name: ChannelState(**state) for name, state in raw["channels"].items()},
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "version": 1,
                "segments": self.segments,
                "channels": {name: s.to_dict() for name, s in self.channels.items()},
            }
        )

    def save(
        self, store: MetaStore, collection_id: int, also: Mapping[str, bytes] | None = None
    ) -> None:
        """Commit this manifest, and ``also``'s keys in the same atomic commit."""
        store.commit({self.key(collection_id): self.encode(), **(also or {})})
