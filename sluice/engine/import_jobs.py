"""Bulk import jobs: submitted, run one at a time in the background, remembered.

A job names a collection, a partition and batches of files
(:mod:`sluice.engine.import_files`).  Its life, with Milvus's ImportV2 state
names: ``Pending`` -> ``PreImporting`` (files found and sized) -> ``Importing``
(rows read, checked, written as segments) -> ``Completed`` or ``Failed``.

Guarantees:

* **All or nothing.** Every batch is read and checked before any segment is
  written; the segments of all batches are committed in one metadata commit
  (:mod:`sluice.engine.bulk_ingest`) that also records the job as
  ``Completed``, so "Completed" and "rows visible" are the same event, durable
  together.  A bad file fails the job with a reason naming it and imports nothing.
* **Remembered.** Jobs live in the metadata store (``import/job/<id>``), so
  GetImportState and ListImportTasks answer after a restart.  A job that was
  still running when the process stopped never committed anything; the next
  start marks it ``Failed`` and says why.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sluice import telemetry
from sluice.engine import bulk_ingest, import_files
from sluice.engine.catalog import Catalog
from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.partition_keys import partition_key_field
from sluice.errors import (
    CollectionNotFound,
    ImportFailed,
    PartitionNotFound,
    RequestError,
    SluiceError,
)
from sluice.schema import DEFAULT_PARTITION

if TYPE_CHECKING:
    from sluice.engine.engine import Engine

log = logging.getLogger(__name__)

PENDING, PRE_IMPORTING, IMPORTING, COMPLETED, FAILED = (
    "Pending",
    "PreImporting",
    "Importing",
    "Completed",
    "Failed",
)
#: Milvus's ``dataCoord.import.maxImportFileNumPerReq``.
MAX_FILES = 1024
_PREFIX = "import/job/"


@dataclass
class ImportJob:
    """One job as GetImportProgress reports it; a copy is returned to callers."""

    job_id: int
    db: str
    collection_name: str
    collection_id: int
    partition: str
    files: list[list[str]]
    options: dict[str, str]
    state: str = PENDING
    reason: str = ""
    progress: int = 0
    total_rows: int = 0
    imported_rows: int = 0
    file_sizes: list[int] = field(default_factory=list)
    created_ms: int = 0
    completed_ms: int = 0
    segment_ids: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def decode(cls, raw: bytes) -> ImportJob:
        return cls(**orjson.loads(raw))

    @property
    def finished(self) -> bool:
        return self.state in (COMPLETED, FAILED)


class ImportJobs:
    """The job table and the worker thread that runs jobs in submission order."""

    def __init__(
        self,
        ctx: EngineContext,
        catalog: Catalog,
        collections: dict[int, Collection],
    ) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._collections = collections
        self._lock = threading.Lock()
        self._jobs: dict[int, ImportJob] = {}
        self._stopping = threading.Event()
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._load()
        self._thread = threading.Thread(target=self._run, name="sluice-import", daemon=True)
        self._thread.start()

    # --- the table ----------------------------------------------------------------

    def _load(self) -> None:
        interrupted = []
        for raw in self._ctx.meta.scan(_PREFIX).values():
            job = ImportJob.decode(raw)
            if not job.finished:
                job.state, job.progress = FAILED, 0
                job.reason = "the server stopped before the import finished; nothing was imported"
                interrupted.append(job)
            self._jobs[job.job_id] = job
        if interrupted:
            self._ctx.meta.commit({_PREFIX + str(j.job_id): j.encode() for j in interrupted})

    def submit(
        self,
        db: str,
        collection: Collection,
        partition: str,
        files: Sequence[Sequence[str]],
        options: dict[str, str],
    ) -> int:
        """Queue a job (Milvus's ImportV2 checks first); return its ID."""
        batches = [[f for f in batch if f] for batch in files]
        batches = [b for b in batches if b]
        if not batches:
            raise ImportFailed(f"{ImportFailed.base_message}: import request is empty")
        if sum(len(b) for b in batches) > MAX_FILES:
            raise ImportFailed(
                f"{ImportFailed.base_message}: the max number of file is {MAX_FILES}, "
                f"but got {sum(len(b) for b in batches)}"
            )
        for batch in batches:
            import_files.batch_format(batch)
        name = partition or DEFAULT_PARTITION
        if name not in collection.meta.partitions:
            raise PartitionNotFound.named(name)
        job = ImportJob(
            job_id=self._ctx.ids.allocate(),
            db=db,
            collection_name=collection.name,
            collection_id=collection.id,
            partition=name,
            files=batches,
            options=dict(options),
            created_ms=int(time.time() * 1000),
        )
        self._ctx.meta.commit({_PREFIX + str(job.job_id): job.encode()})
        with self._lock:
            self._jobs[job.job_id] = job
        self._queue.put(job.job_id)
        log.info(
            "import job %d queued: %d batch(es) into %s.%s",
            job.job_id,
            len(batches),
            db,
            job.collection_name,
        )
        return job.job_id

    def get(self, job_id: int) -> ImportJob:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise ImportFailed(
                    f"{ImportFailed.base_message}: import job does not exist, jobID={job_id}"
                )
            return dataclasses.replace(job)

    def list(self, db: str, collection_name: str = "", limit: int = 0) -> list[ImportJob]:
        with self._lock:
            jobs = [
                dataclasses.replace(j)
                for j in self._jobs.values()
                if j.db == db and (not collection_name or j.collection_name == collection_name)
            ]
        jobs.sort(key=lambda j: j.job_id)
        return jobs[-limit:] if limit > 0 else jobs

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join()

    # --- the worker --------------------------------------------------------------

    def _update(self, job: ImportJob, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                return
            with self._lock:
                job = self._jobs[job_id]
            started = time.perf_counter()
            try:
                self._execute(job)
            except SluiceError as err:
                self._fail(job, err.message)
            except OSError as exc:
                self._fail(job, f"{ImportFailed.base_message}: {exc}")
            except Exception as exc:
                log.exception("import job %d crashed", job.job_id)
                self._fail(job, f"{ImportFailed.base_message}: unexpected error: {exc}")
            else:
                log.info(
                    "import job %d completed: %d rows in %.2fs",
                    job.job_id,
                    job.imported_rows,
                    time.perf_counter() - started,
                )

    def _collection(self, job: ImportJob) -> Collection:
        collection = self._collections.get(job.collection_id)
        if collection is None or collection.dropped:
            raise CollectionNotFound.named(job.db, job.collection_name)
        return collection

    def _execute(self, job: ImportJob) -> None:
        collection = self._collection(job)
        self._update(job, state=PRE_IMPORTING, progress=1)
        data_dir = self._ctx.settings.data_dir
        batches = []
        sizes: list[int] = []
        for batch in job.files:
            sources = [import_files.resolve(name, data_dir) for name in batch]
            sizes.extend(s.size() for s in sources)
            batches.append((sources, import_files.batch_format(batch)))
        self._update(job, file_sizes=sizes, state=IMPORTING, progress=5)
        tables = []
        rows = 0
        for index, (sources, kind) in enumerate(batches):
            self._check_stopping()
            columns, count = import_files.read_batch(collection.schema, sources, kind, job.options)
            if count == 0:
                continue
            try:
                tables.append(bulk_ingest.prepare_batch(collection, columns, count))
            except SluiceError as err:
                raise ImportFailed(
                    f"{ImportFailed.base_message}: file {sources[0].name}: {err.message}"
                ) from None
            rows += count
            self._update(job, total_rows=rows, progress=5 + 45 * (index + 1) // len(batches))
        if not tables:
            self._complete(job, collection, None)
            return
        self._check_stopping()
        partition_id = import_partition(collection, job.partition)
        written = bulk_ingest.write_segments(
            collection,
            partition_id,
            tables,
            progress=lambda done: self._update(
                job, imported_rows=done, progress=50 + 45 * done // max(rows, 1)
            ),
        )
        tables.clear()
        try:
            self._check_stopping()
            self._complete(job, collection, written)
        except BaseException:
            bulk_ingest.discard(collection, written)
            raise

    def _check_stopping(self) -> None:
        if self._stopping.is_set():
            raise ImportFailed(f"{ImportFailed.base_message}: cancelled, the server is stopping")

    def _complete(
        self, job: ImportJob, collection: Collection, written: bulk_ingest.WrittenSegments | None
    ) -> None:
        done = dataclasses.replace(
            job,
            state=COMPLETED,
            progress=100,
            reason="",
            imported_rows=written.rows if written is not None else 0,
            completed_ms=int(time.time() * 1000),
            segment_ids=written.segment_ids if written is not None else [],
        )
        record = {_PREFIX + str(job.job_id): done.encode()}
        if written is None:
            self._ctx.meta.commit(record)
        else:
            bulk_ingest.commit_segments(collection, written, record)
            telemetry.ROWS_IMPORTED.inc(written.rows)
        with self._lock:
            self._jobs[job.job_id] = done

    def _fail(self, job: ImportJob, reason: str) -> None:
        log.warning("import job %d failed: %s", job.job_id, reason)
        failed = dataclasses.replace(
            job, state=FAILED, reason=reason, completed_ms=int(time.time() * 1000)
        )
        try:
            self._ctx.meta.commit({_PREFIX + str(job.job_id): failed.encode()})
        except (OSError, SluiceError) as exc:
            log.error("could not record the failure of import job %d: %s", job.job_id, exc)
        with self._lock:
            self._jobs[job.job_id] = failed


def wait_for(jobs: ImportJobs, job_id: int, timeout: float) -> ImportJob:
    """Block until a job finishes or ``timeout`` seconds pass (for the CLI and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get(job_id)
        if job.finished or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def submit_import(
    engine: Engine,
    db: str,
    collection_name: str,
    partition: str,
    files: Sequence[Sequence[str]],
    options: dict[str, str] | None = None,
) -> int:
    """Queue a bulk import into ``db.collection_name``; return the job ID."""
    collection = engine.get(db, collection_name)
    return engine.imports.submit(db, collection, partition, files, options or {})


def import_job(engine: Engine, job_id: int) -> ImportJob:
    return engine.imports.get(job_id)


def list_import_jobs(
    engine: Engine, db: str, collection_name: str = "", limit: int = 0
) -> list[ImportJob]:
    if collection_name:
        engine.get(db, collection_name)
    return engine.imports.list(db, collection_name, limit)


def import_partition(collection: Collection, name: str) -> int | None:
    """The partition an import writes to (``None``: rows are routed by their partition key)."""
    if partition_key_field(collection.schema) is not None:
        if name and name != DEFAULT_PARTITION:
            raise RequestError("not allow to set partition name for collection with partition key")
        return None
    partition = collection.meta.partitions.get(name or DEFAULT_PARTITION)
    if partition is None:
        raise PartitionNotFound.named(name)
    return partition.id
