"""Test-side wrappers around a metadata store: count commits, fail some on purpose."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sluice.storage.local_meta import LocalMetaStore


class RecordingStore(LocalMetaStore):
    """A local store that counts its commits and can fail the next ``fail_next`` of them."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.commits: list[dict[str, bytes]] = []
        self.fail_next = 0

    def commit(self, puts: Mapping[str, bytes], deletes: Iterable[str] = ()) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError(28, "No space left on device")
        self.commits.append(dict(puts))
        super().commit(puts, deletes)
