"""A test-side wrapper that makes segment-file writes slow, and a server that uses it.

Some tests need a persistence "in flight" long enough to observe (a flush
that has not finished, a shutdown that must wait).  Product code has no
delay knob: the tests wrap the engine's segment-file store instead.

Run as a script it is ``python -m sluice`` with that wrapper installed; the
delay comes from ``SLUICE_TEST_STORAGE_DELAY`` (seconds per file written).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

DELAY_ENV = "SLUICE_TEST_STORAGE_DELAY"


class DelayedFiles:
    """Segment files whose every write first sleeps ``delay`` seconds."""

    def __init__(self, inner: Any, delay: float) -> None:
        self._inner = inner
        self._delay = delay

    def write_table(self, rel: str, table: Any) -> Any:
        time.sleep(self._delay)
        return self._inner.write_table(rel, table)

    def write_bytes(self, rel: str, data: bytes) -> int:
        time.sleep(self._delay)
        return int(self._inner.write_bytes(rel, data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def with_delay(delay: float) -> Any:
    """A ``wrap_stores`` hook for :class:`sluice.engine.engine.Engine`."""

    def wrap(stores: Any) -> Any:
        stores.files = DelayedFiles(stores.files, delay)
        return stores

    return wrap


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import sluice.engine.engine as engine_module
    from sluice.cli import main as cli_main

    delay = float(os.environ.get(DELAY_ENV, "0") or 0)
    hook = with_delay(delay)
    opened = engine_module.open_stores
    engine_module.open_stores = lambda settings: hook(opened(settings))  # type: ignore[assignment]
    cli_main()


if __name__ == "__main__":
    main()
