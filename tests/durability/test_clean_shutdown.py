"""SIGTERM under load: a clean exit, nothing acknowledged lost, nothing left to replay.

The server stops taking new RPCs, lets in-flight ones finish, then closes the
engine, which persists every buffer (growing segments, pending deletes) and
commits checkpoints at the end of each WAL.  So the next start replays no WAL
record at all: the restart log has no "replayed" line.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from crash_support import (
    Expectation,
    Ledger,
    LogTail,
    SluiceProcess,
    create_collection,
    start_writer,
    stop_writer,
    stored_counts,
    visible_counts_via_api,
    write_config,
)


@pytest.mark.slow
@pytest.mark.parametrize("storage_delay", ["0", "0.05"], ids=["fast-storage", "slow-storage"])
def test_sigterm_while_writing(tmp_path: Path, storage_delay: str) -> None:
    from pymilvus import MilvusClient

    data = tmp_path / "data"
    config = write_config(tmp_path / "sluice.toml", max_bytes=65536, sync_buffer_bytes=32768)
    server = SluiceProcess(
        data, config=config, env={"SLUICE_TEST_STORAGE_DELAY": storage_delay}
    ).start()
    log = tmp_path / "writer.log"
    stop = tmp_path / "writer.stop"
    writer = None
    try:
        client = MilvusClient(server.uri)
        create_collection(client)
        client.close()
        writer = start_writer(server.uri, log, stop, pause=0.005, flush_every=10)
        tail = LogTail(log)
        deadline = time.monotonic() + 30
        while tail.acks() < 25:
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.01)
        # SIGTERM the instant an insert is on its way.
        assert tail.wait_for(lambda e: e["op"] == "insert-start", 10)
        assert server.stop(timeout=60) == 0, server.log()[-3000:]
        assert "shutdown complete" in server.log()
        time.sleep(0.3)  # the writer keeps trying against a stopped server
        stop_writer(writer, stop)
        writer = None

        ledger = Ledger.read(log)
        expect = Expectation.of(ledger)
        assert ledger.count("insert-fail") > 0, "the writer was still writing at SIGTERM"

        before = server.log_path.stat().st_size
        server.start()
        restart_log = server.log_path.read_bytes()[before:].decode(errors="replace")
        assert "engine open" in restart_log
        assert "replayed" not in restart_log, restart_log
        client = MilvusClient(server.uri)
        try:
            expect.check_visible(visible_counts_via_api(client, expect.windows))
        finally:
            client.close()
        assert server.stop() == 0

        from sluice.config import Settings
        from sluice.engine.engine import Engine

        engine = Engine(Settings.from_toml(config, data_dir=data))
        try:
            raw, live = stored_counts(engine)
        finally:
            engine.close()
        expect.check_raw(raw)
        expect.check_visible(live)
    finally:
        if writer is not None:
            stop.touch()
            writer.kill()
            writer.wait()
        server.kill()
