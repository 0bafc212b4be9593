"""RunAnalyzer's result: tokens per text, with details and hashes on request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sluice.text.analyzer import Analyzer
from sluice.text.hashing import token_hash


@dataclass(frozen=True, slots=True)
class AnalyzedToken:
    """``milvus.AnalyzerToken``: offsets and positions are 0 unless details were asked for."""

    token: str
    start_offset: int = 0
    end_offset: int = 0
    position: int = 0
    position_length: int = 0
    hash: int = 0


def run_analyzer(
    analyzers: Sequence[Analyzer], texts: Sequence[str], with_detail: bool, with_hash: bool
) -> list[list[AnalyzedToken]]:
    """Tokens of ``texts[i]`` by ``analyzers[i]`` (one analyzer may serve every text)."""
    results: list[list[AnalyzedToken]] = []
    for i, text in enumerate(texts):
        analyzer = analyzers[i] if len(analyzers) > 1 else analyzers[0]
        if with_detail:
            tokens = [
                AnalyzedToken(
                    t.text,
                    t.start_offset,
                    t.end_offset,
                    t.position,
                    t.position_length,
                    token_hash(t.text) if with_hash else 0,
                )
                for t in analyzer.analyze(text)
            ]
        else:
            tokens = [
                AnalyzedToken(t, hash=token_hash(t) if with_hash else 0)
                for t in analyzer.tokens(text)
            ]
        results.append(tokens)
    return results
