"""MAX_SIM over embedding lists against a direct reference, and the index rules."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.engine.struct_search import (
    EmbeddingLists,
    SegmentElements,
    element_queries,
    max_sim_scores,
    parse_emb_list_index,
    refuse_struct_filters,
    segment_top_lists,
)
from sluice.errors import IndexNotSupported, ParameterInvalid, Unimplemented
from sluice.schema import CollectionSchema, DataType, FieldSchema

VEC = FieldSchema("chunks[vec]", DataType.FLOAT_VECTOR, dim=4)


def _reference(rows: list[np.ndarray], lists: list[np.ndarray], metric: str) -> np.ndarray:
    out = np.full((len(lists), len(rows)), np.nan)
    for r, elems in enumerate(rows):
        for q, query in enumerate(lists):
            if not len(elems):
                continue
            if metric == "MAX_SIM_L2":
                d = ((query[:, None, :] - elems[None, :, :]) ** 2).sum(axis=2)
                out[q, r] = d.min(axis=1).sum()
                continue
            a, b = query, elems
            if metric == "MAX_SIM_COSINE":
                a = a / np.linalg.norm(a, axis=1, keepdims=True)
                b = b / np.linalg.norm(b, axis=1, keepdims=True)
            out[q, r] = (a @ b.T).max(axis=1).sum()
    return out


@pytest.mark.parametrize("metric", ["MAX_SIM_COSINE", "MAX_SIM_IP", "MAX_SIM_L2", "MAX_SIM"])
def test_max_sim_matches_the_definition(metric: str) -> None:
    rng = np.random.default_rng(3)
    rows = [rng.standard_normal((n, 4)) for n in (2, 0, 1, 5, 0, 3)]
    lists = [rng.standard_normal((n, 4)) for n in (1, 4, 2)]
    elements = np.concatenate([r for r in rows if len(r)]).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    queries = EmbeddingLists(
        np.concatenate([q.ravel() for q in lists]).astype(np.float32),
        np.asarray([q.size for q in lists]),
    ).resolve(VEC)
    got = max_sim_scores(elements, offsets, queries.vectors, queries.offsets, metric)
    want = _reference(rows, lists, metric)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-4, atol=1e-4)
    _, picked = segment_top_lists(SegmentElements(elements, offsets), queries, 3, metric, None)
    for q in range(len(lists)):
        usable = np.flatnonzero(~np.isnan(want[q]))
        larger = metric != "MAX_SIM_L2"
        best = usable[np.argsort(-want[q][usable] if larger else want[q][usable])][:3]
        assert picked[q].tolist() == best.tolist()
    allowed = np.ones(len(rows), dtype=bool)
    allowed[best[0]] = False
    _, filtered = segment_top_lists(SegmentElements(elements, offsets), queries, 6, metric, allowed)
    assert best[0] not in filtered[-1].tolist()
    assert -1 in filtered[-1].tolist()  # empty rows never match


def test_index_rules() -> None:
    spec = parse_emb_list_index(VEC, {"index_type": "HNSW", "metric_type": "max_sim_ip", "M": 8})
    assert spec.metric_type == "MAX_SIM_IP" and spec.index_type == "HNSW"
    assert parse_emb_list_index(VEC, {}).metric_type == "MAX_SIM_COSINE"
    with pytest.raises(IndexNotSupported):
        parse_emb_list_index(VEC, {"index_type": "IVF_FLAT", "metric_type": "MAX_SIM_IP"})
    element = parse_emb_list_index(VEC, {"index_type": "HNSW", "metric_type": "COSINE"})
    assert element.metric_type == "COSINE"  # element-level search
    with pytest.raises(ParameterInvalid, match="does not support metric type: HAMMING"):
        parse_emb_list_index(VEC, {"index_type": "HNSW", "metric_type": "HAMMING"})


def test_element_level_scores_each_query_vector_alone() -> None:
    elements = np.asarray([[1, 0], [0, 1], [3, 4]], dtype=np.float32)
    offsets = np.asarray([0, 2, 2, 3])
    queries = element_queries(np.asarray([[1, 0], [0, 2]], dtype=np.float32))
    scores, rows = segment_top_lists(SegmentElements(elements, offsets), queries, 3, "IP", None)
    assert rows.tolist() == [[2, 0, -1], [2, 0, -1]]
    assert scores[:, :2].tolist() == [[3.0, 1.0], [8.0, 2.0]]
    _, rows = segment_top_lists(SegmentElements(elements, offsets), queries, 3, "L2", None)
    assert rows[0].tolist() == [0, 2, -1]


def test_query_lists_must_fit_the_dimension() -> None:
    with pytest.raises(ParameterInvalid, match="not a multiple of the dim"):
        EmbeddingLists(np.zeros(6, np.float32), np.asarray([6])).resolve(VEC)


def test_struct_filters_are_refused_outside_string_literals() -> None:
    struct = FieldSchema(
        "chunks",
        DataType.ARRAY_OF_STRUCT,
        max_capacity=2,
        struct_fields=(FieldSchema("text", DataType.VARCHAR, max_length=8),),
    )
    schema = CollectionSchema("c", (FieldSchema("id", DataType.INT64, is_primary=True), struct))
    for expr in ("element_filter(chunks, $[text] == 'a')", "chunks[text] == 'a'"):
        with pytest.raises(Unimplemented):
            refuse_struct_filters(expr, schema)
    for expr in ("id == 1", "title == 'chunks'", "mychunks > 1"):
        refuse_struct_filters(expr, schema)


@pytest.mark.parametrize("metric", ["MAX_SIM_COSINE", "MAX_SIM_L2"])
def test_blocks_of_rows_give_the_same_scores(monkeypatch: pytest.MonkeyPatch, metric: str) -> None:
    import sluice.engine.struct_search as struct_search

    rng = np.random.default_rng(5)
    counts = rng.integers(0, 6, size=200)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    elements = rng.standard_normal((int(offsets[-1]), 4)).astype(np.float32)
    queries = rng.standard_normal((5, 4)).astype(np.float32)
    query_offsets = np.asarray([0, 2, 5])
    whole = max_sim_scores(elements, offsets, queries, query_offsets, metric)
    monkeypatch.setattr(struct_search, "_BLOCK_FLOATS", 7)  # one or two rows per block
    blocked = max_sim_scores(elements, offsets, queries, query_offsets, metric)
    assert np.array_equal(np.isnan(whole), np.isnan(blocked))
    assert np.allclose(whole[~np.isnan(whole)], blocked[~np.isnan(blocked)], atol=1e-5)
