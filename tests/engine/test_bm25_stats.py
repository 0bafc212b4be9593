"""Corpus statistics arithmetic: subtracting rows gives the statistics of the rest."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sluice.engine.bm25_stats import subtract
from sluice.index import Bm25Stats


def test_subtracting_rows_equals_counting_the_rest() -> None:
    rng = np.random.default_rng(0)
    docs = sp.random(200, 50, density=0.1, format="csr", random_state=1, dtype=np.float32)
    docs.data = np.ceil(docs.data * 3).astype(np.float32)
    hidden = rng.random(200) < 0.3
    whole = Bm25Stats.of_documents(docs)
    rest = subtract(whole, Bm25Stats.of_documents(docs[np.flatnonzero(hidden)]))
    expected = Bm25Stats.of_documents(docs[np.flatnonzero(~hidden)])
    assert rest.doc_count == expected.doc_count
    assert rest.total_length == expected.total_length
    np.testing.assert_array_equal(rest.terms, expected.terms)
    np.testing.assert_array_equal(rest.doc_freq, expected.doc_freq)
