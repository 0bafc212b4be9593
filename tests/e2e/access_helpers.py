"""Shared tools for the authentication, RBAC and TLS suites.

``AuthedStub`` is the raw gRPC stub with an ``authorization`` header of the
caller's choosing, so tests see exactly what the server answers (pymilvus
caches connections per URI and token, and wraps refusals at connect time).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

ROOT_TOKEN = "root:Milvus"
AUTH_ENV = {"SLUICE_SECURITY_AUTHORIZATION_ENABLED": "true"}


def token_header(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


class AuthedStub:
    def __init__(self, port: int, token: str | None, db: str | None = None) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = milvus_pb2_grpc.MilvusServiceStub(self.channel)
        md = []
        if token is not None:
            md.append(("authorization", token_header(token)))
        if db:
            md.append(("dbname", db))
        self.metadata = tuple(md)

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=30)

    def close(self) -> None:
        self.channel.close()


@contextmanager
def grpc_refusal(code: grpc.StatusCode, details: str) -> Iterator[None]:
    """Expect a gRPC-level refusal with exactly this code and text."""
    with pytest.raises(grpc.RpcError) as info:
        yield
    err = info.value
    assert err.code() == code, f"{err.code()}: {err.details()}"
    assert err.details() == details


def client(uri: str, token: str, **kwargs: Any) -> MilvusClient:
    return MilvusClient(uri, token=token, **kwargs)


def list_databases(stub: AuthedStub) -> list[str]:
    response = stub.call("ListDatabases", milvus_pb2.ListDatabasesRequest())
    return list(response.db_names)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
