"""Text analysis for full-text search: analyzers, BM25, and the token index.

Imports only ``sluice.errors``, ``sluice.schema`` and third-party libraries
(tantivy's bindings, jieba-rs's, ``regex``, numpy).  The engine calls:

* :func:`analyzer_for` (``analyzer_params`` -> cached :class:`Analyzer`) and
  :func:`parse_multi_analyzer_params` for multi-language fields;
* :func:`document_vectors` at insert (BM25 function output),
  :func:`query_vector` + :meth:`CorpusStats.query_weights` at search,
  :class:`CorpusStats` per segment (merge / subtract / to_bytes);
* :meth:`TokenIndex.build` per segment for ``text_match``/``phrase_match``;
* :func:`run_analyzer` for the RunAnalyzer RPC.
"""

from sluice.text.analyzer import Analyzer, Token, analyzer_for
from sluice.text.bm25 import (
    DEFAULT_AVGDL,
    DEFAULT_B,
    DEFAULT_K1,
    CorpusStats,
    SparseRows,
    document_vectors,
    query_vector,
    score_documents,
    term_frequency_rows,
    top_k,
)
from sluice.text.errors import AnalyzerError
from sluice.text.hashing import token_hash, token_hashes
from sluice.text.match_index import TokenIndex
from sluice.text.multi import MultiAnalyzer, MultiAnalyzerParamsError, parse_multi_analyzer_params
from sluice.text.params import AnalyzerSpec, parse_analyzer_params
from sluice.text.run import AnalyzedToken, run_analyzer

__all__ = [
    "DEFAULT_AVGDL",
    "DEFAULT_B",
    "DEFAULT_K1",
    "AnalyzedToken",
    "Analyzer",
    "AnalyzerError",
    "AnalyzerSpec",
    "CorpusStats",
    "MultiAnalyzer",
    "MultiAnalyzerParamsError",
    "SparseRows",
    "Token",
    "TokenIndex",
    "analyzer_for",
    "document_vectors",
    "parse_analyzer_params",
    "parse_multi_analyzer_params",
    "query_vector",
    "run_analyzer",
    "score_documents",
    "term_frequency_rows",
    "token_hash",
    "token_hashes",
    "top_k",
]
