"""The log store on a local folder: one :class:`WriteAheadLog` directory per channel."""

from __future__ import annotations

import shutil
from pathlib import Path

from sluice.config import WalRecovery
from sluice.storage.wal import WriteAheadLog


class LocalLogStore:
    """:class:`~sluice.storage.log_store.LogStore` over ``<folder>/<channel>/``."""

    def __init__(
        self,
        folder: Path,
        *,
        fsync: bool = True,
        file_bytes: int = 64 << 20,
        recovery: WalRecovery = WalRecovery.STRICT,
    ) -> None:
        self._dir = folder
        self._fsync = fsync
        self._file_bytes = file_bytes
        self._recovery = recovery

    def open(self, channel: str, *, start_offset: int = 0) -> WriteAheadLog:
        return WriteAheadLog(
            self._dir / channel,
            fsync=self._fsync,
            file_bytes=self._file_bytes,
            recovery=self._recovery,
            start_offset=start_offset,
        )

    def drop(self, channel: str) -> None:
        shutil.rmtree(self._dir / channel, ignore_errors=True)

    def channels(self) -> list[str]:
        if not self._dir.exists():
            return []
        return sorted(p.name for p in self._dir.iterdir() if p.is_dir())
