"""text_match / phrase_match on the token index equal a brute-force reference."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from sluice.text import TokenIndex, analyzer_for

VOCAB = ["machine", "learning", "deep", "model", "data", "the", "fast"]


def make_docs(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    docs: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.05:
            docs.append(None)
        else:
            docs.append(" ".join(rng.choice(VOCAB) for _ in range(rng.randint(0, 9))))
    return docs


def brute_text(analyzer, docs, query):  # type: ignore[no-untyped-def]
    wanted = set(analyzer.tokens(query))
    return np.array([bool(d) and bool(wanted & set(analyzer.tokens(d))) for d in docs])


def brute_phrase(analyzer, docs, query, slop):  # type: ignore[no-untyped-def]
    q = analyzer.analyze(query)
    out = []
    for d in docs:
        if not d or not q:
            out.append(False)
            continue
        positions: dict[str, list[int]] = {}
        for t in analyzer.analyze(d):
            positions.setdefault(t.text, []).append(t.position)
        if any(t.text not in positions for t in q):
            out.append(False)
            continue
        base = q[0].position
        shifts = [t.position - base for t in q]
        ok = any(
            max(p - s for p, s in zip(combo, shifts, strict=True))
            - min(p - s for p, s in zip(combo, shifts, strict=True))
            <= slop
            for combo in itertools.product(*[positions[t.text] for t in q])
        )
        out.append(ok)
    return np.array(out)


QUERIES = [
    "machine learning",
    "learning machine",
    "deep learning",
    "machine deep learning",
    "data",
    "fast model",
    "model fast data",
    "the machine",
    "learning the model",
    "unknown words",
    "machine machine",
    "deep deep learning",
    "data model",
    "fast fast",
    "MACHINE, Learning!",
    "learning data deep",
    "model",
    "the",
    "deep model machine",
    "fast data learning machine",
]


@pytest.mark.parametrize("params", [{}, {"type": "english"}])
def test_matches_equal_brute_force(params: dict) -> None:
    analyzer = analyzer_for(params)
    docs = make_docs(400, seed=7)
    index = TokenIndex.build(analyzer, docs)
    restored = TokenIndex.from_bytes(index.to_bytes())
    for query in QUERIES:
        want = brute_text(analyzer, docs, query)
        np.testing.assert_array_equal(index.text_match(analyzer, query), want, query)
        for slop in (0, 1, 2, 3):
            want = brute_phrase(analyzer, docs, query, slop)
            np.testing.assert_array_equal(
                index.phrase_match(analyzer, query, slop), want, f"{query}~{slop}"
            )
            np.testing.assert_array_equal(restored.phrase_match(analyzer, query, slop), want)


def test_milvus_documented_phrase_example() -> None:
    """Milvus's phrase-match page: slop 0 matches only doc_1, slop 2 also the swapped ones."""
    analyzer = analyzer_for({})
    docs = [
        "machine learning boosts efficiency",
        "learning machine is fun",
        "the learning machine",
    ]
    index = TokenIndex.build(analyzer, docs)
    assert index.phrase_match(analyzer, "machine learning", 0).nonzero()[0].tolist() == [0]
    assert index.phrase_match(analyzer, "machine learning", 2).nonzero()[0].tolist() == [0, 1, 2]
    deep = TokenIndex.build(analyzer, ["machine deep learning"])
    assert not deep.phrase_match(analyzer, "machine learning", 0)[0]
    assert deep.phrase_match(analyzer, "machine learning", 1)[0]


def test_stop_words_leave_gaps_in_query_and_documents() -> None:
    analyzer = analyzer_for({"type": "english"})
    index = TokenIndex.build(analyzer, ["state of the art", "state art"])
    assert index.phrase_match(analyzer, "state of the art", 0).tolist() == [True, False]
    assert index.text_match(analyzer, "the of").tolist() == [False, False]
