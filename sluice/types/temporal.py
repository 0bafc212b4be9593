"""The TIMESTAMPTZ entry: ISO-8601 text in, UTC microseconds stored, RFC 3339 text out.

Milvus (``pkg/util/timestamptz``) accepts RFC 3339 timestamps with an offset
or ``Z``, the same with a space instead of ``T`` (and ``+08`` short offsets),
and naive timestamps, which are read in the collection's time zone (the
``timezone`` collection property, else the database's, else UTC).  Offsets
must lie in [-12:00, +14:00].  Values are stored as int64 microseconds since
the Unix epoch, UTC, so comparisons and ordering are plain integer work; a
result shows them as Go's ``time.RFC3339Nano`` in the chosen zone (``Z`` for
a zero offset, fractional seconds without trailing zeros).

Parsing and formatting are whole-column (pandas / pyarrow compute).
"""

from __future__ import annotations

import zoneinfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import ParameterInvalid
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Context, FilterKind, Storage, TypeInfo

MIN_OFFSET_HOURS = -12
MAX_OFFSET_HOURS = 14
DEFAULT_TIMEZONE = "UTC"

_SHAPE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)?$"
_OFFSET = r"(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})?$"


def valid_timezone(name: str) -> bool:
    """Whether ``name`` is a time zone Go's ``time.LoadLocation`` would load."""
    if not name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _invalid(text: str) -> ParameterInvalid:
    return ParameterInvalid.msg(
        f"invalid timestamp string: '{text}'. Does not match any known format"
    )


def parse_iso(values: pa.Array, timezone: str = DEFAULT_TIMEZONE) -> pa.Array:
    """ISO-8601 strings -> int64 UTC microseconds (nulls stay null), or Milvus's refusal."""
    strings = values.cast(pa.string())
    shaped = pc.fill_null(pc.match_substring_regex(strings, _SHAPE), True)
    if not pc.all(shaped).as_py():
        raise _invalid(strings[pc.index(shaped, False).as_py()].as_py())
    _check_offsets(strings)
    texts = pd.Series(strings.to_pandas(), dtype=object)
    aware = np.asarray(
        pc.fill_null(pc.match_substring_regex(strings, r"(Z|[+-]\d{2}(:?\d{2})?)$"), False),
        dtype=np.bool_,
    )
    micros = np.zeros(len(texts), dtype=np.int64)
    present = texts.notna().to_numpy()
    for mask, localize in ((aware & present, False), (~aware & present, True)):
        if not mask.any():
            continue
        parsed = pd.to_datetime(texts[mask], format="ISO8601", utc=not localize, errors="coerce")
        if parsed.isna().any():
            raise _invalid(str(texts[mask][parsed.isna()].iloc[0]))
        if localize:
            # An ambiguous wall time (a DST fold) is read as its first occurrence.
            first = np.ones(int(mask.sum()), dtype=np.bool_)
            parsed = parsed.dt.tz_localize(timezone, ambiguous=first, nonexistent="shift_forward")
        micros[mask] = parsed.dt.as_unit("us").astype("int64").to_numpy()
    return pa.array(micros, type=pa.int64(), mask=~present if not present.all() else None)


def _check_offsets(strings: pa.Array) -> None:
    parts = pc.extract_regex(pc.fill_null(strings, ""), _OFFSET)
    hours = pc.struct_field(parts, "hours")
    if hours.null_count == len(hours):
        return
    sign = pc.struct_field(parts, "sign")
    value = pc.cast(pc.fill_null(hours, "0"), pa.int64())
    signed = pc.if_else(pc.equal(pc.fill_null(sign, "+"), "-"), pc.negate(value), value)
    minutes = pc.cast(pc.fill_null(pc.struct_field(parts, "minutes"), "0"), pa.int64())
    seconds = pc.add(
        pc.multiply(signed, 3600), pc.if_else(pc.less(signed, 0), pc.negate(minutes), minutes)
    )
    low = pc.less(seconds, MIN_OFFSET_HOURS * 3600)
    high = pc.greater(seconds, MAX_OFFSET_HOURS * 3600)
    bad = pc.fill_null(pc.or_(low, high), False)
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        raise ParameterInvalid.msg(
            f"UTC offset hour {signed[row].as_py()} is out of the valid range "
            f"[{MIN_OFFSET_HOURS}, {MAX_OFFSET_HOURS}]"
        )


def format_iso(micros: pa.Array, timezone: str = DEFAULT_TIMEZONE) -> pa.Array:
    """int64 UTC microseconds -> RFC 3339 strings in ``timezone`` (nulls stay null)."""
    values = micros.cast(pa.int64())
    raw = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
    utc = pd.to_datetime(raw, unit="us", utc=True)
    local = utc.tz_convert(timezone).tz_localize(None)
    local_us = local.as_unit("us").asi8
    offset_minutes = (local_us - raw) // 60_000_000
    whole = pa.array(np.floor_divide(local_us, 1_000_000), type=pa.timestamp("s"))
    seconds = pc.strftime(whole, "%Y-%m-%dT%H:%M:%S")
    fraction = np.mod(raw, 1_000_000)
    frac_text = pa.array(
        ["" if f == 0 else "." + f"{f:06d}".rstrip("0") for f in fraction.tolist()],
        type=pa.string(),
    )
    zone = pa.array(
        [
            "Z" if m == 0 else f"{'+' if m > 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
            for m in offset_minutes.tolist()
        ],
        type=pa.string(),
    )
    text = pc.binary_join_element_wise(seconds, frac_text, zone, "")
    if values.null_count:
        text = pc.if_else(values.is_valid(), text, pa.nulls(len(text), pa.string()))
    return text


def _accepts(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_null(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_integer(arrow_type)
    )


def _check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    if pa.types.is_integer(values.type) or pa.types.is_null(values.type):
        return values.cast(pa.int64())
    return parse_iso(values, ctx.timezone)


def _present(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    return format_iso(values, ctx.timezone)


def default_micros(fld: FieldSchema, text: str, timezone: str) -> int:
    """A TIMESTAMPTZ default value (ISO text) as stored microseconds."""
    return int(parse_iso(pa.array([text]), timezone)[0].as_py())


TEMPORAL: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.TIMESTAMPTZ,
        storage=Storage.ARROW,
        arrow=lambda _fld: pa.int64(),
        accepts=_accepts,
        mismatch=("field '{name}' is illegal, array type mismatch", "need long int array"),
        check=_check,
        filter=FilterKind.TIMESTAMP,
        groupable=True,
        # Results carry the values as text (see ``present``), so a null shows as "".
        placeholder="",
        present=_present,
    ),
)
