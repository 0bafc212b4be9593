"""Errors of the text layer, worded as Milvus words them.

Milvus builds analyzers in its Rust layer; a bad ``analyzer_params`` comes
back through segcore as ``<context>, C Runtime Exception: <reason>`` with
code 2000 (``segcore error``).  The reason strings below are Milvus's own
(typos included) because clients and test suites match on them.
"""

from __future__ import annotations

from typing import Self

from sluice.errors import SegcoreError

#: Segcore's code for an error raised by the Rust analyzer builder.
ANALYZER_SEGCORE_CODE = 2001


class AnalyzerError(SegcoreError):
    """``analyzer_params`` that Milvus's analyzer builder refuses."""

    input_error = True

    def __init__(self, reason: str, context: str = "failed to create analyzer") -> None:
        self.reason = reason
        super().__init__(
            f"{context}, C Runtime Exception: {reason}: "
            f"{self.base_message}[segcoreCode={ANALYZER_SEGCORE_CODE}]"
        )

    def in_context(self, context: str) -> Self:
        """The same refusal reported by another caller (``failed to create tokenizer``...)."""
        return type(self)(self.reason, context)
