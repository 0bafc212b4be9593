"""Text benchmarks: analyzer throughput and an in-process BM25 reference searcher.

Generates a Zipf-distributed English-like corpus (nothing downloaded), then:

* tokenisation throughput of Sluice's ``standard`` and ``english`` analyzers
  against the same tantivy analyzer chain called directly;
* a tantivy index built in RAM over the corpus: its BM25 top-10 query time,
  and Sluice's brute-force reference scorer (``sluice.text.score_documents``)
  on the same corpus and queries (a correctness reference, not a search index).

    .venv/bin/python bench/text_bench.py --docs 100000 --queries 200
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import tantivy

from sluice.text import (
    CorpusStats,
    analyzer_for,
    document_vectors,
    query_vector,
    score_documents,
    top_k,
)


def zipf_corpus(n_docs: int, seed: int, vocab: int = 30_000) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words = []
    r = random.Random(seed)
    for _ in range(vocab):
        words.append(
            "".join(r.choice(letters[: r.randint(8, 26)]) for _ in range(r.randint(2, 10)))
        )
    lengths = rng.integers(5, 30, size=n_docs)
    ranks = np.minimum(rng.zipf(1.15, size=int(lengths.sum())), vocab) - 1
    docs, at = [], 0
    for n in lengths.tolist():
        docs.append(
            " ".join(words[i].capitalize() if i % 7 == 0 else words[i] for i in ranks[at : at + n])
        )
        at += n
    return docs


def throughput(label: str, fn, docs: list[str]) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for d in docs:
        fn(d)
    rate = len(docs) / (time.perf_counter() - started)
    print(f"  {label:<38} {rate:>10,.0f} docs/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    docs = zipf_corpus(args.docs, seed=1)
    print(
        f"corpus: {len(docs):,} docs, {sum(len(d.split()) for d in docs) / len(docs):.1f} words/doc"
    )

    print("tokenisation")
    standard = analyzer_for({"type": "standard"})
    english = analyzer_for({"type": "english"})
    raw_standard = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .build()
    )
    raw_english = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .filter(tantivy.Filter.stopword("english"))
        .build()
    )
    sample = docs[: min(len(docs), 50_000)]
    a = throughput("sluice standard (tokens)", standard.tokens, sample)
    b = throughput("tantivy simple+lowercase (analyze)", raw_standard.analyze, sample)
    c = throughput("sluice english (tokens)", english.tokens, sample)
    d = throughput("tantivy english chain (analyze)", raw_english.analyze, sample)
    throughput("sluice english (analyze, with offsets)", english.analyze, sample[:20_000])
    print(f"  ratio sluice/tantivy: standard {a / b:.2f}, english {c / d:.2f}")

    print("BM25 (english analyzer)")
    started = time.perf_counter()
    rows = document_vectors(english, docs)
    stats = CorpusStats.of(rows)
    print(f"  sluice vectors + stats: {time.perf_counter() - started:.2f} s")

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    schema = builder.build()
    index = tantivy.Index(schema)
    started = time.perf_counter()
    writer = index.writer(200_000_000, 1)
    for text in docs:
        writer.add_document(tantivy.Document(body=text))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    print(f"  tantivy in-RAM index build: {time.perf_counter() - started:.2f} s")

    rng = random.Random(2)
    queries = [" ".join(rng.choice(docs).split()[:3]) for _ in range(args.queries)]
    parsed = [index.parse_query(q.lower(), ["body"]) for q in queries]
    started = time.perf_counter()
    for q in parsed:
        searcher.search(q, 10)
    tantivy_ms = (time.perf_counter() - started) / len(parsed) * 1e3
    print(f"  tantivy top-10: {tantivy_ms:.3f} ms/query")

    started = time.perf_counter()
    for q in queries:
        terms, tf = query_vector(english, q)
        scores = score_documents(terms, stats.query_weights(terms, tf), rows, avgdl=stats.avgdl)
        top_k(scores, 10)
    ref_ms = (time.perf_counter() - started) / len(queries) * 1e3
    print(f"  sluice reference scorer (brute force) top-10: {ref_ms:.3f} ms/query")


if __name__ == "__main__":
    main()
