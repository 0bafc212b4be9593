"""Session fixtures for the index tests: clustered data, its truth, and indexes built once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from sluice.index import FaissIndex, build, parse_index_spec

from .support import (
    CLUSTERS,
    DIM,
    PQ_ROWS,
    QUERIES,
    ROWS,
    TEST_BUILD_PARAMS,
    Clustered,
    make_clustered,
    true_scores,
    vector_field,
)


@dataclass
class Case:
    """One index with the data it was built from and float64 truth per metric."""

    index: FaissIndex
    data: np.ndarray
    queries: np.ndarray
    metric: str
    _truth: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def truth(self) -> np.ndarray:
        """``(nq, n)`` true scores, larger is better (a fresh copy callers may mask)."""
        if "t" not in self._truth:
            self._truth["t"] = true_scores(self.data, self.queries, self.metric)
        return self._truth["t"].copy()


@pytest.fixture(scope="session")
def clustered() -> Clustered:
    return make_clustered(ROWS, DIM, CLUSTERS, QUERIES, seed=7)


@pytest.fixture(scope="session")
def case(clustered: Clustered) -> Callable[[str, str], Case]:
    """Indexes built once per (type, metric) for the whole session.

    IVF_PQ trains one k-means per sub-quantizer, the slowest build by far, so
    it uses the first :data:`PQ_ROWS` rows; every other type uses all 20k.
    """
    cache: dict[tuple[str, str], Case] = {}

    def get(index_type: str, metric: str) -> Case:
        key = (index_type, metric)
        if key not in cache:
            rows = PQ_ROWS if index_type == "IVF_PQ" else ROWS
            data = clustered.data[:rows]
            spec = parse_index_spec(
                vector_field(), index_type, metric, TEST_BUILD_PARAMS[index_type]
            )
            index = build(spec, data, rerank_vectors=data)
            cache[key] = Case(index, data, clustered.queries, metric)
        return cache[key]

    return get
