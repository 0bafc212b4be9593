"""Reading a batch's columns once per evaluation, in the shapes the kernels want.

Numeric and bool columns become NumPy arrays with nulls filled (their
validity is kept separately); strings stay Arrow arrays so ``pyarrow.compute``
can compare and ``LIKE``-match them without conversion.  JSON columns are
decoded with orjson exactly once per evaluation, however many paths the
filter reads from them: this per-row decode is the one step that is not
vectorised.  It costs roughly 0.5-1.5 µs per row for small documents (about
100-200 ms per 100k rows, against ~0.3 ms for a scalar comparison), growing
with document size; extracting each path adds ~0.1 µs per row.
A null ``$meta`` cell reads as an empty object; a null user JSON cell is null.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, MutableMapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import ExpressionError
from sluice.query.numeric import BoolArray

Batch: TypeAlias = pa.Table | pa.RecordBatch
ArrowColumn: TypeAlias = pa.Array | pa.ChunkedArray


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic GC while building many small containers.

    Decoding a JSON column allocates one dict or list per row; with the
    collector running, its generation-0 passes rescan the growing heap and
    more than double the decode time.  Nothing built here is cyclic.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: All-true validity arrays by length, shared read-only between evaluations: a
#: column without nulls is the common case, and allocating a fresh array of a
#: million ones costs as much as an index lookup does.
_ALL_VALID: dict[int, BoolArray] = {}
_ALL_VALID_SIZES = 8


def shared_all_valid(num_rows: int) -> BoolArray:
    """A read-only array of ``num_rows`` True values."""
    cached = _ALL_VALID.get(num_rows)
    if cached is None:
        if len(_ALL_VALID) >= _ALL_VALID_SIZES:
            _ALL_VALID.pop(next(iter(_ALL_VALID)))
        cached = np.ones(num_rows, dtype=np.bool_)
        cached.flags.writeable = False
        _ALL_VALID[num_rows] = cached
    return cached


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class Columns:
    """Column access for one ``evaluate`` call, memoised by column name."""

    def __init__(
        self,
        batch: Batch,
        text: str,
        paths: MutableMapping[tuple[str, tuple[str | int, ...]], Any] | None = None,
    ) -> None:
        self.batch = batch
        self.text = text
        self.num_rows = batch.num_rows
        self._numpy: dict[str, npt.NDArray[Any]] = {}
        self._valid: dict[str, BoolArray] = {}
        self._docs: dict[str, list[Any]] = {}
        #: Extracted JSON paths; a caller that evaluates many filters over the
        #: same immutable rows may share this mapping between calls, so each
        #: path is decoded once per segment rather than once per query.
        self._paths: MutableMapping[tuple[str, tuple[str | int, ...]], Any] = (
            {} if paths is None else paths
        )
        self._all_valid: BoolArray | None = None

    def all_valid(self) -> BoolArray:
        if self._all_valid is None:
            self._all_valid = shared_all_valid(self.num_rows)
        return self._all_valid

    def arrow(self, name: str) -> ArrowColumn:
        index = self.batch.schema.get_field_index(name)
        if index < 0:
            why = f"field {name} is not present in the data being filtered"
            raise ExpressionError.for_expr(self.text, why)
        return self.batch.column(index)

    def has(self, name: str) -> bool:
        return self.batch.schema.get_field_index(name) >= 0

    def valid(self, name: str) -> BoolArray:
        cached = self._valid.get(name)
        if cached is None:
            column = self.arrow(name)
            if column.null_count == 0:
                cached = self.all_valid()
            else:
                cached = np.asarray(
                    column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_
                )
            self._valid[name] = cached
        return cached

    def numeric(self, name: str, widen: bool = True) -> npt.NDArray[Any]:
        """Values with nulls filled by zero; integer types widened to int64."""
        cached = self._numpy.get(name)
        if cached is None:
            column = self.arrow(name)
            if column.null_count:
                fill = False if pa.types.is_boolean(column.type) else 0
                column = pc.fill_null(column, fill)
            cached = np.asarray(column.to_numpy(zero_copy_only=False))
            if widen and cached.dtype.kind in "iu":
                cached = cached.astype(np.int64, copy=False)
            self._numpy[name] = cached
        return cached

    def docs(self, name: str, is_meta: bool) -> list[Any]:
        """Every row's decoded JSON document (``None`` for a null cell)."""
        cached = self._docs.get(name)
        if cached is None:
            if is_meta and not self.has(name):
                cached = [{}] * self.num_rows
            else:
                raw = self.arrow(name).to_pylist()
                loads = orjson.loads
                with gc_paused():
                    try:
                        cached = [None if value is None else loads(value) for value in raw]
                    except orjson.JSONDecodeError:
                        cached = [_decode(value) for value in raw]
                if is_meta:
                    cached = [{} if doc is None else doc for doc in cached]
            self._docs[name] = cached
        return cached

    def json_valid(self, name: str, is_meta: bool) -> BoolArray:
        if is_meta or not self.has(name):
            return self.all_valid()
        return self.valid(name)

    def memo(self, key: tuple[str, tuple[str | int, ...]]) -> Any:
        return self._paths.get(key)

    def remember(self, key: tuple[str, tuple[str | int, ...]], value: Any) -> None:
        self._paths[key] = value
