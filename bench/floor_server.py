"""The FAISS floor: a Milvus endpoint whose Search is one FAISS HNSW call and nothing else.

    python bench/floor_server.py PORT --n 100000 --nq 1000 --shared-dir /work/shared/bench

It answers like ``null_server.py`` (whose servicer it extends) except Search: it decodes the
query vectors, runs ``IndexHNSWFlat.search`` over the benchmark's own data (built at start-up
with bench_milvus.py's parameters, M=16 efConstruction=200; ``ef`` from the request) on one
OpenMP thread, and returns the hits.  No snapshot, no deletes, no filters, no merging, no
checks, the thread policy Sluice uses.  Any server that runs the search in its own process can at best match it, so the
single-query QPS it reaches is the floor under Sluice's figure: ``Sluice / floor`` is what
Sluice's own request handling costs, and ``floor / null`` is what the search itself costs on
this machine with the client running beside it.

It listens only once the index is built, so a harness waiting for the port waits for that.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent import futures
from pathlib import Path
from typing import Any

import faiss
import grpc
import numpy as np
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2
from workload import DIM, EF, load_bench_milvus, load_shared_script, make_workload

M = 16
EF_CONSTRUCTION = 200
THREADS = faiss.omp_get_max_threads()


def build_index(vectors: np.ndarray) -> Any:
    index = faiss.IndexHNSWFlat(DIM, M)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(vectors)
    return index


def make_servicer(base: type, index: Any, ids: np.ndarray) -> Any:
    class FloorMilvus(base):  # type: ignore[misc, valid-type]
        def Search(self, request: Any, context: Any) -> Any:
            params = {kv.key: kv.value for kv in request.search_params}
            k = int(params.get("topk", "10"))
            ef = int(json.loads(params.get("params") or "{}").get("ef", EF))
            group = common_pb2.PlaceholderGroup.FromString(request.placeholder_group)
            values = group.placeholders[0].values
            queries = np.frombuffer(b"".join(values), dtype="<f4").reshape(len(values), -1)
            nq = len(values)
            # Sluice's policy (sluice/index/threads.py): one OpenMP thread below 8 queries.
            # OpenMP's count is per OS thread, so each gRPC worker sets its own.
            faiss.omp_set_num_threads(1 if nq < 8 else THREADS)
            search_params = faiss.SearchParametersHNSW()
            search_params.efSearch = max(ef, k)
            distances, labels = index.search(queries, k, params=search_params)
            data = schema_pb2.SearchResultData(num_queries=nq, top_k=k, topks=[k] * nq)
            data.ids.int_id.data.extend(ids[labels.reshape(-1)].tolist())
            data.scores.extend(distances.reshape(-1).tolist())
            return milvus_pb2.SearchResults(
                status=common_pb2.Status(), results=data, collection_name=request.collection_name
            )

    return FloorMilvus()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("port", type=int)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--nq", type=int, required=True)
    ap.add_argument("--shared-dir", type=Path, required=True)
    args = ap.parse_args()
    workload = make_workload(load_bench_milvus(args.shared_dir), args.n, args.nq)
    index = build_index(workload.vectors)
    base = load_shared_script(args.shared_dir, "null_server.py").NullMilvus
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(
        make_servicer(base, index, workload.ids), server
    )
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"floor server ready on {args.port}", file=sys.stderr, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
