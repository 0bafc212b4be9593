"""TLS through gRPC's own credentials: one-way (tls_mode 1) and mutual (tls_mode 2).

Certificates are generated per module by ``certs.make_certs``; pymilvus is
used the way its documentation shows (``secure=True`` / ``https://``,
``server_pem_path`` or ``ca_pem_path`` with a client certificate).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from access_helpers import ROOT_TOKEN, token_header, write_toml
from certs import CertSet, make_certs
from helpers import SluiceProcess
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _tls_server(folder: Path, certs: CertSet, mode: int, auth: bool = True) -> SluiceProcess:
    config = write_toml(
        folder / "sluice.toml",
        "[security]\n"
        f"authorization_enabled = {'true' if auth else 'false'}\n"
        f"tls_mode = {mode}\n"
        f'server_pem_path = "{certs.server_cert}"\n'
        f'server_key_path = "{certs.server_key}"\n'
        f'ca_pem_path = "{certs.ca}"\n',
    )
    return SluiceProcess(folder / "data", config=config).start()


@pytest.fixture(scope="module")
def one_way(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[SluiceProcess]:
    proc = _tls_server(tmp_path_factory.mktemp("tls1"), certs, 1)
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[SluiceProcess]:
    proc = _tls_server(tmp_path_factory.mktemp("tls2"), certs, 2)
    try:
        yield proc
    finally:
        proc.kill()


def _https(server: SluiceProcess) -> str:
    return f"https://localhost:{server.port}"


def test_one_way_tls_with_the_server_certificate(one_way: SluiceProcess, certs: CertSet) -> None:
    client = MilvusClient(_https(one_way), token=ROOT_TOKEN, server_pem_path=str(certs.server_cert))
    client.create_collection("over_tls", dimension=4)
    client.insert("over_tls", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
    assert client.query("over_tls", filter="id == 1", output_fields=["id"]) == [{"id": 1}]
    client.close()


def test_one_way_tls_with_secure_flag_and_server_name(
    one_way: SluiceProcess, certs: CertSet
) -> None:
    client = MilvusClient(
        f"http://127.0.0.1:{one_way.port}",
        token=ROOT_TOKEN,
        secure=True,
        server_pem_path=str(certs.ca),
        server_name="localhost",
    )
    assert client.list_databases() == ["default"]
    client.close()


def test_plain_text_client_cannot_talk_to_a_tls_server(one_way: SluiceProcess) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{one_way.port}")
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetVersion(
            milvus_pb2.GetVersionRequest(),
            metadata=(("authorization", token_header(ROOT_TOKEN)),),
            timeout=5,
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    channel.close()


def test_mutual_tls_with_a_client_certificate(mutual: SluiceProcess, certs: CertSet) -> None:
    client = MilvusClient(
        _https(mutual),
        token=ROOT_TOKEN,
        client_pem_path=str(certs.client_cert),
        client_key_path=str(certs.client_key),
        ca_pem_path=str(certs.ca),
        server_name="localhost",
    )
    assert client.list_databases() == ["default"]
    client.close()


def _mutual_stub(server: SluiceProcess, creds: grpc.ChannelCredentials) -> grpc.Channel:
    return grpc.secure_channel(f"localhost:{server.port}", creds)


@pytest.mark.parametrize("which", ["no certificate", "foreign certificate"])
def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    mutual: SluiceProcess, certs: CertSet, which: str
) -> None:
    ca = certs.ca.read_bytes()
    if which == "no certificate":
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=certs.stranger_key.read_bytes(),
            certificate_chain=certs.stranger_cert.read_bytes(),
        )
    channel = _mutual_stub(mutual, creds)
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetVersion(
            milvus_pb2.GetVersionRequest(),
            metadata=(("authorization", token_header(ROOT_TOKEN)),),
            timeout=5,
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    channel.close()


def test_tls_without_authorization(tmp_path: Path, certs: CertSet) -> None:
    server = _tls_server(tmp_path, certs, 1, auth=False)
    try:
        client = MilvusClient(_https(server), server_pem_path=str(certs.ca))
        assert client.list_databases() == ["default"]
        client.close()
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('tls_mode = 1\nserver_key_path = "KEY"', "security.server_pem_path is required"),
        (
            'tls_mode = 2\nserver_pem_path = "PEM"\nserver_key_path = "KEY"',
            "security.ca_pem_path is required when security.tls_mode is 2",
        ),
        ('tls_mode = 1\nserver_pem_path = "KEY"\nserver_key_path = "KEY"', "cannot load"),
        ("tls_mode = 5", "setting security.tls_mode must be at most 2, got 5"),
        ('tls_mode = 1\nserver_pem_path = "/nope.pem"\nserver_key_path = "KEY"', "no such file"),
    ],
)
def test_bad_tls_settings_stop_start_up_naming_the_key(
    tmp_path: Path, certs: CertSet, setting: str, message: str
) -> None:
    text = setting.replace("PEM", str(certs.server_cert)).replace("KEY", str(certs.server_key))
    config = write_toml(tmp_path / "sluice.toml", f"[security]\n{text}\n")
    server = SluiceProcess(tmp_path / "data", config=config)
    with pytest.raises(RuntimeError) as info:
        server.start(timeout=20)
    assert message in str(info.value)
