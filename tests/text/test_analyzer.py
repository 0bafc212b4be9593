"""Analyzers produce Milvus's documented tokens, offsets and positions."""

from __future__ import annotations

import pytest

from sluice.text import AnalyzerError, analyzer_for

# Input/output pairs copied from Milvus 2.6's analyzer documentation.
DOCUMENTED = [
    (
        {"type": "standard", "stop_words": ["for"]},
        "The Milvus vector database is built for scale!",
        ["the", "milvus", "vector", "database", "is", "built", "scale"],
    ),
    (
        {"type": "english", "stop_words": ["a", "an", "the"]},
        "Milvus is a vector database built for scale!",
        ["milvus", "vector", "databas", "built", "scale"],
    ),
    (
        {"type": "chinese"},
        "Milvus 是一个高性能、可扩展的向量数据库！",
        [
            "Milvus",
            "是",
            "一个",
            "高性",
            "性能",
            "高性能",
            "可",
            "扩展",
            "的",
            "向量",
            "数据",
            "据库",
            "数据库",
        ],
    ),
    ({"tokenizer": "jieba"}, "你好!世界。", ["你好", "!", "世界", "。"]),
]


@pytest.mark.parametrize(("params", "text", "expected"), DOCUMENTED)
def test_documented_examples(params: dict, text: str, expected: list[str]) -> None:
    assert analyzer_for(params).tokens(text) == expected


def test_empty_params_are_the_standard_analyzer() -> None:
    for params in (None, "", "{}", {}):
        assert analyzer_for(params).tokens("Hello, World") == ["hello", "world"]


def test_english_list_is_milvus_list() -> None:
    english = (
        "a an and are as at be but by for if in into is it no not of on or such that the "
        "their then there these they this to was will with"
    )
    analyzer = analyzer_for(
        {"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": ["_english_"]}]}
    )
    assert analyzer.tokens(english + " milvus") == ["milvus"]


def test_chinese_stop_list() -> None:
    analyzer = analyzer_for(
        {"tokenizer": "jieba", "filter": [{"type": "stop", "stop_words": ["_chinese_"]}]}
    )
    assert analyzer.tokens("我们的数据库") == ["数据", "据库", "数据库"]


def test_filters() -> None:
    cases = [
        (["lowercase"], "standard", "ABC Déf", ["abc", "déf"]),
        (["asciifolding"], "standard", "Café naïve", ["Cafe", "naive"]),
        (["alphanumonly"], "whitespace", "ab c! 12", ["ab", "12"]),
        (["cncharonly"], "whitespace", "中文 abc 混合mix", ["中文", "混合mix"]),
        (["cnalphanumonly"], "whitespace", "中文 abc ,. 1", ["中文", "abc", "1"]),
        (["removepunct"], "whitespace", "hello , don't world", ["hello", "world"]),
        ([{"type": "length", "max": 3}], "standard", "a abc abcd héé", ["a", "abc"]),
        ([{"type": "stemmer", "language": "English"}], "standard", "running dogs", ["run", "dog"]),
        (
            [{"type": "decompounder", "word_list": ["dampf", "schiff"]}],
            "standard",
            "dampfschiff",
            ["dampf", "schiff"],
        ),
        ([{"type": "regex", "expr": "^(?!test)"}], "standard", "test milvus", ["milvus"]),
    ]
    for filters, tokenizer, text, expected in cases:
        assert analyzer_for({"tokenizer": tokenizer, "filter": filters}).tokens(text) == expected


def test_details_are_byte_offsets_and_positions() -> None:
    tokens = analyzer_for({"type": "standard", "stop_words": ["the"]}).analyze("Café the naïve")
    assert [
        (t.text, t.start_offset, t.end_offset, t.position, t.position_length) for t in tokens
    ] == [
        ("café", 0, 5, 0, 1),
        ("naïve", 10, 16, 2, 1),
    ]


def test_jieba_positions_are_character_starts() -> None:
    tokens = analyzer_for({"tokenizer": {"type": "jieba", "mode": "exact"}}).analyze("北京大学生")
    assert [
        (t.text, t.start_offset, t.end_offset, t.position, t.position_length) for t in tokens
    ] == [
        ("北京", 0, 6, 0, 2),
        ("大学生", 6, 15, 2, 3),
    ]


def test_jieba_custom_dictionary() -> None:
    text = "milvus结巴分词器中文测试"
    exact = analyzer_for(
        {"tokenizer": {"type": "jieba", "dict": ["结巴分词器"], "mode": "exact", "hmm": False}}
    )
    assert exact.tokens(text) == ["milvus", "结巴分词器", "中", "文", "测", "试"]
    search = analyzer_for(
        {"tokenizer": {"type": "jieba", "dict": ["_default_", "结巴分词器"], "hmm": False}}
    )
    assert "结巴分词器" in search.tokens(text) and "中文" in search.tokens(text)


def test_tantivy_filters_after_python_stages_match_one_chain() -> None:
    """tantivy filters run token by token after a Python stage equal one tantivy chain."""
    text = "Running DOGS, the Dampfschiff's café runs"
    filters: list = [
        "lowercase",
        "asciifolding",
        {"type": "stemmer", "language": "english"},
        {"type": "stop", "stop_words": ["_english_", "dog"]},
        {"type": "decompounder", "word_list": ["dampf", "schiff"]},
        {"type": "length", "max": 6},
    ]
    chain = analyzer_for({"tokenizer": "standard", "filter": filters})
    keep_all = {"type": "regex", "expr": ""}
    staged = analyzer_for({"tokenizer": "standard", "filter": [keep_all, *filters]})
    assert chain.analyze(text) == staged.analyze(text)
    assert [t.text for t in chain.analyze(text)] == ["run", "dampf", "schiff", "s", "cafe", "run"]


REFUSED = [
    ({"tokenizer": "invalid_tokenizer"}, "unsupported tokenizer: invalid_tokenizer"),
    ({"tokenizer": 123}, "tokenizer name should be string or dict"),
    ({"tokenizer": None}, "tokenizer name should be string or dict"),
    ({"tokenizer": []}, "tokenizer name should be string or dict"),
    ({"tokenizer": {"type": "invalid_type"}}, "unsupported tokenizer: invalid_type"),
    ({"tokenizer": {"type": None}}, "tokenizer type should be string"),
    ({"tokenizer": {"mode": "exact"}}, "costum tokenizer must set type"),
    ({"filter": "invalid_filter"}, "tokenizer name or type must be set"),
    ({"tokenizer": "standard", "filter": "lowercase"}, "filter params should be array"),
    (
        {"tokenizer": "standard", "filter": ["nope"]},
        "build analyzer failed, filter not found :nope",
    ),
    ({"tokenizer": "standard", "filter": [{"type": None}]}, "filter type should be string"),
    ({"tokenizer": "standard", "filter": [{"invalid_key": "v"}]}, "no type field in filter params"),
    ({"tokenizer": "standard", "filter": [{"type": "nope"}]}, "unsupport filter type: nope"),
    (
        {"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": "x"}]},
        "stop_words should be array",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": [1]}]},
        "stop_words list item should be string",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "length"}]},
        "lenth max param was none or not uint",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "length", "max": -1}]},
        "lenth max param was none or not uint",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "stemmer"}]},
        "stemmer language field should be string",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "Klingon"}]},
        "create stemmer failed : unsupport language: klingon",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "decompounder"}]},
        "decompounder word list is empty",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "decompounder", "word_list": "x"}]},
        "decompounder word list should be array",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "decompounder", "word_list": [1]}]},
        "decompounder word list item should be string",
    ),
    ({"tokenizer": "standard", "filter": [{"type": "regex"}]}, "must set expr for regex filter"),
    ({"tokenizer": "standard", "filter": [{"type": "regex", "expr": 1}]}, "expr must be string"),
    ({"tokenizer": "standard", "extra": 1}, "unknown analyzer option key: extra"),
    ({"type": "klingon"}, "unknown build-in analyzer type: klingon"),
    ({"type": 1}, "analyzer type shoud be string"),
    ({"type": "english", "stop_words": "a"}, "filter stop_words should be array"),
    ({"tokenizer": {"type": "jieba", "dict": "x"}}, "jieba tokenizer dict must be array"),
    ({"tokenizer": {"type": "jieba", "dict": None}}, "jieba tokenizer dict must be array"),
    ({"tokenizer": {"type": "jieba", "dict": [1]}}, "jieba tokenizer dict item must be string"),
    ({"tokenizer": {"type": "jieba", "mode": 1}}, "jieba tokenizer mode must be string"),
    (
        {"tokenizer": {"type": "jieba", "mode": "fast"}},
        'jieba tokenizer mode must be "exact" or "search"',
    ),
    ({"tokenizer": {"type": "jieba", "hmm": "yes"}}, "jieba tokenizer mode must be boolean"),
    ({"tokenizer": "icu"}, "the icu tokenizer (ICU word segmentation) is not supported by Sluice"),
    (
        {"tokenizer": {"type": "lindera", "dict_kind": "ipadic"}},
        "the lindera tokenizer (downloaded dictionaries) is not supported by Sluice",
    ),
    (
        {"tokenizer": "standard", "filter": [{"type": "stop", "stop_words_file": {}}]},
        "stop_words_file (file resources) is not supported by Sluice",
    ),
    ("[1]", "params should be a json map"),
]


@pytest.mark.parametrize(("params", "reason"), REFUSED)
def test_refusals_use_milvus_wording(params: object, reason: str) -> None:
    with pytest.raises(AnalyzerError) as info:
        analyzer_for(params)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert info.value.code == 2000
    assert info.value.message == (
        f"failed to create analyzer, C Runtime Exception: {reason}: segcore error[segcoreCode=2001]"
    )


def test_unknown_tokenizer_options_are_ignored_as_in_milvus() -> None:
    assert analyzer_for({"tokenizer": {"type": "jieba", "invalid_param": "v"}}).tokens("测试")
