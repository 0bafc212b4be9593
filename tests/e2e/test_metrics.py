"""Prometheus /metrics, GetMetrics and GetComponentStates on a live server."""

from __future__ import annotations

import json
import re

import requests
from helpers import RawMilvus, SluiceProcess, quick_collection, rows
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2


def scrape(server: SluiceProcess) -> str:
    reply = requests.get(f"{server.http_uri}/metrics", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (labels matched exactly), or 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if head.split("{")[0] == name and found == labels:
            return float(value)
    return 0.0


def test_scrape_counts_rpcs_rows_wal_and_segments(
    server: SluiceProcess, client: MilvusClient, raw: RawMilvus
) -> None:
    before = scrape(server)
    quick_collection(client, "metered", 8)
    client.insert("metered", rows(300, 8))
    client.delete("metered", ids=[1, 2, 3])
    client.flush("metered")
    client.search("metered", [rows(1, 8)[0]["vector"]], limit=3)
    client.search("metered", [rows(1, 8)[0]["vector"]], limit=3)
    text = scrape(server)
    assert (
        sample(text, "sluice_rpc_requests_total", method="Search", code="0")
        >= sample(before, "sluice_rpc_requests_total", method="Search", code="0") + 2
    )
    assert sample(text, "sluice_rows_inserted_total") >= 300
    assert sample(text, "sluice_rows_deleted_total") >= 3
    assert sample(text, "sluice_wal_fsync_seconds_count") >= 1
    assert sample(text, "sluice_wal_group_commit_records_count") >= 1
    assert sample(text, "sluice_flush_segment_seconds_count") >= 1
    assert sample(text, "sluice_segments", state="Flushed") >= 1
    assert sample(text, "sluice_collections") >= 1
    assert sample(text, "sluice_resident_memory_bytes") > 0
    assert sample(text, "sluice_process_resident_memory_bytes") > 0
    assert 'sluice_rpc_latency_seconds_bucket{code="0",le="+Inf",method="Search"}' in text


def test_failures_are_counted_by_status_code(server: SluiceProcess, client: MilvusClient) -> None:
    request = milvus_pb2.DescribeCollectionRequest(collection_name="no_such_collection")
    RawMilvus(server).call("DescribeCollection", request)
    for _ in range(2):
        requests.post(
            f"{server.http_uri}/v2/vectordb/entities/query",
            json={"collectionName": "no_such_collection"},
            timeout=10,
        )
    text = scrape(server)
    assert sample(text, "sluice_rpc_requests_total", method="Query", code="100") >= 2
    assert (
        sample(text, "sluice_http_requests_total", path="/v2/vectordb/entities/query", status="200")
        >= 2
    )


def test_get_metrics_system_info(raw: RawMilvus) -> None:
    request = milvus_pb2.GetMetricsRequest(request='{"metric_type": "system_info"}')
    response = raw.call("GetMetrics", request)
    assert response.status.code == 0
    topology = json.loads(response.response)
    nodes = topology["nodes_info"]
    types = {n["infos"]["type"] for n in nodes}
    assert {"proxy", "querynode", "datanode"} <= types
    proxy = next(n for n in nodes if n["infos"]["type"] == "proxy")
    hardware = proxy["infos"]["hardware_infos"]
    assert hardware["cpu_core_count"] >= 1 and hardware["memory_usage"] > 0
    assert proxy["infos"]["system_info"]["deploy_mode"] == "STANDALONE"
    assert {c["target_type"] for c in proxy["connected"]} >= {"querynode", "datanode"}


def test_get_metrics_refuses_other_types(raw: RawMilvus) -> None:
    response = raw.call("GetMetrics", milvus_pb2.GetMetricsRequest(request='{"metric_type": "x"}'))
    assert response.status.code == 65535
    assert response.status.reason == "sorry, but this metric type is not implemented"
    garbage = raw.call("GetMetrics", milvus_pb2.GetMetricsRequest(request="{not json"))
    assert garbage.status.reason == "failed to parse metric type"


def test_component_states(raw: RawMilvus) -> None:
    states = raw.call("GetComponentStates", milvus_pb2.GetComponentStatesRequest())
    assert states.status.code == 0
    assert states.state.state_code == 1  # Healthy
    assert {s.role for s in states.subcomponent_states} >= {"querynode", "datanode"}
