"""text_match and phrase_match through pymilvus, against a reference matcher written here.

The corpus is split between a Flushed segment (answered by its persisted
token index) and a growing one (answered by analysing its rows).  Every
query's result must equal the reference: ``text_match`` keeps rows sharing
any analyzed token with the query; ``phrase_match`` keeps rows where the
query's tokens occur at positions that, each shifted back by its place in
the analyzed query, lie within ``slop`` of each other (searched here by
brute force over every combination of occurrences).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import SluiceProcess, create_indexed, milvus_error, wait_for
from pymilvus import AnnSearchRequest, DataType, MilvusClient, RRFRanker

from sluice.text import analyzer_for

WORDS = [
    "red",
    "green",
    "blue",
    "fast",
    "slow",
    "river",
    "stone",
    "cloud",
    "light",
    "dark",
    "running",
    "runs",
    "ran",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dogs",
]
N = 240
PARAMS = {"type": "english"}
ANALYZER = analyzer_for(PARAMS)


def _corpus() -> list[str]:
    rng = np.random.default_rng(5)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9))).tolist()) for _ in range(N)]


DOCS = _corpus()


def _text_reference(query: str, ids: list[int] | None = None) -> list[int]:
    wanted = set(ANALYZER.tokens(query))
    rows = range(N) if ids is None else ids
    return sorted(i for i in rows if wanted & set(ANALYZER.tokens(DOCS[i])))


def _phrase_row(doc: str, query: str, slop: int) -> bool:
    q = ANALYZER.analyze(query)
    if not q:
        return False
    places: dict[str, list[int]] = {}
    for token in ANALYZER.analyze(doc):
        places.setdefault(token.text, []).append(token.position)
    base = q[0].position
    options = []
    for token in q:
        if token.text not in places:
            return False
        options.append([p - (token.position - base) for p in places[token.text]])
    return any(max(c) - min(c) <= slop for c in itertools.product(*options))


def _phrase_reference(query: str, slop: int) -> list[int]:
    return [i for i in range(N) if _phrase_row(DOCS[i], query, slop)]


TEXT_QUERIES = [
    "fox",
    "Foxes",
    "run",
    "running dogs",
    "blue river",
    "nothing here",
    "the",
    "quick brown fox",
    "LIGHT",
    "stone cloud dark",
    "jumped",
    "slow",
]
PHRASE_QUERIES = [
    ("quick brown", 0),
    ("brown quick", 0),
    ("brown quick", 2),
    ("red green", 0),
    ("red green", 1),
    ("lazy dogs", 0),
    ("over the lazy dog", 1),
    ("fox jumps over", 3),
    ("river stone", 5),
    ("dark light dark", 2),
    ("runs ran", 0),
    ("blue", 0),
    ("zebra", 3),
]


def _ids(client: MilvusClient, name: str, expr: str) -> list[int]:
    return sorted(r["id"] for r in client.query(name, expr, output_fields=["id"]))


@pytest.fixture(scope="module")
def texts(client: MilvusClient, server: SluiceProcess) -> Iterator[str]:
    name = "text_match_main"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("w", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field(
        "body",
        DataType.VARCHAR,
        max_length=500,
        enable_analyzer=True,
        enable_match=True,
        analyzer_params=PARAMS,
    )
    schema.add_field("plain", DataType.VARCHAR, max_length=500)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    index.add_index("w", index_type="FLAT", metric_type="IP")
    create_indexed(client, name, schema, index)
    rng = np.random.default_rng(6)
    rows = [
        {
            "id": i,
            "v": rng.random(4).tolist(),
            "w": rng.random(4).tolist(),
            "body": DOCS[i],
            "plain": DOCS[i],
        }
        for i in range(N)
    ]
    client.insert(name, rows[: N // 2])
    client.flush(name)
    client.insert(name, rows[N // 2 :])
    data = server.data_dir / "segments" / "index_files"
    wait_for(lambda: list(data.rglob("match_*.stix")), what="the sealed token index")
    yield name
    client.drop_collection(name)


@pytest.mark.parametrize("query", TEXT_QUERIES)
def test_text_match_equals_the_reference(client: MilvusClient, texts: str, query: str) -> None:
    assert _ids(client, texts, f"text_match(body, '{query}')") == _text_reference(query)


@pytest.mark.parametrize(("query", "slop"), PHRASE_QUERIES)
def test_phrase_match_equals_the_reference(
    client: MilvusClient, texts: str, query: str, slop: int
) -> None:
    expr = f"phrase_match(body, '{query}', {slop})"
    assert _ids(client, texts, expr) == _phrase_reference(query, slop)


def test_match_combines_with_other_predicates(client: MilvusClient, texts: str) -> None:
    got = _ids(
        client, texts, "text_match(body, 'fox') and not phrase_match(body, 'quick') or id < 3"
    )
    fox = set(_text_reference("fox"))
    quick = set(_phrase_reference("quick", 0))
    assert got == sorted((fox - quick) | {0, 1, 2})


def test_search_and_hybrid_search_filter_by_match(client: MilvusClient, texts: str) -> None:
    allowed = set(_text_reference("river stone"))
    hits = client.search(
        texts, [[0.5] * 4], anns_field="v", limit=20, filter="text_match(body, 'river stone')"
    )[0]
    assert hits and {h["id"] for h in hits} <= allowed
    assert len(hits) == min(20, len(allowed))
    requests = [
        AnnSearchRequest([[0.5] * 4], "v", {}, limit=10, expr="text_match(body, 'fox')"),
        AnnSearchRequest([[0.5] * 4], "w", {}, limit=10, expr="phrase_match(body, 'red green')"),
    ]
    fused = client.hybrid_search(texts, requests, RRFRanker(), limit=15)[0]
    assert {h["id"] for h in fused} <= set(_text_reference("fox")) | set(
        _phrase_reference("red green", 0)
    )


def test_refusals_use_milvus_wording(client: MilvusClient, texts: str) -> None:
    with milvus_error(1100, match='field "plain" does not enable match'):
        client.query(texts, "text_match(plain, 'fox')")
    with milvus_error(1100, match="text match operation on non-string is unsupported"):
        client.query(texts, "text_match(id, 'fox')")
    with milvus_error(1100, match='"slop" should not be a negative interger'):
        client.query(texts, "phrase_match(body, 'fox', -1)")
    with milvus_error(1100, match='"slop" exceeds the range of "uint32"'):
        client.query(texts, "phrase_match(body, 'fox', 4294967296)")


def test_create_collection_checks_analyzed_fields(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("t", DataType.VARCHAR, max_length=10, enable_match=True)
    with milvus_error(
        65535, message="field t is set to enable match or bm25 function but not enable analyzer"
    ):
        client.create_collection("bad_match", schema=schema)
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field(
        "t",
        DataType.VARCHAR,
        max_length=10,
        enable_analyzer=True,
        analyzer_params={"tokenizer": "nope"},
    )
    with milvus_error(2000, match="unsupported tokenizer: nope"):
        client.create_collection("bad_analyzer", schema=schema)
    assert not client.has_collection("bad_match") and not client.has_collection("bad_analyzer")


def test_delete_by_match_then_restart(
    client: MilvusClient, server: SluiceProcess, texts: str
) -> None:
    doomed = _text_reference("lazy")
    client.delete(texts, filter="text_match(body, 'lazy')")
    alive = [i for i in range(N) if i not in set(doomed)]
    assert _ids(client, texts, "text_match(body, 'fox')") == _text_reference("fox", alive)
    client.flush(texts)
    server.restart()
    fresh = MilvusClient(server.uri)
    try:
        for query in TEXT_QUERIES[:6]:
            expected = _text_reference(query, alive)
            assert _ids(fresh, texts, f"text_match(body, '{query}')") == expected
        expected = [i for i in _phrase_reference("quick brown", 0) if i in set(alive)]
        assert _ids(fresh, texts, "phrase_match(body, 'quick brown')") == expected
        assert "is built again" not in server.log()
    finally:
        fresh.close()
