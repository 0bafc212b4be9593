"""A private asyncio event loop on its own thread, called from synchronous code.

The etcd and NATS clients are asyncio libraries while the engine is threaded
and synchronous.  Each remote store owns one :class:`LoopThread`: the client's
connection lives on that loop, and engine threads hand it coroutines with
:meth:`LoopThread.run`, which always returns or raises within the timeout it
is given.  A hung service therefore costs a caller a bounded wait, never a
stuck thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Extra time a caller waits past a coroutine's own deadline for the loop to report it.
_GRACE_SECONDS = 1.0


class LoopThread:
    """An event loop running forever on a daemon thread until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_forever, name=name, daemon=True)
        self._thread.start()

    def _run_forever(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop; raise ``TimeoutError`` if it takes longer than ``timeout``."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop")
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return future.result(timeout + _GRACE_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        """Schedule a plain callback on the loop (thread-safe)."""
        self.loop.call_soon_threadsafe(callback, *args)

    def stop(
        self, cleanup: Coroutine[Any, Any, object] | None = None, timeout: float = 5.0
    ) -> None:
        """Run ``cleanup`` (closing connections), then stop the loop and join the thread."""
        if not self._thread.is_alive():
            if cleanup is not None:
                cleanup.close()
            return
        if cleanup is not None:
            # Closing must finish even when the service is gone.
            with contextlib.suppress(Exception):
                self.run(cleanup, timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
