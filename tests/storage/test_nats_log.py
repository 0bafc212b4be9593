"""JetStream-specific behaviour of the log store: outages, republishing, fencing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from sluice.errors import StorageError, StorageUnavailable, WriterFencedError
from sluice.storage.nats_frames import decode_channel, encode_channel
from sluice.storage.nats_log import NatsLogStore
from tests import services


def test_channel_names_round_trip() -> None:
    for name in ["by-dev-rootcoord-dml_3", "a_b__c", "x.y z*>/é", ""]:
        token = encode_channel(name)
        assert all(c.isalnum() or c in "-_" for c in token)
        assert decode_channel(token) == name


def test_prefix_is_validated() -> None:
    with pytest.raises(ValueError, match=r"stream_prefix 'a\.b'"):
        NatsLogStore(["nats://127.0.0.1:1"], "a.b")


def _retry(call, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except StorageUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_outage_fails_fast_by_name_and_publishes_again_when_back(tmp_path: Path) -> None:
    service = services.started(services.NatsService(tmp_path / "nats"))
    assert isinstance(service, services.NatsService)
    store = NatsLogStore([service.url], "outage", timeout=2.0)
    try:
        log = store.open("ch")
        for i in range(5):
            log.sync(log.append(1, i, b"before-%d" % i).end)
        service.kill()
        started = time.monotonic()
        during = log.append(1, 100, b"during" * 1000)
        with pytest.raises(StorageUnavailable, match=f"NATS JetStream at {service.url}"):
            log.sync(during.end)
        with pytest.raises(StorageUnavailable, match="publishing is interrupted"):
            log.append(1, 101, b"refused while down")
        assert time.monotonic() - started < 15  # bounded, never a hang
        service.start()
        _retry(lambda: log.sync(during.end))  # the record was kept and published again
        after = _retry(lambda: log.append(1, 200, b"after"))
        log.sync(after.end)
        assert after.offset >= during.end
        replayed = [(r.offset, r.timestamp, r.payload) for r in log.replay()]
        assert [t for _, t, _ in replayed] == [0, 1, 2, 3, 4, 100, 200]
        assert replayed[5] == (during.offset, 100, b"during" * 1000)
        log.close()
        reopened = store.open("ch")
        assert reopened.end_offset == after.end
        reopened.close()
    finally:
        store.close()
        service.kill()


def test_a_fenced_writer_cannot_append(nats_service: services.NatsService) -> None:
    prefix = f"f{uuid.uuid4().hex[:10]}"
    allowed = [True]

    def fence() -> None:
        if not allowed[0]:
            raise WriterFencedError("lease lost")

    store = NatsLogStore([nats_service.url], prefix, fence=fence)
    try:
        log = store.open("ch")
        log.sync(log.append(1, 1, b"ok").end)
        allowed[0] = False
        with pytest.raises(WriterFencedError):
            log.sync(log.append(1, 2, b"refused").end)
        with pytest.raises(WriterFencedError):
            log.append(1, 3, b"refused too")
        assert [r.payload for r in log.replay()] == [b"ok"]
    finally:
        store.close()


def test_a_second_writer_on_the_same_stream_is_detected(nats_service: services.NatsService) -> None:
    prefix = f"d{uuid.uuid4().hex[:10]}"
    first = NatsLogStore([nats_service.url], prefix)
    second = NatsLogStore([nats_service.url], prefix)
    try:
        a = first.open("ch")
        b = second.open("ch")
        a.sync(a.append(1, 1, b"a1").end)
        with pytest.raises(StorageError):
            b.sync(b.append(1, 2, b"b1").end)  # b expected the stream to be empty
        deadline = time.monotonic() + 10
        while True:
            try:
                b.sync(b.append(1, 3, b"b2").end)
            except WriterFencedError:
                break
            except StorageUnavailable:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            else:
                pytest.fail("a second writer appended to a stream another node writes")
        assert [r.payload for r in a.replay()] == [b"a1"]
    finally:
        first.close()
        second.close()
