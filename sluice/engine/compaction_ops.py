"""The engine's compaction operations: ManualCompaction and its state."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.engine.collection import Collection
from sluice.engine.compactor import Compactor
from sluice.engine.core import EngineCore
from sluice.errors import CollectionNotFound

#: The compaction ID of a request that planned nothing (Milvus's ``CompactionID = -1``).
NO_JOB = -1


@dataclass(frozen=True)
class PlanInfo:
    plan_id: int
    collection_id: int
    partition_id: int
    channel: str
    sources: tuple[int, ...]
    targets: tuple[int, ...]
    #: ``executing``, ``completed`` or ``failed``.
    state: str
    #: ``mix``, ``l0`` or ``clustering``.
    kind: str


@dataclass(frozen=True)
class CompactionInfo:
    """What GetCompactionState(WithPlans) reports of one job."""

    job_id: int
    executing: bool
    executing_plans: int
    completed_plans: int
    failed_plans: int
    plans: tuple[PlanInfo, ...]


class CompactionOps(EngineCore):
    compactor: Compactor

    def manual_compaction(
        self, db: str, name: str, collection_id: int = 0, *, clustering: bool = False
    ) -> int:
        """Queue a compaction of the collection (by name, else by ID); return the job ID.

        A clustering compaction of a collection without a clustering key has
        nothing to do: as Milvus's, it succeeds with no job, ID ``NO_JOB``.
        """
        collection = self._compaction_target(db, name, collection_id)
        if clustering and collection.schema.clustering_key is None:
            return NO_JOB
        return self.compactor.submit(collection, clustering=clustering).job_id

    def compaction_state(self, job_id: int) -> CompactionInfo:
        job = self.compactor.job(job_id)
        if job is None:
            return CompactionInfo(job_id, False, 0, 0, 0, ())
        plans = list(job.plans)
        return CompactionInfo(
            job_id,
            not job.finished,
            sum(1 for p in plans if not p.done),
            sum(1 for p in plans if p.done and not p.failed),
            sum(1 for p in plans if p.failed),
            tuple(
                PlanInfo(
                    p.plan_id,
                    job.collection_id,
                    p.partition_id,
                    p.channel,
                    p.sources,
                    p.targets,
                    "executing" if not p.done else "failed" if p.failed else "completed",
                    p.kind,
                )
                for p in plans
            ),
        )

    def _compaction_target(self, db: str, name: str, collection_id: int) -> Collection:
        if name:
            return self.get(db, name)
        found = self.collections.get(collection_id) if collection_id else None
        if found is None or found.dropped:
            raise CollectionNotFound.named(db, collection_id)
        return found
