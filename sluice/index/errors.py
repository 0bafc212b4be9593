"""Index errors that need a Milvus code other than their parent's, and message builders.

Milvus reports parameter mistakes in three shapes, and clients match on both
the code and the text, so each shape has one builder here:

* Proxy-side checks (metric names, ``range_filter`` vs ``radius``) use
  ``merr.WrapErrParameterInvalidMsg``: ``<text>: invalid parameter``, code 1100.
* Build-parameter checks run by knowhere at CreateIndex come back wrapped twice:
  knowhere's text, ``: invalid parameter`` from the C boundary, then the proxy's
  ``WrapErrParameterInvalid("valid index params", "invalid index params", ...)``.
  Code 1100.
* Search-parameter checks run by knowhere inside the query node (``ef`` smaller
  than ``k``, ``nprobe`` out of range) and the query node's metric check reach
  the client with the generic code 65535, as Milvus's own test suite expects.
  :class:`ParamRejected` carries that code while staying a
  :class:`~sluice.errors.ParameterInvalid`, so ``except ParameterInvalid`` still
  catches every caller mistake.
"""

from __future__ import annotations

from sluice.errors import ParameterInvalid


class ParamRejected(ParameterInvalid):
    """A caller mistake that Milvus reports with code 65535 rather than 1100.

    Raised for search parameters knowhere refuses (``ef(5) should be larger
    than k(10)``, ``Out of range in json: param 'nprobe' ...``), for a search
    metric that differs from the index's, and for AUTOINDEX given build
    parameters.  The message is Milvus's text without the ``invalid parameter``
    suffix, because that is what the query node returns.
    """

    code = 65535


def index_params_error(text: str) -> ParameterInvalid:
    """A proxy-side CreateIndex check: ``<text>: invalid parameter[expected=...][actual=...]``."""
    return ParameterInvalid.expected("valid index params", "invalid index params", text)


def knowhere_build_error(text: str) -> ParameterInvalid:
    """A knowhere build-parameter check as Milvus 2.6 reports it (wrapped twice)."""
    return index_params_error(f"{text}: {ParameterInvalid.base_message}")
