"""Compaction RPCs: ManualCompaction, GetCompactionState, GetCompactionStateWithPlans."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import CompactionInfo, Engine

_TASK_STATES = {
    "executing": common_pb2.CompactionTaskStateExecuting,
    "completed": common_pb2.CompactionTaskStateCompleted,
    "failed": common_pb2.CompactionTaskStateFailed,
}


_TYPES = {
    "mix": common_pb2.CompactionTypeMix,
    "l0": common_pb2.CompactionTypeLevel0Delete,
    "clustering": common_pb2.CompactionTypeClustering,
}


def _state(info: CompactionInfo) -> int:
    return int(common_pb2.Executing if info.executing else common_pb2.Completed)


class CompactionRpcs:
    engine: Engine

    @rpc
    def ManualCompaction(
        self, request: milvus_pb2.ManualCompactionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ManualCompactionResponse:
        db = db_name(request.db_name, context)
        job_id = self.engine.manual_compaction(
            db,
            request.collection_name,
            request.collectionID,
            clustering=request.majorCompaction,
        )
        return milvus_pb2.ManualCompactionResponse(status=SUCCESS, compactionID=job_id)

    @rpc
    def GetCompactionState(
        self, request: milvus_pb2.GetCompactionStateRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetCompactionStateResponse:
        info = self.engine.compaction_state(request.compactionID)
        return milvus_pb2.GetCompactionStateResponse(
            status=SUCCESS,
            state=_state(info),
            executingPlanNo=info.executing_plans,
            completedPlanNo=info.completed_plans,
            failedPlanNo=info.failed_plans,
        )

    @rpc
    def GetCompactionStateWithPlans(
        self, request: milvus_pb2.GetCompactionPlansRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetCompactionPlansResponse:
        info = self.engine.compaction_state(request.compactionID)
        response = milvus_pb2.GetCompactionPlansResponse(status=SUCCESS, state=_state(info))
        for plan in info.plans:
            response.mergeInfos.add(
                sources=list(plan.sources),
                target=plan.targets[0] if plan.targets else 0,
                targets=list(plan.targets),
                plan_id=plan.plan_id,
                trigger_id=info.job_id,
                collection_id=plan.collection_id,
                partition_id=plan.partition_id,
                channel=plan.channel,
                type=_TYPES[plan.kind],
                state=_TASK_STATES[plan.state],
            )
        return response
