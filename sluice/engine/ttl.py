"""Collection TTL (``collection.ttl.seconds``): rows older than the TTL stop being visible.

A row inserted at hybrid timestamp ``t`` is invisible to a read at ``T``
once ``physical(T) - physical(t) > ttl`` seconds: every read computes one
cut-off timestamp and the reader compares it with the ``$ts`` column of each
segment (a vectorised comparison; segments hold rows in timestamp order, so
a segment with no expired row costs one scalar comparison).  Nothing is
rewritten: compaction would be the place to drop expired rows physically.

Milvus accepts ``-1`` .. ``3155760000`` seconds; zero or a negative TTL means
rows never expire.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluice.engine.tso import compose, physical_ms
from sluice.errors import ParameterInvalid

TTL_PROPERTY = "collection.ttl.seconds"
#: ``common.MaxTTLSeconds``: 100 years.
MAX_TTL_SECONDS = 3155760000


def validate_ttl(properties: Mapping[str, str]) -> None:
    """Milvus's ``validateCollectionTTL``, for CreateCollection and AlterCollection."""
    raw = properties.get(TTL_PROPERTY)
    if raw is None:
        return
    try:
        value = int(raw)
    except ValueError:
        raise ParameterInvalid.msg("collection TTL is not a valid positive integer") from None
    if value < -1 or value > MAX_TTL_SECONDS:
        raise ParameterInvalid.msg(
            f"collection TTL is out of range, expect [-1, {MAX_TTL_SECONDS}], got {value}"
        )


def ttl_seconds(properties: Mapping[str, str]) -> int:
    """The TTL in seconds, or 0 when rows never expire."""
    raw = properties.get(TTL_PROPERTY)
    if raw is None:
        return 0
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


def expire_before(properties: Mapping[str, str], read_ts: int) -> int:
    """The timestamp below which rows have expired at ``read_ts`` (0: nothing expires)."""
    ttl = ttl_seconds(properties)
    if ttl == 0:
        return 0
    cutoff_ms = physical_ms(read_ts) - ttl * 1000
    return compose(cutoff_ms) if cutoff_ms > 0 else 0
