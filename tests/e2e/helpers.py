"""Shared tools for the end-to-end suite: raw gRPC access, TSO arithmetic, waiting, data.

Everything here talks to a real ``python -m sluice serve`` process exactly as a
client would: through pymilvus, or through the generated ``MilvusServiceStub``
when a test needs a field pymilvus hides (the whole ``FlushResponse``, the
``status`` of a request pymilvus would refuse to send, ...).
"""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2

TESTS_DIR = Path(__file__).resolve().parent.parent

#: Hybrid timestamps are ``physical_ms << 18 | logical``.
LOGICAL_BITS = 18

#: ``common.SegmentState`` / ``common.SegmentLevel`` values as they travel on the wire.
GROWING, SEALED, FLUSHED, FLUSHING, DROPPED = 2, 3, 4, 5, 6
L0, L1 = 1, 2

#: Legacy ``common.ErrorCode`` values the suite checks.
UNEXPECTED_ERROR, COLLECTION_NOT_EXISTS, ILLEGAL_ARGUMENT, RATE_LIMIT = 1, 4, 5, 49

#: Code of a plain (``fmt.Errorf``) error in Milvus.
PLAIN_ERROR = 65535

T = TypeVar("T")


def _root_conftest() -> ModuleType:
    """``tests/conftest.py`` as a module of its own.

    pytest imports every ``conftest.py`` under the same module name, so a plain
    ``from conftest import ...`` may find another directory's conftest; loading
    the file by path always gets the one that defines :class:`SluiceProcess`.
    """
    name = "_sluice_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS_DIR / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


SluiceProcess = _root_conftest().SluiceProcess


# --- timestamps -----------------------------------------------------------------


def tso_ms(ts: int) -> int:
    """Physical milliseconds of a hybrid timestamp."""
    return ts >> LOGICAL_BITS


def tso_for(seconds: float) -> int:
    """The hybrid timestamp of a Unix time (logical part 0)."""
    return int(seconds * 1000) << LOGICAL_BITS


def assert_recent_tso(ts: int, *, within: float = 10.0) -> None:
    """``ts`` is a hybrid TSO whose physical part is within ``within`` seconds of now."""
    assert ts > 0, "timestamp is 0"
    physical = tso_ms(ts) / 1000
    assert abs(physical - time.time()) < within, (
        f"timestamp {ts} decodes to Unix {physical:.3f}, not within {within}s of now "
        f"({time.time():.3f}); is it a TSO (ms << 18)?"
    )


# --- waiting --------------------------------------------------------------------


def wait_for(
    check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1, what: str = ""
) -> T:
    """Call ``check`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


# --- errors ---------------------------------------------------------------------


@contextmanager
def milvus_error(
    code: int | None = None,
    *,
    message: str | None = None,
    match: str | None = None,
    legacy: int | None = None,
) -> Iterator[pytest.ExceptionInfo[MilvusException]]:
    """Expect a ``MilvusException`` with exactly this code, message and legacy code."""
    with pytest.raises(MilvusException) as info:
        yield info
    err = info.value
    if code is not None:
        assert err.code == code, f"code {err.code} != {code}: {err.message}"
    if message is not None:
        assert err.message == message
    if match is not None:
        assert re.search(match, err.message), f"{match!r} not in {err.message!r}"
    if legacy is not None:
        assert err.compatible_code == legacy, f"error_code {err.compatible_code} != {legacy}"


def assert_status(
    status: common_pb2.Status,
    code: int,
    *,
    reason: str | None = None,
    match: str | None = None,
    legacy: int | None = None,
) -> None:
    """A raw response status with this ``code``, ``reason`` and legacy ``error_code``."""
    assert status.code == code, f"code {status.code} != {code}: {status.reason}"
    if reason is not None:
        assert status.reason == reason
    if match is not None:
        assert re.search(match, status.reason), f"{match!r} not in {status.reason!r}"
    if legacy is not None:
        assert status.error_code == legacy, f"error_code {status.error_code} != {legacy}"


def assert_ok(status: common_pb2.Status) -> None:
    assert status.code == 0 and status.error_code == 0, f"{status.code}: {status.reason}"


# --- raw gRPC ---------------------------------------------------------------------


class RawMilvus:
    """The generated stub on its own channel, with an optional ``dbname`` header."""

    def __init__(self, server: Any, db: str | None = None) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        self.stub = milvus_pb2_grpc.MilvusServiceStub(self.channel)
        self.metadata: tuple[tuple[str, str], ...] = (("dbname", db),) if db else ()

    def call(self, method: str, request: Any, timeout: float = 30.0) -> Any:
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout)

    def flush(self, *names: str) -> milvus_pb2.FlushResponse:
        return self.call("Flush", milvus_pb2.FlushRequest(collection_names=list(names)))

    def flush_state(
        self, name: str, segment_ids: Sequence[int], flush_ts: int
    ) -> milvus_pb2.GetFlushStateResponse:
        request = milvus_pb2.GetFlushStateRequest(
            segmentIDs=list(segment_ids), flush_ts=flush_ts, collection_name=name
        )
        return self.call("GetFlushState", request)

    def flushed(self, name: str, response: milvus_pb2.FlushResponse) -> bool:
        """GetFlushState for ``name`` exactly as pymilvus asks it after ``response``."""
        state = self.flush_state(
            name, list(response.coll_segIDs[name].data), response.coll_flush_ts[name]
        )
        assert_ok(state.status)
        return bool(state.flushed)

    def wait_flushed(
        self, name: str, response: milvus_pb2.FlushResponse, timeout: float = 20.0
    ) -> None:
        wait_for(lambda: self.flushed(name, response), timeout=timeout, what=f"flush of {name}")

    def segments(self, name: str) -> list[milvus_pb2.PersistentSegmentInfo]:
        request = milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name)
        response = self.call("GetPersistentSegmentInfo", request)
        assert_ok(response.status)
        return list(response.infos)

    def describe(self, name: str) -> milvus_pb2.DescribeCollectionResponse:
        request = milvus_pb2.DescribeCollectionRequest(collection_name=name)
        return self.call("DescribeCollection", request)

    def create_collection(
        self, name: str, schema: schema_pb2.CollectionSchema, shards: int = 1
    ) -> common_pb2.Status:
        request = milvus_pb2.CreateCollectionRequest(
            collection_name=name, schema=schema.SerializeToString(), shards_num=shards
        )
        return self.call("CreateCollection", request)

    def insert(
        self, name: str, fields: Sequence[schema_pb2.FieldData], num_rows: int
    ) -> milvus_pb2.MutationResult:
        request = milvus_pb2.InsertRequest(
            collection_name=name, fields_data=list(fields), num_rows=num_rows
        )
        return self.call("Insert", request)

    def close(self) -> None:
        self.channel.close()


def int64_field(name: str, values: Sequence[int]) -> schema_pb2.FieldData:
    fd = schema_pb2.FieldData(type=schema_pb2.DataType.Int64, field_name=name)
    fd.scalars.long_data.data.extend(values)
    return fd


def int32_field(name: str, values: Sequence[int], dtype: int = schema_pb2.DataType.Int32):
    fd = schema_pb2.FieldData(type=dtype, field_name=name)
    fd.scalars.int_data.data.extend(values)
    return fd


def string_field(name: str, values: Sequence[str], dtype: int = schema_pb2.DataType.VarChar):
    fd = schema_pb2.FieldData(type=dtype, field_name=name)
    fd.scalars.string_data.data.extend(values)
    return fd


def vector_field(name: str, vectors: np.ndarray) -> schema_pb2.FieldData:
    fd = schema_pb2.FieldData(type=schema_pb2.DataType.FloatVector, field_name=name)
    fd.vectors.dim = int(vectors.shape[1])
    fd.vectors.float_vector.data.extend(vectors.astype(np.float32).ravel().tolist())
    return fd


# --- data -------------------------------------------------------------------------


def vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, dim), dtype=np.float32)


def rows(
    n: int, dim: int, *, start: int = 0, seed: int = 0, vector: str = "vector", **extra: Any
) -> list[dict[str, Any]]:
    """``n`` rows ``{"id": start + i, vector: [...], **extra}``."""
    data = vectors(n, dim, seed)
    return [{"id": start + i, vector: data[i].tolist(), **extra} for i in range(n)]


def count(client: MilvusClient, name: str) -> int:
    """``count(*)`` at Strong consistency: every acknowledged write is visible."""
    result = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(result[0]["count(*)"])


def row_count(client: MilvusClient, name: str) -> int:
    return int(client.get_collection_stats(name)["row_count"])


def write_config(directory: Path, text: str) -> Path:
    path = directory / "sluice.toml"
    path.write_text(text)
    return path


def vchannel_pattern(collection_id: int) -> re.Pattern[str]:
    """Milvus's vchannel names: ``by-dev-rootcoord-dml_<i>_<collectionID>v<shard>``."""
    return re.compile(rf"by-dev-rootcoord-dml_(\d+)_{collection_id}v(\d+)")


# --- collections --------------------------------------------------------------------


def create_indexed(
    client: MilvusClient, name: str, schema: Any, index: Any, *, shards: int = 1
) -> None:
    """``create_collection(schema=..., index_params=...)`` without pymilvus's index wait.

    pymilvus sleeps a fixed 0.5 s before its first index-state poll; the suite
    creates dozens of collections, so it asks for the index without waiting
    (``sync=False``) and loads the collection itself.
    """
    client.create_collection(name, schema=schema, num_shards=shards)
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def quick_collection(
    client: MilvusClient,
    name: str,
    dim: int,
    *,
    shards: int = 1,
    auto_id: bool = False,
    string_ids: bool = False,
    metric: str = "COSINE",
) -> None:
    """What ``create_collection(name, dimension=dim)`` builds (schema, AUTOINDEX, load)."""
    schema = client.create_schema(auto_id=auto_id, enable_dynamic_field=True)
    if string_ids:
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type=metric)
    create_indexed(client, name, schema, index, shards=shards)


# --- read path ----------------------------------------------------------------------


def clustered(
    n: int, dim: int, *, clusters: int = 60, spread: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 points from a mixture of ``clusters`` gaussians, and the cluster centres.

    Real embeddings are clustered; uniform random data is not, and makes every
    ANN index look worse (or better) than it is.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    members = rng.integers(0, clusters, n)
    noise = rng.standard_normal((n, dim)).astype(np.float32) * spread
    return (centres[members] + noise).astype(np.float32), centres


def mixture_queries(centres: np.ndarray, n: int, *, spread: float = 0.15, seed: int = 1):
    """``n`` query vectors drawn from the same mixture as :func:`clustered`."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(centres), n)
    noise = rng.standard_normal((n, centres.shape[1])).astype(np.float32) * spread
    return (centres[picks] + noise).astype(np.float32)


def metric_scores(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """``(nq, n)`` scores in Milvus's conventions, in float64.

    L2 is the squared distance (smaller is better); IP and COSINE are
    similarities (larger is better).
    """
    b = np.asarray(base, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    if metric == "L2":
        return (q * q).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * q @ b.T
    if metric == "COSINE":
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    return q @ b.T


def brute_force(
    base: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` row positions and scores per query (only ``allowed`` rows count).

    Rows are padded with ``-1`` when fewer than ``k`` rows are allowed.
    """
    scores = metric_scores(base, queries, metric)
    keys = scores if metric == "L2" else -scores
    if allowed is not None:
        keys = np.where(allowed[None, :], keys, np.inf)
    order = np.argsort(keys, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(scores, order, axis=1)
    valid = np.isfinite(np.take_along_axis(keys, order, axis=1))
    return np.where(valid, order, -1), picked


def recall(found: Sequence[Sequence[Any]], truth: Sequence[Sequence[Any]]) -> float:
    """Mean fraction of each query's true neighbours that were found."""
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / max(1, sum(len(t) for t in truth))


def hit_ids(result: Any) -> list[list[Any]]:
    """Primary keys of every query's hits."""
    return [[h["id"] for h in hits] for hits in result]


def hit_scores(result: Any) -> list[list[float]]:
    return [[float(h["distance"]) for h in hits] for hits in result]


def wait_indexed(
    client: MilvusClient,
    name: str,
    index_name: str,
    *,
    rows: int | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Wait until DescribeIndex reports every flushed row indexed; return the description."""

    def done() -> dict[str, Any] | None:
        info = client.describe_index(name, index_name)
        total = info["total_rows"]
        if rows is not None and total != rows:
            return None
        if info["state"] == "Finished" and info["indexed_rows"] == total and total > 0:
            return info
        return None

    return wait_for(done, timeout=timeout, what=f"index {index_name} of {name}")


# --- storage faults -------------------------------------------------------------------


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` and everything below it refuse writes, as a read-only or failing disk would.

    Root ignores permission bits, so as root the immutable attribute is used
    (``chattr +i``): even root's writes, through descriptors opened before, then
    fail with EPERM.  Otherwise write permission is removed.  The test is skipped
    where neither works.
    """
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
            pytest.skip(f"cannot make {path} immutable: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-R", "-i", str(path)], check=True)
        return
    modes = {}
    for item in [path, *path.rglob("*")]:
        modes[item] = item.stat().st_mode
        item.chmod(modes[item] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        for item, mode in modes.items():
            item.chmod(mode)
