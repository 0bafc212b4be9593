"""Bytes on disk and in object storage: the WAL, segment files, atomic metadata writes.

Nothing here knows about collections or Milvus; the engine decides what the
bytes mean.
"""
