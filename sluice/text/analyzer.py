"""Analyzers: text in, Milvus's tokens out.

An :class:`Analyzer` is built once per ``analyzer_params`` (see
:func:`analyzer_for`, which caches them) and is safe to share between
threads.  :meth:`Analyzer.tokens` is the fast path (token texts only: BM25
and ``text_match`` need nothing else); :meth:`Analyzer.analyze` also gives
each token's byte offsets, position and position length as Milvus's
RunAnalyzer reports them (offsets are UTF-8 byte offsets, as tantivy's).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tantivy

from sluice.text.params import AnalyzerSpec, FilterSpec, parse_analyzer_params
from sluice.text.pipeline import (
    JiebaTokenizer,
    TokenPredicate,
    is_native,
    predicate,
    tantivy_analyzer,
    tantivy_tokenizer,
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token as RunAnalyzer's ``with_detail`` reports it."""

    text: str
    start_offset: int
    end_offset: int
    position: int
    position_length: int


#: A stage after the tokenizer: one token text in, the texts that replace it out.
_Stage = Callable[[str], list[str]]


class Analyzer:
    """One analyzer: a tokenizer followed by filters, as ``analyzer_params`` describe."""

    def __init__(self, spec: AnalyzerSpec) -> None:
        self.spec = spec
        filters = list(spec.filters)
        self._head: tantivy.TextAnalyzer | None = None
        self._jieba: JiebaTokenizer | None = None
        if spec.tokenizer.kind == "jieba":
            self._jieba = JiebaTokenizer(spec.tokenizer)
            rest = filters
        else:
            lead = 0
            while lead < len(filters) and is_native(filters[lead]):
                lead += 1
            self._head = tantivy_analyzer(tantivy_tokenizer(spec.tokenizer), filters[:lead])
            rest = filters[lead:]
        self._stages = _stages(rest)

    # -- token texts -----------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """The token texts of ``text``, in order."""
        if self._head is not None:
            texts: list[str] = self._head.analyze(text)
        else:
            assert self._jieba is not None
            texts = [seg[0] for seg in self._jieba.segments(text)]
        for stage in self._stages:
            texts = [out for t in texts for out in stage(t)]
        return texts

    def token_lists(self, texts: Sequence[str]) -> list[list[str]]:
        tokens = self.tokens
        return [tokens(t) for t in texts]

    # -- detailed tokens ---------------------------------------------------------

    def analyze(self, text: str) -> list[Token]:
        """Tokens with byte offsets, positions and position lengths."""
        raw: list[tuple[str, int, int, int, int]]
        if self._head is not None:
            raw = [
                (t.text, t.char_offset_from, t.char_offset_to, t.position, 1)
                for t in self._head.pre_tokenize(text).tokens
            ]
        else:
            assert self._jieba is not None
            raw = [(w, s, e, s, e - s) for w, s, e in self._jieba.segments(text)]
        for stage in self._stages:
            raw = [(out, *rest) for t, *rest in raw for out in stage(t)]  # type: ignore[misc]
        to_bytes = _byte_offsets(text)
        return [
            Token(t, to_bytes(start), to_bytes(end), pos, plen) for t, start, end, pos, plen in raw
        ]


def _stages(filters: Sequence[FilterSpec]) -> list[_Stage]:
    """Filters after the tokenizer's own tantivy chain, grouped into per-token stages."""
    stages: list[_Stage] = []
    i = 0
    while i < len(filters):
        if is_native(filters[i]):
            j = i
            while j < len(filters) and is_native(filters[j]):
                j += 1
            per_token = tantivy_analyzer(tantivy.Tokenizer.raw(), filters[i:j])
            stages.append(per_token.analyze)
            i = j
        else:
            stages.append(_keep_if(predicate(filters[i])))
            i += 1
    return stages


def _keep_if(keep: TokenPredicate) -> _Stage:
    return lambda token: [token] if keep(token) else []


def _byte_offsets(text: str) -> Callable[[int], int]:
    """Character offset -> UTF-8 byte offset within ``text``."""
    if text.isascii():
        return lambda offset: offset
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    widths = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    prefix = np.concatenate(([0], np.cumsum(widths, dtype=np.int64)))
    return lambda offset: int(prefix[offset])


def canonical_params(params: str | Mapping[str, Any] | None) -> str:
    """A stable cache key for ``params`` (key order and spacing do not matter)."""
    if params is None:
        return ""
    if isinstance(params, str):
        try:
            decoded = json.loads(params) if params else {}
        except ValueError:
            return params
        return json.dumps(decoded, sort_keys=True, ensure_ascii=False)
    return json.dumps(params, sort_keys=True, ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _cached(key: str) -> Analyzer:
    return Analyzer(parse_analyzer_params(key))


@functools.lru_cache(maxsize=256)
def _cached_text(params: str) -> Analyzer:
    """Analyzers by the exact text of their params: a query skips re-reading the JSON."""
    return _cached(canonical_params(params))


def analyzer_for(params: str | Mapping[str, Any] | None) -> Analyzer:
    """The (shared, cached) analyzer for ``params``; :class:`AnalyzerError` if invalid."""
    if isinstance(params, str):
        return _cached_text(params)
    return _cached(canonical_params(params))
