"""The stages an analyzer runs: tantivy's tokenizers and filters, jieba-rs, and the rest.

Milvus's analyzers are tantivy ``TextAnalyzer`` chains, so Sluice runs
tantivy's own tokenizers and filters (through its Python bindings) wherever
it can: a ``standard`` or ``whitespace`` analyzer whose filters tantivy has
runs entirely inside one tantivy analyzer.  jieba tokenization is jieba-rs
(the segmenter Milvus embeds).  Filters tantivy's bindings lack (Milvus's
own ``cncharonly``, ``cnalphanumonly``, ``removepunct``, ``regex``) are
small predicates here; tantivy filters that follow one of them, or follow
jieba, run token by token through a tantivy analyzer over the raw token.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from importlib import resources

import regex
import tantivy

from sluice.text.params import FilterSpec, TokenizerSpec

#: A Python-side filter: keep the token or not.
TokenPredicate = Callable[[str], bool]

_NATIVE_FILTERS = frozenset(
    {"lowercase", "asciifolding", "alphanumonly", "length", "stop", "stemmer", "decompounder"}
)

_HAN = regex.compile(r"\p{Han}+")
_CN_ALPHANUM = regex.compile(r"[\p{Han}a-zA-Z0-9]+")
_PUNCT_OR_SPACE = regex.compile(r"[\p{Punct}\s]+")


def is_native(spec: FilterSpec) -> bool:
    """Whether tantivy's Python bindings provide this filter."""
    return spec.kind in _NATIVE_FILTERS


def native_filters(spec: FilterSpec) -> list[tantivy.Filter]:
    """The tantivy filter(s) that implement ``spec`` (a stop filter may need several)."""
    kind = spec.kind
    if kind == "lowercase":
        return [tantivy.Filter.lowercase()]
    if kind == "asciifolding":
        return [tantivy.Filter.ascii_fold()]
    if kind == "alphanumonly":
        return [tantivy.Filter.alphanum_only()]
    if kind == "length":
        # Milvus keeps tokens of at most ``max`` bytes: tantivy's limit is exclusive.
        return [tantivy.Filter.remove_long(spec.max_bytes + 1)]
    if kind == "stemmer":
        return [tantivy.Filter.stemmer(spec.language)]
    if kind == "decompounder":
        return [tantivy.Filter.split_compound(list(spec.words))]
    if kind == "stop":
        filters = [tantivy.Filter.stopword(lang) for lang in spec.languages if lang != "chinese"]
        words = list(spec.words)
        if "chinese" in spec.languages:
            words.extend(chinese_stop_words())
        if words:
            filters.append(tantivy.Filter.custom_stopword(words))
        return filters
    raise ValueError(f"no tantivy filter for {kind}")


def predicate(spec: FilterSpec) -> TokenPredicate:
    """Milvus's own filters keep a token when their pattern is found anywhere in it."""
    if spec.kind == "cncharonly":
        return lambda token: _HAN.search(token) is not None
    if spec.kind == "cnalphanumonly":
        return lambda token: _CN_ALPHANUM.search(token) is not None
    if spec.kind == "removepunct":
        return lambda token: _PUNCT_OR_SPACE.search(token) is None
    if spec.kind == "regex":
        pattern = regex.compile(spec.expr)

        def matches(token: str) -> bool:
            try:
                return pattern.search(token) is not None
            except (regex.error, RecursionError):
                # Milvus keeps the token when the regex engine fails on it.
                return True

        return matches
    raise ValueError(f"no predicate for {spec.kind}")


def tantivy_analyzer(
    tokenizer: tantivy.Tokenizer, filters: Sequence[FilterSpec]
) -> tantivy.TextAnalyzer:
    builder = tantivy.TextAnalyzerBuilder(tokenizer)
    for spec in filters:
        for native in native_filters(spec):
            builder = builder.filter(native)
    return builder.build()


def tantivy_tokenizer(spec: TokenizerSpec) -> tantivy.Tokenizer:
    if spec.kind == "standard":
        return tantivy.Tokenizer.simple()
    if spec.kind == "whitespace":
        return tantivy.Tokenizer.whitespace()
    raise ValueError(f"{spec.kind} is not a tantivy tokenizer")


@functools.cache
def chinese_stop_words() -> tuple[str, ...]:
    """Milvus's ``_chinese_`` stop-word list."""
    text = resources.files("sluice.text").joinpath("data/chinese_stop_words.txt").read_text()
    return tuple(line for line in text.splitlines() if line)


class JiebaTokenizer:
    """jieba-rs segmentation with Milvus's token shape.

    Milvus's jieba tokenizer reports a token's position as its start in
    characters and its position length as its length in characters.
    """

    _default_lock = threading.Lock()
    _default: object | None = None

    def __init__(self, spec: TokenizerSpec) -> None:
        import rjieba

        if spec.default_dict and not spec.words:
            self._jieba = self._shared_default()
        else:
            self._jieba = rjieba.Jieba() if spec.default_dict else rjieba.Jieba.empty()
            for word in spec.words:
                self._jieba.add_word(word, None, None)
        self._mode = "default" if spec.mode == "exact" else "search"
        self._hmm = spec.hmm

    @classmethod
    def _shared_default(cls) -> object:
        # Loading the default dictionary takes ~70 ms; every default jieba shares one.
        import rjieba

        with cls._default_lock:
            if cls._default is None:
                cls._default = rjieba.Jieba()
            return cls._default

    def segments(self, text: str) -> list[tuple[str, int, int]]:
        """``(word, start_char, end_char)`` per segment, in jieba-rs's order."""
        result: list[tuple[str, int, int]] = self._jieba.tokenize(  # type: ignore[attr-defined]
            text, self._mode, self._hmm
        )
        return result
