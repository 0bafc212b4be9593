"""Building, persisting and loading Flushed segments' token indexes.

The index builder calls :func:`build_text_indexes` for every Flushed segment,
next to its vector indexes: per match-enabled field it analyses the column,
writes the index file (fsynced), names it in the segment's manifest entry
(``text_index_files``) and then publishes it to readers.  A crash before the
manifest commit leaves an unreferenced file, which start-up deletes; the
segment is indexed again.  :func:`load_text_indexes` loads what a manifest
names; a file that is gone or does not decode is dropped and rebuilt.
"""

from __future__ import annotations

import logging
import zipfile

from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.segment import Segment, SegmentLevel, SegmentState
from sluice.engine.text_match import text_index_path
from sluice.text import TokenIndex

log = logging.getLogger(__name__)


def wants_text_indexes(collection: Collection, segment: Segment) -> bool:
    return (
        bool(collection.text_match.fields)
        and segment.state == SegmentState.FLUSHED
        and segment.level != SegmentLevel.L0
        and segment.num_rows > 0
    )


def build_text_indexes(ctx: EngineContext, collection: Collection, segment: Segment) -> int:
    """Index every match-enabled field the segment lacks; return how many were built."""
    if not wants_text_indexes(collection, segment):
        return 0
    built = 0
    registry = collection.text_match
    segment.make_resident()  # a non-resident segment publishes the token indexes it has
    for name, field in registry.fields.items():
        if registry.has_sealed(segment.id, name) or collection.dropped:
            continue
        view = segment.view()
        texts = view.table([name]).column(name).to_pylist()
        index = TokenIndex.build(registry.analyzers[name], texts)
        rel = text_index_path(collection.id, segment.partition_id, segment.id, field.field_id)
        ctx.files.write_bytes(rel, index.to_bytes())
        segment.text_index_files[name] = rel
        collection.save_manifest()
        registry.publish(segment.id, name, index)
        built += 1
    return built


def load_text_indexes(ctx: EngineContext, collection: Collection, segment: Segment) -> None:
    registry = collection.text_match
    for name, rel in list(segment.text_index_files.items()):
        index = None
        if name in registry.fields and wants_text_indexes(collection, segment):
            try:
                index = TokenIndex.from_bytes(ctx.files.read_bytes(rel))
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                log.warning("token index %s cannot be read (%s): it is built again", rel, exc)
        if index is None or index.num_rows != segment.num_rows:
            del segment.text_index_files[name]
            ctx.files.delete_file(rel)
            continue
        registry.publish(segment.id, name, index)
