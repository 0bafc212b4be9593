"""What readers remember about one segment view, and why each entry stays valid.

A :class:`~sluice.engine.columns.SegmentView` is a segment at one row count:
its rows never change (segments only append, and a view never sees rows past
its count).  Anything computed from those rows alone is therefore valid for
the view's whole life, and repeated reads of the same snapshot pay for it once:

* ``filter_masks``: the row mask of a compiled filter, by the filter's text and
  parameter values; at most :data:`MASKS_PER_VIEW`, the oldest evicted first.
  A mask never depends on indexes (an index answers exactly what a scan would).
* ``json_paths``: JSON values decoded from a column at a path, by
  ``(column, path)``: the evaluator's most expensive step.
* ``hidden``: the rows a :class:`~sluice.engine.deletes.DeleteSnapshot` hides,
  kept with the snapshot it was computed for.  A newer snapshot (a delete
  arrived) computes it again.

Views of the same rows with a newer set of built indexes share this cache
(:meth:`SegmentView.with_indexes`), since none of it depends on indexes.

The cache is filled without locks.  Two readers may compute the same entry at
once; both results are right and either one stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from sluice.engine.deletes import DeleteSnapshot

#: Filter masks remembered per view.
MASKS_PER_VIEW: Final = 16


@dataclass
class ViewCache:
    """Row-derived results of one segment view (see the module docstring)."""

    filter_masks: dict[str, np.ndarray] = field(default_factory=dict)
    json_paths: dict[tuple[str, tuple[str | int, ...]], Any] = field(default_factory=dict)
    hidden: tuple[DeleteSnapshot, np.ndarray | None] | None = None

    def remember_mask(self, key: str, mask: np.ndarray) -> None:
        masks = self.filter_masks
        while len(masks) >= MASKS_PER_VIEW:
            try:
                masks.pop(next(iter(masks)), None)
            except (StopIteration, RuntimeError):  # another reader changed it meanwhile
                break
        masks[key] = mask

    def hidden_rows(self, deletes: DeleteSnapshot) -> tuple[bool, np.ndarray | None]:
        """``(known, rows)``: the hidden rows computed for ``deletes``, if any were."""
        cached = self.hidden
        if cached is not None and cached[0] is deletes:
            return True, cached[1]
        return False, None
