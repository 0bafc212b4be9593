"""TEXT_EMBEDDING functions against a local OpenAI-compatible endpoint started by the test.

The fake service embeds a text as letter counts (deterministic, so the test
can compute the same vectors) and records every request, so the test sees
what Sluice sent: model, dimensions, key, and texts in batches.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from helpers import RawMilvus, assert_status, create_indexed, milvus_error
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

DIM = 8


def fake_embedding(text: str) -> list[float]:
    counts = np.zeros(DIM, dtype=np.float32)
    for ch in text.lower():
        if ch.isalpha():
            counts[(ord(ch) - ord("a")) % DIM] += 1.0
    norm = float(np.linalg.norm(counts)) or 1.0
    return (counts / norm).tolist()


class FakeService:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.keys: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.requests.append(body)
                service.keys.append(self.headers.get("Authorization", ""))
                size = int(body.get("dimensions") or DIM)
                data = [
                    {"index": i, "embedding": fake_embedding(t)[:size] + [0.0] * (size - DIM)}
                    for i, t in enumerate(body["input"])
                ]
                payload = json.dumps({"data": list(reversed(data)), "model": body["model"]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/embeddings"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def service() -> Iterator[FakeService]:
    fake = FakeService()
    try:
        yield fake
    finally:
        fake.close()


def _schema(client: MilvusClient, params: dict[str, Any], dim: int = DIM) -> Any:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc", DataType.VARCHAR, max_length=200)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(
        Function(
            name="embed",
            function_type=FunctionType.TEXTEMBEDDING,
            input_field_names=["doc"],
            output_field_names=["dense"],
            params=params,
        )
    )
    return schema


def _params(service: FakeService, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model_name": "fake-small",
        "url": service.url,
        "api_key": "sk-test",
        **extra,
    }


DOCS = ["alpha beta", "gamma delta", "a quick fox", "zebra", "hello world"] * 60


@pytest.fixture(scope="module")
def coll(client: MilvusClient, service: FakeService) -> Iterator[str]:
    name = "embedded_docs"
    index = client.prepare_index_params()
    index.add_index("dense", index_type="FLAT", metric_type="IP")
    create_indexed(client, name, _schema(client, _params(service, dim=DIM)), index)
    client.insert(name, [{"id": i, "doc": d} for i, d in enumerate(DOCS)])
    yield name
    client.drop_collection(name)


def test_vectors_are_computed_at_insert(
    client: MilvusClient, service: FakeService, coll: str
) -> None:
    rows = client.query(coll, "id in [0, 3, 299]", output_fields=["dense", "doc"])
    for row in rows:
        assert row["dense"] == pytest.approx(fake_embedding(row["doc"]), abs=1e-6)
    batches = [r for r in service.requests if r["input"] != ["check"]]
    assert max(len(r["input"]) for r in batches) == 128
    assert all(r["model"] == "fake-small" and r["dimensions"] == DIM for r in batches)
    assert set(service.keys) == {"Bearer sk-test"}


def test_describe_shows_the_function_and_its_output(client: MilvusClient, coll: str) -> None:
    described = client.describe_collection(coll)
    function = described["functions"][0]
    assert function["name"] == "embed"
    assert function["input_field_names"] == ["doc"]
    assert function["output_field_names"] == ["dense"]
    dense = next(f for f in described["fields"] if f["name"] == "dense")
    assert dense.get("is_function_output") is True


def test_text_queries_are_embedded(client: MilvusClient, coll: str) -> None:
    by_text = client.search(coll, ["quick brown fox"], anns_field="dense", limit=5)[0]
    by_vector = client.search(
        coll, [fake_embedding("quick brown fox")], anns_field="dense", limit=5
    )[0]
    assert [h["id"] for h in by_text] == [h["id"] for h in by_vector]
    assert [h["distance"] for h in by_text] == pytest.approx([h["distance"] for h in by_vector])


def test_the_output_field_is_not_accepted_from_clients(raw: RawMilvus, coll: str) -> None:
    ids = schema_pb2.FieldData(field_name="id", type=schema_pb2.DataType.Int64)
    ids.scalars.long_data.data.append(9999)
    doc = schema_pb2.FieldData(field_name="doc", type=schema_pb2.DataType.VarChar)
    doc.scalars.string_data.data.append("sneaky")
    dense = schema_pb2.FieldData(field_name="dense", type=schema_pb2.DataType.FloatVector)
    dense.vectors.dim = DIM
    dense.vectors.float_vector.data.extend([0.0] * DIM)
    request = milvus_pb2.InsertRequest(
        collection_name=coll, fields_data=[ids, doc, dense], num_rows=1
    )
    response = raw.call("Insert", request)
    assert_status(
        response.status,
        1100,
        match="Attempt to insert an unexpected function output field `dense` to collection",
    )


def test_empty_texts_are_refused(client: MilvusClient, coll: str) -> None:
    with milvus_error(65535, match="there is an empty string in the input data"):
        client.insert(coll, [{"id": 5000, "doc": ""}])


@pytest.mark.parametrize(
    ("params", "dim", "message"),
    [
        ({"provider": "cohere"}, DIM, r"provider \[cohere\] is not supported by Sluice"),
        ({"provider": "nope"}, DIM, r"unsupported text embedding service provider: \[nope\]"),
        ({"dim": 4}, DIM, r"dimension \[8\] does not match the dimension \[4\]"),
        ({}, 16, r"the required embedding dim is \[16\], but .* is \[8\]"),
        ({"url": "ftp://x"}, DIM, "is not a valid http/https link"),
        ({"credential": "nobody", "api_key": ""}, DIM, "credential nobody not found"),
    ],
)
def test_refused_functions(
    client: MilvusClient, service: FakeService, params: dict[str, Any], dim: int, message: str
) -> None:
    schema = _schema(client, _params(service, **params), dim=dim)
    with milvus_error(match=message):
        client.create_collection("bad_embedding", schema=schema)
    assert not client.has_collection("bad_embedding")


def test_functions_sluice_does_not_run_are_refused_by_name(raw: RawMilvus) -> None:
    schema = schema_pb2.CollectionSchema(name="minhashed")
    schema.fields.add(name="id", data_type=schema_pb2.DataType.Int64, is_primary_key=True)
    vec = schema.fields.add(name="v", data_type=schema_pb2.DataType.FloatVector)
    vec.type_params.append(common_pb2.KeyValuePair(key="dim", value="4"))
    schema.fields.add(name="t", data_type=schema_pb2.DataType.VarChar).type_params.append(
        common_pb2.KeyValuePair(key="max_length", value="10")
    )
    schema.functions.add(
        name="mh",
        type=schema_pb2.FunctionType.MinHash,
        input_field_names=["t"],
        output_field_names=["v"],
    )
    request = milvus_pb2.CreateCollectionRequest(
        collection_name="minhashed", schema=schema.SerializeToString()
    )
    status = raw.call("CreateCollection", request)
    assert_status(status, 10, match="function mh of type MinHash is not supported by Sluice")


def test_bm25_input_field_needs_an_analyzer(client: MilvusClient) -> None:
    """Milvus's checks of a BM25 function name the field without an analyzer."""
    bad = client.create_schema()
    bad.add_field("id", DataType.INT64, is_primary=True)
    bad.add_field("text", DataType.VARCHAR, max_length=200)
    bad.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    bad.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    with milvus_error(match="field text is set to enable match or bm25 function but not enable"):
        client.create_collection("full_text", schema=bad)
