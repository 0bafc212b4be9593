"""An exclusive lock on a data folder, so two processes never share one.

The lock is an ``flock`` on ``<data>/LOCK``; the kernel drops it when the
process dies, so a crash (even ``kill -9``) never leaves a stale lock behind.
The file records the holder's PID only to make the error message useful.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sluice.errors import DataDirLockedError


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "LOCK"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(
                f"data folder {self._path.parent} is locked by another process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
