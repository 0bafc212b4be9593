"""``analyzer_params``: parsing and validation into a typed analyzer spec.

The JSON shapes, defaults and refusal wording follow Milvus's analyzer
builder (its Rust ``AnalyzerBuilder``): a built-in analyzer by ``type``
(``standard``, ``english``, ``chinese``, each taking ``stop_words``), or a
custom one with a ``tokenizer`` (a name, or an object with ``type`` and
options) and a ``filter`` list (names, or objects with ``type`` and
options).  Empty params mean the ``standard`` analyzer.

Like Milvus, options a tokenizer or filter object does not use are ignored
(Milvus's own suite relies on that for jieba); top-level keys other than
``tokenizer`` and ``filter`` are refused.  Tokenizers and filters Milvus has
but Sluice cannot run (``icu``, ``lindera``, file-backed word lists...)
are refused by name rather than replaced by something else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.text.errors import AnalyzerError

#: Filters named by a plain string in ``filter``.
NAMED_FILTERS = (
    "lowercase",
    "asciifolding",
    "alphanumonly",
    "cncharonly",
    "cnalphanumonly",
    "removepunct",
)

#: Stemmer languages (lower-cased), including Milvus's historical ``arabig`` spelling.
STEMMER_LANGUAGES = {
    "arabic": "arabic",
    "arabig": "arabic",
    "danish": "danish",
    "dutch": "dutch",
    "english": "english",
    "finnish": "finnish",
    "french": "french",
    "german": "german",
    "greek": "greek",
    "hungarian": "hungarian",
    "italian": "italian",
    "norwegian": "norwegian",
    "portuguese": "portuguese",
    "romanian": "romanian",
    "russian": "russian",
    "spanish": "spanish",
    "swedish": "swedish",
    "tamil": "tamil",
    "turkish": "turkish",
}

#: Milvus tokenizers that need resources Sluice does not ship.
_UNSUPPORTED_TOKENIZERS = {
    "icu": "the icu tokenizer (ICU word segmentation) is not supported by Sluice",
    "lindera": "the lindera tokenizer (downloaded dictionaries) is not supported by Sluice",
    "language_identifier": "the language_identifier tokenizer is not supported by Sluice",
    "grpc": "the grpc tokenizer (an external tokenization service) is not supported by Sluice",
    "char_group": "the char_group tokenizer is not supported by Sluice",
}
_UNSUPPORTED_FILTERS = {
    "synonym": "the synonym filter is not supported by Sluice",
    "pinyin": "the pinyin filter is not supported by Sluice",
}
_FILE_OPTIONS = {
    "stop": "stop_words_file",
    "decompounder": "word_list_file",
}


@dataclass(frozen=True)
class TokenizerSpec:
    """``standard`` and ``whitespace`` are tantivy's; ``jieba`` is jieba-rs."""

    kind: str
    #: jieba: extra dictionary words, whether the default dictionary is loaded, mode, HMM.
    words: tuple[str, ...] = ()
    default_dict: bool = True
    mode: str = "search"
    hmm: bool = True


@dataclass(frozen=True)
class FilterSpec:
    """One token filter; only the fields its ``kind`` uses are set."""

    kind: str
    #: stop: custom words; decompounder: the word list.
    words: tuple[str, ...] = ()
    #: stop: built-in lists (``english``, ``chinese``...) expanded from ``_english_``...
    languages: tuple[str, ...] = ()
    #: length: the longest token kept, in UTF-8 bytes.
    max_bytes: int = 0
    #: stemmer language, or regex expression.
    language: str = ""
    expr: str = ""


@dataclass(frozen=True)
class AnalyzerSpec:
    tokenizer: TokenizerSpec
    filters: tuple[FilterSpec, ...] = ()


#: Stop-word lists ``_name_`` expands to (Milvus's ``fetch_language_stop_words``).
STOP_WORD_LANGUAGES = frozenset(
    {
        "english",
        "chinese",
        "danish",
        "dutch",
        "finnish",
        "french",
        "german",
        "hungarian",
        "italian",
        "norwegian",
        "portuguese",
        "russian",
        "spanish",
        "swedish",
    }
)


def parse_analyzer_params(params: str | Mapping[str, Any] | None) -> AnalyzerSpec:
    """The analyzer ``params`` describe, or :class:`AnalyzerError` in Milvus's words."""
    if params is None:
        return standard_spec(())
    if isinstance(params, str):
        if not params:
            return standard_spec(())
        try:
            decoded = json.loads(params)
        except ValueError as exc:
            raise AnalyzerError(f"json error: {exc}") from None
        if not isinstance(decoded, dict):
            raise AnalyzerError("params should be a json map")
        params = decoded
    if not params:
        return standard_spec(())
    if "type" in params:
        return _builtin(params)
    if "tokenizer" not in params:
        raise AnalyzerError("tokenizer name or type must be set")
    tokenizer = _tokenizer(params["tokenizer"])
    filters: tuple[FilterSpec, ...] = ()
    for key in sorted(params):  # Milvus's JSON map iterates keys in sorted order
        if key == "tokenizer":
            continue
        if key == "filter":
            filters = _filters(params[key])
            continue
        raise AnalyzerError(f"unknown analyzer option key: {key}")
    return AnalyzerSpec(tokenizer, filters)


def standard_spec(stop_words: tuple[str, ...]) -> AnalyzerSpec:
    filters = [FilterSpec("lowercase")]
    if stop_words:
        filters.append(_stop_filter(stop_words))
    return AnalyzerSpec(TokenizerSpec("standard"), tuple(filters))


def english_spec(stop_words: tuple[str, ...]) -> AnalyzerSpec:
    filters = [
        FilterSpec("lowercase"),
        FilterSpec("stemmer", language="english"),
        FilterSpec("stop", languages=("english",)),
    ]
    if stop_words:
        filters.append(_stop_filter(stop_words))
    return AnalyzerSpec(TokenizerSpec("standard"), tuple(filters))


def chinese_spec(stop_words: tuple[str, ...]) -> AnalyzerSpec:
    filters = [FilterSpec("cnalphanumonly")]
    if stop_words:
        filters.append(_stop_filter(stop_words))
    return AnalyzerSpec(TokenizerSpec("jieba"), tuple(filters))


_BUILTINS = {"standard": standard_spec, "english": english_spec, "chinese": chinese_spec}


def _builtin(params: Mapping[str, Any]) -> AnalyzerSpec:
    kind = params["type"]
    if not isinstance(kind, str):
        raise AnalyzerError("analyzer type shoud be string")
    build = _BUILTINS.get(kind)
    if build is None:
        raise AnalyzerError(f"unknown build-in analyzer type: {kind}")
    stop_words: tuple[str, ...] = ()
    if "stop_words" in params:
        stop_words = tuple(_string_list(params["stop_words"], "filter stop_words"))
    return build(stop_words)


def _tokenizer(value: Any) -> TokenizerSpec:
    if isinstance(value, str):
        name, options = value, None
    elif isinstance(value, dict):
        if "type" not in value:
            raise AnalyzerError("costum tokenizer must set type")
        if not isinstance(value["type"], str):
            raise AnalyzerError("tokenizer type should be string")
        name, options = value["type"], value
    else:
        raise AnalyzerError("tokenizer name should be string or dict")
    if name in ("standard", "whitespace"):
        return TokenizerSpec(name)
    if name == "jieba":
        return _jieba(options or {})
    if name in _UNSUPPORTED_TOKENIZERS:
        raise AnalyzerError(_UNSUPPORTED_TOKENIZERS[name])
    raise AnalyzerError(f"unsupported tokenizer: {name}")


def _jieba(options: Mapping[str, Any]) -> TokenizerSpec:
    words: list[str] = []
    default_dict = True
    if "dict" in options:
        entries = options["dict"]
        if not isinstance(entries, list):
            raise AnalyzerError("jieba tokenizer dict must be array")
        default_dict = False
        for entry in entries:
            if not isinstance(entry, str):
                raise AnalyzerError("jieba tokenizer dict item must be string")
            if entry == "_default_":
                default_dict = True
            else:
                words.append(entry)
    mode = "search"
    if "mode" in options:
        mode = options["mode"]
        if not isinstance(mode, str):
            raise AnalyzerError("jieba tokenizer mode must be string")
        if mode not in ("exact", "search"):
            raise AnalyzerError('jieba tokenizer mode must be "exact" or "search"')
    hmm = True
    if "hmm" in options:
        hmm = options["hmm"]
        if not isinstance(hmm, bool):
            # Milvus's wording for a non-boolean ``hmm`` names ``mode``.
            raise AnalyzerError("jieba tokenizer mode must be boolean")
    return TokenizerSpec("jieba", tuple(words), default_dict, mode, hmm)


def _filters(value: Any) -> tuple[FilterSpec, ...]:
    if not isinstance(value, list):
        raise AnalyzerError("filter params should be array")
    specs: list[FilterSpec] = []
    for item in value:
        if isinstance(item, str):
            if item not in NAMED_FILTERS:
                raise AnalyzerError(f"build analyzer failed, filter not found :{item}")
            specs.append(FilterSpec(item))
        elif isinstance(item, dict):
            specs.append(_filter_object(item))
        else:
            # Milvus skips such items; Sluice refuses rather than drop part of a request.
            raise AnalyzerError(
                f"filter item should be string or dict, but got: {json.dumps(item)}"
            )
    return tuple(specs)


def _filter_object(params: Mapping[str, Any]) -> FilterSpec:
    if "type" not in params:
        raise AnalyzerError("no type field in filter params")
    kind = params["type"]
    if not isinstance(kind, str):
        raise AnalyzerError("filter type should be string")
    if kind in _UNSUPPORTED_FILTERS:
        raise AnalyzerError(_UNSUPPORTED_FILTERS[kind])
    file_option = _FILE_OPTIONS.get(kind)
    if file_option is not None and file_option in params:
        raise AnalyzerError(f"{file_option} (file resources) is not supported by Sluice")
    if kind == "length":
        limit = params.get("max")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise AnalyzerError("lenth max param was none or not uint")
        return FilterSpec("length", max_bytes=limit)
    if kind == "stop":
        words: tuple[str, ...] = ()
        if "stop_words" in params:
            words = tuple(_string_list(params["stop_words"], "stop_words"))
        return _stop_filter(words)
    if kind == "decompounder":
        return _decompounder(params)
    if kind == "stemmer":
        language = params.get("language")
        if not isinstance(language, str):
            raise AnalyzerError("stemmer language field should be string")
        resolved = STEMMER_LANGUAGES.get(language.lower())
        if resolved is None:
            raise AnalyzerError(f"create stemmer failed : unsupport language: {language.lower()}")
        return FilterSpec("stemmer", language=resolved)
    if kind == "regex":
        return _regex(params)
    raise AnalyzerError(f"unsupport filter type: {kind}")


def _stop_filter(words: tuple[str, ...]) -> FilterSpec:
    """Milvus's ``get_stop_words_list``: ``_lang_`` entries name a built-in list."""
    languages: list[str] = []
    custom: list[str] = []
    for word in words:
        lang = word[1:-1] if len(word) > 2 and word[0] == "_" and word[-1] == "_" else ""
        if lang in STOP_WORD_LANGUAGES:
            if lang not in languages:
                languages.append(lang)
        else:
            custom.append(word)
    return FilterSpec("stop", words=tuple(custom), languages=tuple(languages))


def _decompounder(params: Mapping[str, Any]) -> FilterSpec:
    words: list[str] = []
    if "word_list" in params:
        value = params["word_list"]
        if not isinstance(value, list):
            raise AnalyzerError("decompounder word list should be array")
        for word in value:
            if not isinstance(word, str):
                raise AnalyzerError("decompounder word list item should be string")
            words.append(word)
    if not words:
        raise AnalyzerError("decompounder word list is empty")
    return FilterSpec("decompounder", words=tuple(words))


def _regex(params: Mapping[str, Any]) -> FilterSpec:
    import regex

    if "expr" not in params:
        raise AnalyzerError("must set expr for regex filter")
    expr = params["expr"]
    if not isinstance(expr, str):
        raise AnalyzerError("expr must be string")
    try:
        regex.compile(expr)
    except regex.error as exc:
        raise AnalyzerError(f"regex expression invalid, expr:{expr}, err: {exc}") from None
    return FilterSpec("regex", expr=expr)


def _string_list(value: Any, label: str) -> list[str]:
    if not isinstance(value, list):
        raise AnalyzerError(f"{label} should be array")
    if not all(isinstance(v, str) for v in value):
        raise AnalyzerError(f"{label} list item should be string")
    return list(value)
