"""Multi-language analyzers: ``multi_analyzer_params`` on a BM25 input field.

A field with ``multi_analyzer_params`` picks its analyzer per row from
another VARCHAR field (``by_field``): the row's value, after ``alias``
mapping, names one of ``analyzers``; unknown names use the analyzer named
``default``, which must exist.  Wording follows Milvus's proxy checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice.errors import RequestError
from sluice.text.analyzer import Analyzer, analyzer_for
from sluice.text.errors import AnalyzerError

DEFAULT_ANALYZER = "default"


class MultiAnalyzerParamsError(RequestError):
    """``multi_analyzer_params`` Milvus's proxy refuses (a plain error, code 65535)."""


@dataclass(frozen=True)
class MultiAnalyzer:
    by_field: str
    analyzers: Mapping[str, Analyzer]
    alias: Mapping[str, str]

    def resolve(self, name: str) -> Analyzer:
        """The analyzer a row whose ``by_field`` value is ``name`` uses."""
        name = self.alias.get(name, name)
        found = self.analyzers.get(name)
        return found if found is not None else self.analyzers[DEFAULT_ANALYZER]

    def token_lists(self, texts: Sequence[str], names: Sequence[str]) -> list[list[str]]:
        if len(texts) != len(names):
            raise MultiAnalyzerParamsError(
                "multi analyzer input text and analyzer name must have same length"
            )
        return [self.resolve(n).tokens(t) for t, n in zip(texts, names, strict=True)]


def parse_multi_analyzer_params(
    params: str | Mapping[str, Any], collection: str, varchar_fields: Mapping[str, bool]
) -> MultiAnalyzer:
    """Validate and build; ``varchar_fields`` maps each field name to "is it VARCHAR"."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError as exc:
            raise MultiAnalyzerParamsError(str(exc)) from None
    if not isinstance(params, dict):
        raise MultiAnalyzerParamsError("multi analyzer params should be a json map")
    if "by_field" not in params:
        raise MultiAnalyzerParamsError(
            "multi analyzer params now must set by_field to specify with field decide analyzer"
        )
    by_field = params["by_field"]
    if not isinstance(by_field, str):
        raise MultiAnalyzerParamsError(
            f"multi analyzer params by_field must be string but now: {json.dumps(by_field)}"
        )
    if by_field not in varchar_fields:
        raise MultiAnalyzerParamsError(
            f"multi analyzer dependent field {json.dumps(by_field)} not exist in collection {collection}"
        )
    if not varchar_fields[by_field]:
        raise MultiAnalyzerParamsError(
            "multi analyzer params now only support by string field, "
            f"but field {by_field} is not string"
        )
    alias = params.get("alias", {})
    if not isinstance(alias, dict) or not all(isinstance(v, str) for v in alias.values()):
        raise MultiAnalyzerParamsError(
            f"multi analyzer alias must be string map but now: {json.dumps(alias)}"
        )
    if "analyzers" not in params:
        raise MultiAnalyzerParamsError("multi analyzer params must set analyzers ")
    entries = params["analyzers"]
    if not isinstance(entries, dict):
        raise MultiAnalyzerParamsError(f"unmarshal analyzers failed: {json.dumps(entries)}")
    analyzers: dict[str, Analyzer] = {}
    for name, entry in entries.items():
        try:
            analyzers[name] = analyzer_for(entry)
        except AnalyzerError as err:
            raise MultiAnalyzerParamsError(
                f"analyzer {name} params invalid: {err.message}"
            ) from None
    if DEFAULT_ANALYZER not in analyzers:
        raise MultiAnalyzerParamsError(
            "multi analyzer must set default analyzer for all unknown value"
        )
    return MultiAnalyzer(by_field, analyzers, dict(alias))
