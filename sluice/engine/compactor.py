"""The compaction threads: ManualCompaction jobs first, automatic passes in between.

One thread runs manual jobs and every automatic merge, one at a time.  A
second, light lane runs only small automatic merges (at most
``LIGHT_MERGE_SHARE`` of a segment, a few seconds each) so the segment count
keeps falling while the main thread rebuilds a large segment's index for a
minute; segments being merged by one lane are invisible to the other's
planning, and the light lane starts nothing while a manual job waits or
runs.  A ManualCompaction is a
job: its plans (one merge per (shard, partition) group worth merging, or,
for a clustering compaction, one re-cut of each group by clustering key) are
made when the thread takes it, and GetCompactionState reports Executing
until every plan has run.  Jobs are kept in memory for the server's life;
an unknown job ID reads as Completed with no plans, as a job whose record
Milvus has already dropped does.

Every ``[compaction] interval_seconds`` the thread looks at each collection
whose ``collection.autocompaction.enabled`` property is not false (default:
``[compaction] auto``) and merges groups of at least ``AUTO_MIN_SEGMENTS``
small segments, or two or more filling ``COMPACTABLE_SHARE`` of a segment
(packed into merges of one segment's worth each), or rewrites
a segment whose deleted rows reach ``DELETED_SHARE``.  While a shard is
being written (a write in the last ``[compaction] quiet_seconds``) only
segments of one size tier are merged, so rows are not re-indexed pass after
pass; once it is quiet its small segments are packed into full ones.  A
pass that merged something is followed by another after
``FOLLOW_UP_SECONDS``, so a backlog drains at the speed merges run rather
than one merge per interval, and a pass that saw a busy shard by another
once it may have gone quiet.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sluice.engine.channel import Channel
from sluice.engine.clustering import cluster_compact, worth_clustering
from sluice.engine.collection import Collection
from sluice.engine.compaction import (
    CompactionPlan,
    groups,
    l0_compact,
    l0_groups,
    mix_compact,
    plan_group,
)
from sluice.engine.context import EngineContext
from sluice.engine.residency import evict_unserved
from sluice.engine.segment import Segment
from sluice.engine.tso import now_ms, physical_ms
from sluice.errors import IndexBuildCancelled

log = logging.getLogger(__name__)

AUTO_PROPERTY = "collection.autocompaction.enabled"
#: After a pass that merged something, the next pass comes this soon.
FOLLOW_UP_SECONDS = 1.0
#: The automatic pass merges a shard's delete segments of one scope once there are this many.
AUTO_MIN_L0 = 8
#: The light lane takes merges of at most this share of ``segments.max_bytes``.
LIGHT_MERGE_SHARE = 1 / 16


@dataclass
class CompactionJob:
    job_id: int
    collection_id: int
    #: A clustering (major) compaction: re-cut every group by clustering key.
    clustering: bool = False
    plans: list[CompactionPlan] = field(default_factory=list)
    #: The thread has made the plans and run them all.
    finished: bool = False

    @property
    def executing(self) -> int:
        return sum(1 for p in self.plans if not p.done)

    @property
    def completed(self) -> int:
        return sum(1 for p in self.plans if p.done and not p.failed)

    @property
    def failed(self) -> int:
        return sum(1 for p in self.plans if p.failed)


class Compactor:
    """Runs manual jobs and automatic passes on one background thread."""

    def __init__(self, ctx: EngineContext, collections: Mapping[int, Collection]) -> None:
        self._ctx = ctx
        self._collections = collections
        self._jobs: dict[int, CompactionJob] = {}
        self._lock = threading.Lock()
        #: Notified when a merge ends (a manual job waits for the light lane's).
        self._merge_ended = threading.Condition(self._lock)
        self._queue: queue.Queue[tuple[CompactionJob, Collection] | None] = queue.Queue()
        self._stopping = threading.Event()
        #: Segments a lane is merging: the other lane plans without them.
        self._merging: set[int] = set()
        #: A manual job is queued or running: the light lane starts nothing.
        self._manual_jobs = 0
        self._thread = threading.Thread(target=self._run, name="sluice-compaction", daemon=True)
        self._light = threading.Thread(
            target=self._run_light, name="sluice-compaction-light", daemon=True
        )
        self._thread.start()
        self._light.start()

    def submit(self, collection: Collection, *, clustering: bool = False) -> CompactionJob:
        """A ManualCompaction of ``collection``: queued, run by the thread."""
        job = CompactionJob(self._ctx.ids.allocate(), collection.id, clustering)
        with self._lock:
            self._jobs[job.job_id] = job
            self._manual_jobs += 1
        self._queue.put((job, collection))
        return job

    def job(self, job_id: int) -> CompactionJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking work; a merge in progress is abandoned before its commit."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        self._light.join(timeout)
        return not self._thread.is_alive() and not self._light.is_alive()

    def _run(self) -> None:
        wait = self._ctx.settings.compaction.interval_seconds
        while not self._stopping.is_set():
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                wait = self._next_wait(*self._automatic_pass(light=False))
                continue
            if item is None:
                return
            job, collection = item
            try:
                self._run_job(job, collection)
            finally:
                with self._lock:
                    self._manual_jobs -= 1

    def _run_light(self) -> None:
        """The light lane: small automatic merges, on the main thread's schedule of passes."""
        wait = self._ctx.settings.compaction.interval_seconds
        while not self._stopping.wait(wait):
            with self._lock:
                manual = self._manual_jobs > 0
            if manual:  # look again soon: the job will be over
                wait = self._next_wait(merged=True, busy=False)
            else:
                wait = self._next_wait(*self._automatic_pass(light=True))

    def _next_wait(self, merged: bool, busy: bool) -> float:
        """Seconds to the next automatic pass.

        A pass that merged something may have left more to do (merges are bounded
        to one segment's worth): look again soon, not a whole interval on; a busy
        shard is looked at again once it may have gone quiet.
        """
        settings = self._ctx.settings.compaction
        if merged:
            return min(settings.interval_seconds, FOLLOW_UP_SECONDS)
        if busy:
            return min(settings.interval_seconds, max(settings.quiet_seconds, FOLLOW_UP_SECONDS))
        return settings.interval_seconds

    def _run_job(self, job: CompactionJob, collection: Collection) -> None:
        with self._merge_ended:
            # The light lane starts nothing once a job waits: let its merge end, so the
            # job plans over every segment, as one lane would.
            self._merge_ended.wait_for(lambda: not self._merging)
        try:
            work = self._clustering_work(collection) if job.clustering else self._work(collection)
            job.plans.extend(plan for plan, _, _ in work)
            for plan, channel, chosen in work:
                self._merge(collection, plan, channel, chosen)
        finally:
            # Released segments read to plan or merge leave memory again.
            evict_unserved(self._ctx, collection)
            job.finished = True

    def _work(self, collection: Collection) -> list[tuple[CompactionPlan, Channel, list[Segment]]]:
        """A manual mix compaction's plans: every merge worth running, then delete segments."""
        work = []
        for channel, segments in self._groups(collection):
            for chosen in plan_group(collection, segments, forced=True):
                work.append((self._plan(channel, chosen), channel, chosen))
        for channel, segments in l0_groups(collection):
            if len(segments) >= 2:
                work.append((self._plan(channel, segments, "l0"), channel, segments))
        return work

    def _clustering_work(
        self, collection: Collection
    ) -> list[tuple[CompactionPlan, Channel, list[Segment]]]:
        """A clustering compaction's plans: each group holding unclustered rows, whole."""
        return [
            (self._plan(channel, segments, "clustering"), channel, segments)
            for channel, segments in self._groups(collection)
            if worth_clustering(segments)
        ]

    def _automatic_pass(self, *, light: bool) -> tuple[bool, bool]:
        """One look at every collection: whether any merge ran, whether a shard was busy.

        ``light``: the light lane's pass, which runs only small data merges.
        """
        merged = busy = False
        quiet_ms = self._ctx.settings.compaction.quiet_seconds * 1000
        light_bytes = self._ctx.settings.segments.max_bytes * LIGHT_MERGE_SHARE
        for collection in list(self._collections.values()):
            if self._stopping.is_set() or not self._automatic(collection):
                continue
            for channel, segments in self._groups(collection):
                quiet = now_ms() - physical_ms(channel.tick_ts) >= quiet_ms
                busy = busy or not quiet
                for chosen in plan_group(collection, segments, forced=False, quiet=quiet):
                    if light and sum(s.nbytes for s in chosen) > light_bytes:
                        continue
                    if self._stopping.is_set() or self._manual_job_waiting(light):
                        return True, busy
                    if self._merge(collection, self._plan(channel, chosen), channel, chosen):
                        merged = True
            if not light:
                for channel, segments in l0_groups(collection):
                    if len(segments) >= AUTO_MIN_L0 and not self._stopping.is_set():
                        plan = self._plan(channel, segments, "l0")
                        merged = self._merge(collection, plan, channel, segments) or merged
            if merged:
                evict_unserved(self._ctx, collection)  # released segments read for a merge
        return merged, busy

    def _groups(self, collection: Collection) -> list[tuple[Channel, list[Segment]]]:
        """The collection's merge groups without the segments a lane is merging now."""
        with self._lock:
            merging = set(self._merging)
        found = []
        for channel, segments in groups(collection):
            free = [s for s in segments if s.id not in merging]
            if free:
                found.append((channel, free))
        return found

    def _manual_job_waiting(self, light: bool) -> bool:
        """Manual jobs go first: an automatic pass yields between merges when one waits."""
        if light:
            with self._lock:
                return self._manual_jobs > 0
        return not self._queue.empty()

    def _plan(
        self, channel: Channel, chosen: Sequence[Segment], kind: str = "mix"
    ) -> CompactionPlan:
        return CompactionPlan(
            self._ctx.ids.allocate(),
            tuple(s.id for s in chosen),
            chosen[0].partition_id,
            channel.name,
            kind,
        )

    def _automatic(self, collection: Collection) -> bool:
        if collection.dropped:
            return False
        value = collection.meta.properties.get(AUTO_PROPERTY)
        if value is None:
            return self._ctx.settings.compaction.auto
        return value.strip().lower() != "false"

    def _merge(
        self,
        collection: Collection,
        plan: CompactionPlan,
        channel: Channel,
        chosen: Sequence[Segment],
    ) -> bool:
        """Run one plan; whether it ran (its segments were not taken by the other lane)."""
        ids = {s.id for s in chosen}
        with self._lock:
            if ids & self._merging:
                plan.failed = plan.done = True
                return False
            self._merging |= ids
        targets: tuple[int, ...] | None
        try:
            if plan.kind == "l0":
                target = l0_compact(collection, channel, chosen)
                targets = None if target is None else (target,)
            elif plan.kind == "clustering":
                targets = cluster_compact(collection, channel, chosen, self._stopping.is_set)
            else:
                targets = mix_compact(collection, channel, chosen, self._stopping.is_set)
            plan.targets = targets or ()
            plan.failed = targets is None and not collection.dropped
        except IndexBuildCancelled:
            plan.failed = True
        except Exception:
            log.exception("compacting segments %s of %s failed", plan.sources, collection.name)
            plan.failed = True
        finally:
            plan.done = True
            with self._merge_ended:
                self._merging -= ids
                self._merge_ended.notify_all()
        return True
