"""A collection's segment manifest: segments, binlogs and channel checkpoints.

``<data>/collections/<id>/manifest.json`` is replaced atomically (temp file,
fsync, rename, fsync directory) whenever persisted state changes: a binlog
was written, a segment changed state, a checkpoint moved.  Everything in it
describes files that were fully written and fsynced *before* the manifest
naming them was committed, and checkpoints never point past the durable end
of their WAL.  Recovery loads the manifest and replays each channel's WAL
from its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice.storage.atomic import read_json, write_json_atomic


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

    @classmethod
    def load(cls, path: Path) -> Manifest:
        if not path.exists():
            return cls()
        raw = read_json(path)
        return cls(
            segments=list(raw["segments"]),
            channels={name: ChannelState(**state) for name, state in raw["channels"].items()},
        )

    def save(self, path: Path) -> None:
        write_json_atomic(
            path,
            {
                "version": 1,
                "segments": self.segments,
                "channels": {name: s.to_dict() for name, s in self.channels.items()},
            },
        )
