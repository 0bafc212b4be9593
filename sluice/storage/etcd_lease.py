"""The writer role: one node per deployment holds an etcd lease and may write.

A node campaigns by creating the writer key attached to a lease of ``ttl``
seconds, only if the key does not exist (a transaction comparing its create
revision with 0).  The node that creates it is the writer; the others poll
until the key disappears, which etcd does when the writer's lease runs out
(the writer died or lost etcd) or is revoked (a clean shutdown).

While it writes, the holder renews the lease every ``ttl / 3`` seconds.  The
key's create revision is the fencing token: metadata commits compare it in
their transaction (:class:`~sluice.storage.etcd_meta.WriterGuard`), so a node
whose lease ran out can never commit again, even if it has not noticed yet.
Writes that do not go through etcd (the WAL) call :meth:`WriterLease.check`
before acknowledging: it refuses once the last renewal etcd confirmed is
older than ``ttl`` minus a safety margin.  etcd expires a lease no earlier
than ``ttl`` after the renewal it received, so every write this node
acknowledged happened before any other node could take over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import aetcd
import aetcd.rpc as rpc

from sluice.errors import StorageError, WriterFencedError
from sluice.storage.etcd_meta import EtcdConnection, WriterGuard

log = logging.getLogger(__name__)


class WriterLease:
    """Campaign for, hold and give up the writer key ``key``."""

    def __init__(self, connection: EtcdConnection, key: str, node: str, *, ttl: int = 5) -> None:
        if ttl < 2:
            raise ValueError("the writer lease TTL must be at least 2 seconds")
        self._conn = connection
        self.key = key
        self.node = node
        self.ttl = ttl
        #: Stop acknowledging writes this long before the lease could expire in etcd.
        self.margin = max(0.5, ttl / 5)
        self._lease_id = 0
        self._guard: WriterGuard | None = None
        self._valid_until = 0.0
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._on_lost: list[Callable[[], None]] = []

    @property
    def guard(self) -> WriterGuard | None:
        return self._guard

    def holder(self) -> str | None:
        """The node currently holding the key, if any."""

        async def read(client: aetcd.Client) -> Any:
            return await client.kvstub.Range(rpc.RangeRequest(key=self.key.encode()))

        response = self._conn.call("read the writer key", read)
        return response.kvs[0].value.decode() if response.kvs else None

    def acquire(
        self,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        on_wait: Callable[[], None] | None = None,
    ) -> WriterGuard:
        """Block until this node holds the writer key; return the fencing guard.

        Service outages while waiting are retried; ``timeout`` bounds the whole
        wait (``TimeoutError`` when it passes).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        waited = False
        while True:
            try:
                guard = self._try_acquire()
            except StorageError as exc:
                log.warning("cannot campaign for the writer role yet: %s", exc)
                guard = None
            if guard is not None:
                return guard
            if not waited:
                waited = True
                if on_wait is not None:
                    on_wait()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"another node still holds the writer key {self.key}")
            time.sleep(poll)

    def _try_acquire(self) -> WriterGuard | None:
        sent = time.monotonic()
        if not self._lease_id:

            async def grant(client: aetcd.Client) -> Any:
                return await client.leasestub.LeaseGrant(rpc.LeaseGrantRequest(TTL=self.ttl))

            self._lease_id = int(self._conn.call("grant the writer lease", grant).ID)
        elif not self._renew_once():
            self._lease_id = 0
            return None
        key = self.key.encode()
        request = rpc.TxnRequest(
            compare=[
                rpc.Compare(
                    key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, create_revision=0
                )
            ],
            success=[
                rpc.RequestOp(
                    request_put=rpc.PutRequest(
                        key=key, value=self.node.encode(), lease=self._lease_id
                    )
                )
            ],
            failure=[],
        )

        async def txn(client: aetcd.Client) -> Any:
            return await client.kvstub.Txn(request)

        response = self._conn.call("claim the writer key", txn)
        if not response.succeeded:
            return None
        self._guard = WriterGuard(self.key, int(response.header.revision))
        self._valid_until = sent + self.ttl
        self._lost.clear()
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="sluice-lease", daemon=True)
        self._renewer.start()
        log.info("node %s holds the writer key %s (lease %x)", self.node, self.key, self._lease_id)
        return self._guard

    def _renew_once(self) -> bool:
        """Send one keep-alive; False once etcd says the lease is gone."""
        sent = time.monotonic()

        async def keepalive(client: aetcd.Client) -> Any:
            async for reply in client.leasestub.LeaseKeepAlive(
                [rpc.LeaseKeepAliveRequest(ID=self._lease_id)]
            ):
                return reply
            return None

        reply = self._conn.call("renew the writer lease", keepalive)
        if reply is None or reply.TTL <= 0:
            return False
        self._valid_until = sent + reply.TTL
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                alive = self._renew_once()
            except StorageError as exc:
                log.warning("cannot renew the writer lease: %s", exc)
                alive = time.monotonic() < self._valid_until
            if not alive or time.monotonic() >= self._valid_until - self.margin:
                self._mark_lost()
                return

    def _mark_lost(self) -> None:
        if self._lost.is_set():
            return
        self._lost.set()
        log.error("node %s lost the writer lease on %s", self.node, self.key)
        for callback in list(self._on_lost):
            callback()

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the renewal thread) when the lease is lost."""
        self._on_lost.append(callback)

    @property
    def held(self) -> bool:
        return (
            self._guard is not None
            and not self._lost.is_set()
            and time.monotonic() < self._valid_until - self.margin
        )

    def check(self) -> None:
        """Raise :class:`WriterFencedError` unless this node certainly still holds the lease."""
        if not self.held:
            raise WriterFencedError(
                f"{WriterFencedError.base_message} (node {self.node}, key {self.key})"
            )

    def release(self) -> None:
        """Give the role up at once (revoke the lease, deleting the key) so a standby takes over."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(5)
            self._renewer = None
        lease_id, self._lease_id = self._lease_id, 0
        self._guard = None
        self._lost.set()
        if not lease_id:
            return

        async def revoke(client: aetcd.Client) -> Any:
            return await client.leasestub.LeaseRevoke(rpc.LeaseRevokeRequest(ID=lease_id))

        try:
            self._conn.call("revoke the writer lease", revoke)
        except StorageError as exc:
            log.warning("could not revoke the writer lease (it expires by itself): %s", exc)
