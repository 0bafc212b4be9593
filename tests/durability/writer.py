"""A client that keeps writing while the server under test is killed and restarted.

Run as ``python writer.py --uri ... --collection ... --log ... --stop-file ...``.

It inserts batches of ``--batch-rows`` rows with ids ``batch * batch_rows +
0..batch_rows-1`` (each batch gets fresh ids, whatever happened to the one
before), deletes a few acknowledged ids now and then, and asks for a flush
every few batches.  Every operation is logged to ``--log`` as one JSON line:
``*-start`` before the request is sent (written, not fsynced: the test reads
it to time its kills) and ``*-ack`` or ``*-fail`` after the answer.  An
``-ack`` line is fsynced before the next request, so the log never claims
more than the server acknowledged.

The requests go through pymilvus's generated gRPC stubs rather than
``MilvusClient``: the client's retry decorator re-sends an insert that failed
with UNAVAILABLE, and when the first attempt was in fact persisted just
before the crash that legitimately produces duplicates.  This writer sends
every request exactly once, so any duplicate the test finds is the server's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import grpc
import numpy as np
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2

DIM = 8
TIMEOUT = 10.0


def vector_of(ids: np.ndarray) -> np.ndarray:
    """Deterministic vectors, so the test can check content as well as presence."""
    base = ids.astype(np.float64)[:, None]
    return np.sin(base * (np.arange(DIM) + 1) * 0.001).astype(np.float32)


class Log:
    def __init__(self, path: Path) -> None:
        self._fh = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    def write(self, entry: dict[str, object], *, durable: bool = False) -> None:
        entry["t"] = time.time()
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        if durable:
            os.fsync(self._fh.fileno())


def ok(status: common_pb2.Status) -> bool:
    return status.code == 0 and status.error_code == 0


def insert_request(collection: str, ids: np.ndarray) -> milvus_pb2.InsertRequest:
    vectors = vector_of(ids)
    return milvus_pb2.InsertRequest(
        collection_name=collection,
        num_rows=len(ids),
        fields_data=[
            schema_pb2.FieldData(
                field_name="id",
                type=schema_pb2.DataType.Int64,
                scalars=schema_pb2.ScalarField(long_data=schema_pb2.LongArray(data=ids.tolist())),
            ),
            schema_pb2.FieldData(
                field_name="vector",
                type=schema_pb2.DataType.FloatVector,
                vectors=schema_pb2.VectorField(
                    dim=DIM, float_vector=schema_pb2.FloatArray(data=vectors.reshape(-1).tolist())
                ),
            ),
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--stop-file", required=True, type=Path)
    parser.add_argument("--batch-rows", type=int, default=200)
    parser.add_argument("--first-batch", type=int, default=0)
    parser.add_argument("--flush-every", type=int, default=6)
    parser.add_argument("--delete-every", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    log = Log(args.log)
    address = args.uri.split("://", 1)[-1]
    channel = grpc.insecure_channel(
        address,
        options=[
            # Reconnect quickly once the server is back; the default backoff grows to minutes.
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 300),
        ],
    )
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    acked_batches: list[int] = []
    deleted: set[int] = set()
    batch = args.first_batch
    failures = 0
    done = 0

    def failed(entry: dict[str, object], exc: object) -> None:
        nonlocal failures
        failures += 1
        entry["error"] = str(exc)[:200]
        log.write(entry)
        # Back off while the server is down, but come back quickly once it is up.
        time.sleep(min(0.05 * failures, 0.5))

    while not args.stop_file.exists():
        ids = np.arange(batch * args.batch_rows, (batch + 1) * args.batch_rows, dtype=np.int64)
        log.write({"op": "insert-start", "batch": batch})
        try:
            resp = stub.Insert(insert_request(args.collection, ids), timeout=TIMEOUT)
            if not ok(resp.status) or resp.insert_cnt != len(ids):
                raise RuntimeError(f"insert refused: {resp.status}")
        except (grpc.RpcError, RuntimeError) as exc:
            failed({"op": "insert-fail", "batch": batch}, exc)
            batch += 1
            continue
        log.write({"op": "insert-ack", "batch": batch, "ts": resp.timestamp}, durable=True)
        failures = 0
        acked_batches.append(batch)
        batch += 1
        done += 1

        if done % args.delete_every == 0 and len(acked_batches) > 1:
            # A few ids of an older acknowledged batch (often already persisted).
            victim = rng.choice(acked_batches[:-1])
            base = victim * args.batch_rows
            keys = sorted({base + rng.randrange(args.batch_rows) for _ in range(5)} - deleted)
            if keys:
                log.write({"op": "delete-start", "ids": keys})
                try:
                    resp = stub.Delete(
                        milvus_pb2.DeleteRequest(
                            collection_name=args.collection, expr=f"id in {keys}"
                        ),
                        timeout=TIMEOUT,
                    )
                    if not ok(resp.status):
                        raise RuntimeError(f"delete refused: {resp.status}")
                except (grpc.RpcError, RuntimeError) as exc:
                    failed({"op": "delete-fail", "ids": keys}, exc)
                else:
                    deleted.update(keys)
                    log.write({"op": "delete-ack", "ids": keys, "ts": resp.timestamp}, durable=True)

        if done % args.flush_every == 0:
            log.write({"op": "flush-start"})
            try:
                resp = stub.Flush(
                    milvus_pb2.FlushRequest(collection_names=[args.collection]), timeout=TIMEOUT
                )
                if not ok(resp.status):
                    raise RuntimeError(f"flush refused: {resp.status}")
            except (grpc.RpcError, RuntimeError) as exc:
                failed({"op": "flush-fail"}, exc)
            else:
                log.write(
                    {
                        "op": "flush-ack",
                        "segments": list(resp.coll_segIDs[args.collection].data),
                        "flush_ts": resp.coll_flush_ts[args.collection],
                    },
                    durable=True,
                )
        if args.pause:
            time.sleep(args.pause)
    log.write({"op": "stopped", "next_batch": batch}, durable=True)
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
