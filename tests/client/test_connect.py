"""connect(): choosing the mode, the folder lock, closing, one interface, one set of errors."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from pymilvus.exceptions import DataNotMatchException, MilvusException, ParamError
from pymilvus.grpc_gen import common_pb2

import sluice
from sluice import errors
from sluice.client import Client, EmbeddedClient, RemoteClient
from sluice.client.errors import error_from_status
from sluice.client.wire import check_status, from_milvus_exception
from sluice.config import Settings
from tests.conftest import ROOT, SluiceProcess, free_port


def test_a_path_opens_an_embedded_engine(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with sluice.connect(f"file://{folder}") as db:
        assert isinstance(db, EmbeddedClient)
        db.create_collection("docs", 2)
        db.insert("docs", [{"id": 1, "vector": [1, 0]}])
    assert (folder / "meta" / "journal").exists()
    with sluice.connect(folder, settings=Settings(data_dir=Path("ignored"))) as db:
        assert db.list_collections() == ["docs"]
    with sluice.connect(str(folder)) as db:
        # close() persisted the buffered row, so the reopened engine counts it.
        assert db.get_collection_stats("docs") == {"row_count": 1}


@pytest.mark.parametrize("form", ["http://{}", "tcp://{}", "{}"])
def test_a_server_uri_connects_remotely(server: SluiceProcess, form: str, name: str) -> None:
    with sluice.connect(form.format(f"127.0.0.1:{server.port}")) as db:
        assert isinstance(db, RemoteClient)
        db.create_collection(name, 2)
        assert db.has_collection(name)


def test_unreachable_server_is_service_unavailable() -> None:
    with pytest.raises(errors.ServiceUnavailable, match="Fail connecting"):
        sluice.connect(f"http://127.0.0.1:{free_port()}")


def test_settings_are_for_embedded_engines_only(server: SluiceProcess, tmp_path: Path) -> None:
    with pytest.raises(errors.ParameterInvalid, match="embedded"):
        sluice.connect(server.uri, settings=Settings(data_dir=tmp_path))


def test_closed_embedded_client_refuses_calls(tmp_path: Path) -> None:
    db = sluice.connect(tmp_path / "data")
    db.close()
    db.close()
    with pytest.raises(errors.ServiceNotReady):
        db.list_collections()


def test_unknown_database_fails_and_unlocks(tmp_path: Path) -> None:
    with pytest.raises(errors.DatabaseNotFound):
        sluice.connect(tmp_path / "data", db_name="nope")
    with sluice.connect(tmp_path / "data") as db:
        assert db.list_collections() == []


def _connect_in_subprocess(folder: Path) -> subprocess.CompletedProcess[str]:
    script = (
        "import sys, sluice\n"
        "from sluice.errors import DataDirLockedError\n"
        "try:\n"
        "    sluice.connect(sys.argv[1]).close()\n"
        "except DataDirLockedError as err:\n"
        "    print(type(err).__name__, err.message)\n"
        "    sys.exit(3)\n"
        "print('opened')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_second_process_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with sluice.connect(folder):
        refused = _connect_in_subprocess(folder)
        assert refused.returncode == 3, refused.stderr
        assert refused.stdout.startswith("DataDirLockedError data folder")
        assert "locked by another process" in refused.stdout
    opened = _connect_in_subprocess(folder)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "opened"


def test_embedded_use_loads_neither_grpc_nor_pymilvus(tmp_path: Path) -> None:
    script = (
        "import sys, sluice\n"
        "assert 'sluice.client' not in sys.modules\n"
        "sluice.connect(sys.argv[1]).close()\n"
        "print(sorted(m for m in ('grpc', 'pymilvus') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_both_clients_have_the_interface_signatures() -> None:
    public = [n for n, v in vars(Client).items() if getattr(v, "__isabstractmethod__", False)]
    assert {"flush", "flush_all", "search", "query", "insert", "close"} <= set(public)
    for impl in (EmbeddedClient, RemoteClient):
        assert not getattr(impl, "__abstractmethods__", None)
        for method in public:
            assert inspect.signature(getattr(impl, method)) == inspect.signature(
                getattr(Client, method)
            ), f"{impl.__name__}.{method}"
    assert sluice.connect is sluice.client.connect


# --- error translation ------------------------------------------------------------------------


def test_every_coded_error_class_comes_back_from_its_code() -> None:
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.SluiceError):
            err = error_from_status(value.code, "boom")
            assert err.code == value.code and err.message == "boom"
            assert isinstance(err, errors.SluiceError)
    assert type(error_from_status(100, "x")) is errors.CollectionNotFound
    assert type(error_from_status(1100, "x")) is errors.ParameterInvalid
    assert type(error_from_status(1, "x")) is errors.ServiceNotReady
    assert type(error_from_status(65535, "x", input_error=True)) is errors.RequestError
    assert type(error_from_status(65535, "x")) is errors.SluiceError
    unknown = error_from_status(4242, "newer server")
    assert type(unknown) is errors.SluiceError and unknown.code == 4242


def test_status_translation_reads_legacy_codes() -> None:
    check_status(common_pb2.Status())
    with pytest.raises(errors.CollectionNotFound):
        check_status(common_pb2.Status(error_code=common_pb2.CollectionNotExists, reason="gone"))
    with pytest.raises(errors.RateLimited):
        check_status(common_pb2.Status(code=8, error_code=common_pb2.RateLimit, reason="slow"))


def test_pymilvus_exceptions_translate_by_origin() -> None:
    assert type(from_milvus_exception(ParamError(message="bad"))) is errors.ParameterInvalid
    assert (
        type(from_milvus_exception(DataNotMatchException(message="x"))) is errors.ParameterInvalid
    )
    assert type(from_milvus_exception(MilvusException(100, "gone", 4))) is errors.CollectionNotFound
    # pymilvus's own code-1 errors are not the server's ServiceNotReady.
    assert type(from_milvus_exception(MilvusException(message="oops"))) is errors.SluiceError
    not_ready = MilvusException(1, "not ready", common_pb2.NotReadyServe)
    assert type(from_milvus_exception(not_ready)) is errors.ServiceNotReady
