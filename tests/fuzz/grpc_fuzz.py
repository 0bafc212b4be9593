"""Fuzz a live Sluice server over gRPC and check it stays correct.

    python tests/fuzz/grpc_fuzz.py --requests 100000 --seed 1 [--out DIR]

Starts a server on a fresh data folder, stores a known dataset in a
collection whose name no generated request can guess (the *canary*), adds a
few playground collections whose names the generators use often, then sends
requests drawn by :mod:`messages` (generated from the protobuf descriptors of
every unary RPC, or valid requests with mutated bytes).  After every batch it
checks:

* the server answers (``CheckHealth``) and never hangs past a request's deadline;
* no response was an internal error (Sluice's ``unexpected error`` status) and
  the server log has no traceback;
* every response parses as its RPC's response type (a request whose bytes do
  not parse may be refused by gRPC itself, as Milvus's Go server does);
* the canary's rows are all there, unchanged.

Every problem is printed with the method and the hex of the request; with
``--out`` the requests are also saved, one file each, for replay.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

from messages import SERVICE, Pools, mutations, requests  # noqa: E402

from tests.conftest import SluiceProcess  # noqa: E402

DIM = 8
CANARY_ROWS = 1000
PLAYGROUND = ("fz_loaded", "fz_empty", "fz_released")
FIELDS = ("id", "vec", "tag", "meta", "num")
INTERNAL_PREFIX = "unexpected error"
LOG_MARKERS = ("Traceback (most recent call last)", " crashed (request")


@dataclass
class Report:
    sent: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_code: Counter[int] = field(default_factory=Counter)
    unparseable_refused: int = 0
    problems: list[str] = field(default_factory=list)
    batches: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.sent,
            "methods_hit": len(self.by_method),
            "status_codes": dict(sorted(self.by_code.items())),
            "unparseable_refused_by_grpc": self.unparseable_refused,
            "batches_checked": self.batches,
            "problems": len(self.problems),
            "seconds": round(self.seconds, 1),
        }


def _class_of(descriptor: Any) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


REQUEST_CLASS = {m.name: _class_of(m.input_type) for m in SERVICE.methods}
RESPONSE_CLASS = {m.name: _class_of(m.output_type) for m in SERVICE.methods}
#: Responses with no ``common.Status`` field: their errors can only travel as gRPC statuses.
STATUSLESS = frozenset(
    m.name
    for m in SERVICE.methods
    if m.output_type is not common_pb2.Status.DESCRIPTOR
    and not any(f.message_type is common_pb2.Status.DESCRIPTOR for f in m.output_type.fields)
)


def _schema(name: str) -> bytes:
    f = schema_pb2.FieldSchema
    kv = common_pb2.KeyValuePair
    schema = schema_pb2.CollectionSchema(
        name=name,
        enable_dynamic_field=True,
        fields=[
            f(name="id", data_type=schema_pb2.DataType.Int64, is_primary_key=True),
            f(name="vec", data_type=schema_pb2.DataType.FloatVector, type_params=[kv(key="dim", value=str(DIM))]),
            f(name="tag", data_type=schema_pb2.DataType.VarChar, type_params=[kv(key="max_length", value="32")]),
            f(name="meta", data_type=schema_pb2.DataType.JSON),
            f(name="num", data_type=schema_pb2.DataType.Double, nullable=True),
        ],
    )  # fmt: skip
    return schema.SerializeToString()


def _rows(start: int, n: int) -> tuple[list[schema_pb2.FieldData], np.ndarray]:
    ids = np.arange(start, start + n, dtype=np.int64)
    vecs = np.sin(ids[:, None] * (np.arange(DIM) + 1) * 0.01).astype(np.float32)
    fd = schema_pb2.FieldData
    data = [
        fd(field_name="id", type=schema_pb2.DataType.Int64, scalars=schema_pb2.ScalarField(long_data=schema_pb2.LongArray(data=ids.tolist()))),
        fd(field_name="vec", type=schema_pb2.DataType.FloatVector, vectors=schema_pb2.VectorField(dim=DIM, float_vector=schema_pb2.FloatArray(data=vecs.reshape(-1).tolist()))),
        fd(field_name="tag", type=schema_pb2.DataType.VarChar, scalars=schema_pb2.ScalarField(string_data=schema_pb2.StringArray(data=[f"t{i % 7}" for i in ids]))),
        fd(field_name="meta", type=schema_pb2.DataType.JSON, scalars=schema_pb2.ScalarField(json_data=schema_pb2.JSONArray(data=[json.dumps({"k": int(i)}).encode() for i in ids]))),
        fd(field_name="num", type=schema_pb2.DataType.Double, scalars=schema_pb2.ScalarField(double_data=schema_pb2.DoubleArray(data=(ids * 0.5).tolist()))),
    ]  # fmt: skip
    return data, vecs


def _placeholder(vecs: np.ndarray) -> bytes:
    group = common_pb2.PlaceholderGroup(
        placeholders=[
            common_pb2.PlaceholderValue(
                tag="$0",
                type=common_pb2.PlaceholderType.FloatVector,
                values=[v.astype("<f4").tobytes() for v in vecs],
            )
        ]
    )
    return group.SerializeToString()


def _kv(**params: str) -> list[common_pb2.KeyValuePair]:
    return [common_pb2.KeyValuePair(key=k, value=v) for k, v in params.items()]


def _status_of(response: Message) -> common_pb2.Status:
    if isinstance(response, common_pb2.Status):
        return response
    for fld in response.DESCRIPTOR.fields:
        if fld.message_type is common_pb2.Status.DESCRIPTOR:
            return getattr(response, fld.name)  # type: ignore[no-any-return]
    raise AssertionError(f"{type(response).__name__} has no status")


def seed_corpus(name: str) -> list[tuple[str, bytes]]:
    """Valid requests against collection ``name``: the starting points for mutation."""
    fields, vecs = _rows(10_000, 3)
    search = milvus_pb2.SearchRequest(
        collection_name=name,
        dsl="id > 0",
        dsl_type=common_pb2.DslType.BoolExprV1,
        placeholder_group=_placeholder(vecs[:2]),
        search_params=_kv(anns_field="vec", topk="5", metric_type="L2", params='{"ef": 16}'),
        output_fields=["tag", "meta"],
    )
    made: list[Message] = [
        milvus_pb2.CreateCollectionRequest(collection_name="fz_new", schema=_schema("fz_new")),
        milvus_pb2.InsertRequest(collection_name=name, fields_data=fields, num_rows=3),
        milvus_pb2.UpsertRequest(collection_name=name, fields_data=fields, num_rows=3),
        search,
        milvus_pb2.QueryRequest(
            collection_name=name, expr="id in [1, 2, 3]", output_fields=["*"], query_params=_kv(limit="10")
        ),
        milvus_pb2.DeleteRequest(collection_name=name, expr="id in [10000]"),
        milvus_pb2.CreateIndexRequest(
            collection_name=name, field_name="vec", extra_params=_kv(index_type="HNSW", metric_type="L2", params='{"M": 8}')
        ),
        milvus_pb2.DescribeIndexRequest(collection_name=name),
        milvus_pb2.FlushRequest(collection_names=[name]),
        milvus_pb2.DescribeCollectionRequest(collection_name=name),
        milvus_pb2.LoadCollectionRequest(collection_name=name),
        milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name),
        milvus_pb2.GetCollectionStatisticsRequest(collection_name=name),
    ]  # fmt: skip
    return [(type(m).__name__.replace("Request", ""), m.SerializeToString()) for m in made]


class Fuzzer:
    def __init__(self, server: SluiceProcess, out: Path | None) -> None:
        self.server = server
        self.out = out
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{server.port}",
            options=[("grpc.max_receive_message_length", 512 << 20)],
        )
        self.canary = f"canary_{secrets.token_hex(8)}"
        self.report = Report()
        self._log_seen = 0

    def call(self, method: str, payload: bytes, timeout: float = 20.0) -> Message:
        stub = self.channel.unary_unary(f"/{SERVICE.full_name}/{method}")
        raw = stub(payload, timeout=timeout)
        return RESPONSE_CLASS[method].FromString(raw)

    def call_ok(self, method: str, request: Message) -> Message:
        response = self.call(method, request.SerializeToString())
        status = _status_of(response)
        if status.code:
            raise RuntimeError(f"set-up {method} failed: {status.reason}")
        return response

    # --- the known dataset -------------------------------------------------------------

    def prepare(self) -> None:
        for name in (self.canary, *PLAYGROUND):
            self.call_ok(
                "CreateCollection",
                milvus_pb2.CreateCollectionRequest(collection_name=name, schema=_schema(name)),
            )
            rows = CANARY_ROWS if name == self.canary else 50
            fields, _ = _rows(0, rows)
            self.call_ok(
                "Insert",
                milvus_pb2.InsertRequest(collection_name=name, fields_data=fields, num_rows=rows),
            )
            if name == "fz_empty":
                continue
            self.call_ok("Flush", milvus_pb2.FlushRequest(collection_names=[name]))
            params = _kv(
                index_type="HNSW", metric_type="L2", params='{"M": 8, "efConstruction": 32}'
            )
            self.call_ok(
                "CreateIndex",
                milvus_pb2.CreateIndexRequest(
                    collection_name=name, field_name="vec", extra_params=params
                ),
            )
            if name != "fz_released":
                self.call_ok(
                    "LoadCollection", milvus_pb2.LoadCollectionRequest(collection_name=name)
                )
        self.check_canary()  # fmt: skip

    def check_canary(self) -> None:
        query = milvus_pb2.QueryRequest(
            collection_name=self.canary, expr="id >= 0", output_fields=["id", "tag", "num"],
            query_params=_kv(limit=str(CANARY_ROWS + 1)),
        )  # fmt: skip
        response = self.call_ok("Query", query)
        columns = {fd.field_name: fd for fd in response.fields_data}  # type: ignore[attr-defined]
        ids = sorted(columns["id"].scalars.long_data.data)
        if ids != list(range(CANARY_ROWS)):
            self.problem(f"canary lost rows: {CANARY_ROWS - len(ids)} missing or changed")
        _, vecs = _rows(123, 1)
        search = milvus_pb2.SearchRequest(
            collection_name=self.canary, placeholder_group=_placeholder(vecs), dsl_type=common_pb2.DslType.BoolExprV1,
            search_params=_kv(anns_field="vec", topk="1", metric_type="L2", params='{"ef": 64}'),
        )  # fmt: skip
        hits = self.call_ok("Search", search)
        found = list(hits.results.ids.int_id.data)  # type: ignore[attr-defined]
        if found != [123]:
            self.problem(f"canary search returned {found}, expected [123]")

    # --- one request ---------------------------------------------------------------------

    def problem(self, text: str, method: str = "", payload: bytes = b"") -> None:
        entry = f"{method}: {text}" if method else text
        if payload:
            entry += f" request={payload[:2048].hex()}"
        self.report.problems.append(entry)
        print("PROBLEM", entry[:2000], flush=True)
        if self.out is not None and payload:
            path = self.out / f"{len(self.report.problems):05d}-{method}.bin"
            path.write_bytes(payload)

    def send(self, method: str, payload: bytes) -> None:
        report = self.report
        report.sent += 1
        report.by_method[method] += 1
        try:
            REQUEST_CLASS[method].FromString(payload)
            parses = True
        except DecodeError:
            parses = False
        try:
            response = self.call(method, payload)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            if not parses and code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT):
                report.unparseable_refused += 1
                return
            if code == grpc.StatusCode.UNIMPLEMENTED and method in STATUSLESS:
                report.by_code[-1] += 1
                return
            self.problem(f"gRPC error {code}: {err.details()}", method, payload)  # type: ignore[attr-defined]
            if code == grpc.StatusCode.UNAVAILABLE:
                raise SystemExit("server is gone") from None
            return
        except DecodeError:
            self.problem("response does not parse as its type", method, payload)
            return
        if method in STATUSLESS:
            report.by_code[0] += 1
            return
        status = _status_of(response)
        report.by_code[status.code] += 1
        if status.reason.startswith(INTERNAL_PREFIX):
            self.problem(f"internal error: {status.reason[:300]}", method, payload)

    def check_batch(self) -> None:
        self.report.batches += 1
        try:
            health = self.call(
                "CheckHealth", milvus_pb2.CheckHealthRequest().SerializeToString(), timeout=10
            )
        except grpc.RpcError as err:
            self.problem(f"server does not answer: {err}")
            raise SystemExit("server is gone") from None
        if not health.isHealthy:  # type: ignore[attr-defined]
            self.problem("server reports unhealthy")
        log = self.server.log()
        fresh = log[self._log_seen :]
        self._log_seen = len(log)
        for marker in LOG_MARKERS:
            if marker in fresh:
                at = fresh.index(marker)
                self.problem(f"server log: {fresh[max(0, at - 300) : at + 1500]}")
        self.check_canary()


def run(
    requests_total: int, seed_value: int, batch: int, out: Path | None, workdir: Path
) -> Report:
    server = SluiceProcess(workdir / "data").start()
    fuzzer = Fuzzer(server, out)
    try:
        fuzzer.prepare()
        pools = Pools(collections=(*PLAYGROUND, "fz_new"), fields=FIELDS)
        corpus = seed_corpus("fz_loaded")
        strategy = st.one_of(requests(pools), requests(pools), mutations(corpus))
        started = time.monotonic()

        @hypothesis_seed(seed_value)
        @settings(
            max_examples=requests_total,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def step(item: tuple[str, bytes]) -> None:
            fuzzer.send(*item)
            if fuzzer.report.sent % batch == 0:
                fuzzer.check_batch()

        step()
        fuzzer.check_batch()
        fuzzer.report.seconds = time.monotonic() - started
    finally:
        server.kill()
    return fuzzer.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out", type=Path, help="save problem requests here")
    parser.add_argument("--workdir", type=Path, help="data folder parent (default: a temp dir)")
    args = parser.parse_args()
    import tempfile

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sluice-fuzz-") as tmp:
        report = run(args.requests, args.seed, args.batch, args.out, args.workdir or Path(tmp))
    print("FUZZ", json.dumps(report.summary()), flush=True)
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
