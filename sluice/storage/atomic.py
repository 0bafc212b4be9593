"""Crash-safe replacement of small metadata files on local disk.

A metadata file is never edited in place.  ``write_atomic`` performs, in order:

1. write the new content to ``<name>.tmp`` in the same directory;
2. ``fsync`` the temporary file, so its bytes are on disk;
3. ``os.replace`` it over ``<name>`` (atomic on POSIX);
4. ``fsync`` the directory, so the rename itself survives a power cut.

A crash before step 3 leaves the old file intact (a stale ``.tmp`` is ignored
and overwritten next time); a crash after it leaves the new one.  Readers
therefore always see a complete version.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json_atomic(path: Path, value: Any) -> None:
    write_atomic(path, orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())
