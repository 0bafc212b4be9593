"""RunAnalyzer through pymilvus: params, details, hashes, field analyzers, errors."""

from __future__ import annotations

import json

from helpers import milvus_error
from pymilvus import DataType, MilvusClient

from sluice.text import token_hash


def test_documented_example_with_details_and_hash(client: MilvusClient) -> None:
    params = {"type": "english", "stop_words": ["a", "an", "the"]}
    result = client.run_analyzer("Milvus is a vector database built for scale!", params)
    assert list(result.tokens) == ["milvus", "vector", "databas", "built", "scale"]
    detailed = client.run_analyzer(
        "Café the naïve", {"type": "standard"}, with_detail=True, with_hash=True
    )
    assert detailed.tokens[1].dict == {
        "token": "the",
        "start_offset": 6,
        "end_offset": 9,
        "position": 1,
        "position_length": 1,
        "hash": token_hash("the"),
    }
    assert detailed.tokens[2]["start_offset"] == 10


def test_several_texts_and_empty_text(client: MilvusClient) -> None:
    results = client.run_analyzer(["Hello World", "", "你好"], {"tokenizer": "jieba"})
    assert [list(r.tokens) for r in results] == [["Hello", " ", "World"], [], ["你好"]]
    assert list(client.run_analyzer("", {}).tokens) == []


def test_invalid_params_use_milvus_wording(client: MilvusClient) -> None:
    with milvus_error(
        2000,
        message="failed to create analyzer, C Runtime Exception: unsupported tokenizer: nope: "
        "segcore error[segcoreCode=2001]",
    ):
        client.run_analyzer("text", {"tokenizer": "nope"})


def test_field_analyzer(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field(
        "text",
        DataType.VARCHAR,
        max_length=200,
        enable_analyzer=True,
        analyzer_params={"type": "english"},
    )
    schema.add_field("plain", DataType.VARCHAR, max_length=200)
    client.create_collection("analyzed", schema=schema)
    result = client.run_analyzer("Running dogs", collection_name="analyzed", field_name="text")
    assert list(result.tokens) == ["run", "dog"]
    with milvus_error(match="analyzer runner for field .* not exist"):
        client.run_analyzer("x", collection_name="analyzed", field_name="plain")
    with milvus_error(message="field nope not exist"):
        client.run_analyzer("x", collection_name="analyzed", field_name="nope")
    with milvus_error(100):
        client.run_analyzer("x", collection_name="missing", field_name="text")


def test_multi_analyzer_field(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("lang", DataType.VARCHAR, max_length=20)
    multi = {
        "by_field": "lang",
        "analyzers": {"default": {"type": "standard"}, "en": {"type": "english"}},
        "alias": {"english": "en"},
    }
    schema.add_field(
        "text", DataType.VARCHAR, max_length=200, enable_analyzer=True, multi_analyzer_params=multi
    )
    client.create_collection("multi_analyzed", schema=schema)
    results = client.run_analyzer(
        ["Running dogs", "Running dogs"],
        collection_name="multi_analyzed",
        field_name="text",
        analyzer_names=["english", "xx"],
    )
    assert [list(r.tokens) for r in results] == [["run", "dog"], ["running", "dogs"]]
    with milvus_error(message="analyzer names must be set for multi analyzer"):
        client.run_analyzer("x", collection_name="multi_analyzed", field_name="text")
    assert json.loads(json.dumps(multi)) == multi
