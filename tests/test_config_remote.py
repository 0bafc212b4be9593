"""The [object_store], [meta] and [wal] settings: parsing, environment overrides, validation."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

import sluice
from sluice.cli import main
from sluice.config import MetaSettings, ObjectStoreSettings, Settings, WalSettings
from sluice.errors import ParameterInvalid
from tests import services

TABLES = {
    "object_store": {
        "uri": "s3://bucket/prefix",
        "endpoint": "http://127.0.0.1:8333",
        "access_key": "ak",
        "secret_key": "sk",
    },
    "meta": {"etcd_endpoints": ["127.0.0.1:2379"], "root": "/prod"},
    "wal": {"nats_url": "nats://127.0.0.1:4222", "stream_prefix": "prod"},
}


def test_absent_tables_mean_the_data_folder() -> None:
    settings = Settings.from_mapping({"data_dir": "d"})
    assert settings.object_store is settings.meta is settings.wal is None
    assert not settings.stateless


def test_three_tables_make_a_stateless_node() -> None:
    settings = Settings.from_mapping({"data_dir": "d", **TABLES})
    assert settings.object_store == ObjectStoreSettings(
        "s3://bucket/prefix", "http://127.0.0.1:8333", "ak", "sk"
    )
    assert settings.meta == MetaSettings(("127.0.0.1:2379",), "/prod")
    assert settings.wal == WalSettings("nats://127.0.0.1:4222", "prod")
    assert settings.stateless


def test_environment_overrides_the_file() -> None:
    environ = {
        "SLUICE_META_ETCD_ENDPOINTS": "10.0.0.1:2379,10.0.0.2:2379",
        "SLUICE_OBJECT_STORE_SECRET_KEY": "from-env",
        "SLUICE_WAL_NATS_URL": "nats://n1:4222,nats://n2:4222",
        "SLUICE_META_LEASE_TTL_SECONDS": "7",
    }
    settings = Settings.from_mapping({"data_dir": "d", **TABLES}, environ=environ)
    assert settings.meta is not None and settings.object_store is not None
    assert settings.meta.etcd_endpoints == ("10.0.0.1:2379", "10.0.0.2:2379")
    assert settings.meta.lease_ttl_seconds == 7 and settings.meta.root == "/prod"
    assert settings.object_store.secret_key == "from-env"
    assert settings.wal is not None and settings.wal.servers == ["nats://n1:4222", "nats://n2:4222"]
    only_env = Settings.from_mapping(
        {"data_dir": "d"}, environ={"SLUICE_WAL_NATS_URL": "nats://x:4222"}
    )
    assert only_env.wal == WalSettings("nats://x:4222")


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        (
            "meta",
            {"etcd_endpoints": "127.0.0.1:2379"},
            r"setting meta.etcd_endpoints must be a list of strings",
        ),
        ("meta", {"colour": 1}, r"unknown setting\(s\): meta.colour"),
        ("meta", {"root": "sluice"}, r"setting meta.root must be an absolute key prefix"),
        ("meta", {"lease_ttl_seconds": 1}, r"setting meta.lease_ttl_seconds must be at least 2"),
        ("wal", {"nats_url": "http://x"}, r"setting wal.nats_url must be nats://"),
        ("wal", {"stream_prefix": "a.b"}, r"setting wal.stream_prefix may hold only"),
        ("object_store", {"uri": "/local"}, r"setting object_store.uri must be s3://BUCKET/PREFIX"),
        (
            "object_store",
            {"endpoint": "127.0.0.1:8333"},
            r"setting object_store.endpoint must start",
        ),
        (
            "object_store",
            {"access_key": None},
            r"settings object_store.access_key and object_store.secret_key",
        ),
    ],
)
def test_bad_values_are_refused_by_key(table: str, change: dict[str, object], message: str) -> None:
    values = {k: v for k, v in {**TABLES[table], **change}.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        Settings.from_mapping({"data_dir": "d", **TABLES, table: values})


def test_a_required_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"setting wal.nats_url is required"):
        Settings.from_mapping({"data_dir": "d", "wal": {"stream_prefix": "x"}})


def test_serve_refuses_a_bad_config_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "sluice.toml"
    config.write_text('[meta]\netcd_endpoints = ["127.0.0.1:2379"]\nroot = "x"\n')
    result = CliRunner().invoke(
        main, ["serve", "--data", str(tmp_path / "d"), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "setting meta.root must be an absolute key prefix" in result.output


def test_connect_takes_the_same_tables(tmp_path: Path, s3_service: services.SeaweedService) -> None:
    prefix = f"connect/{uuid.uuid4().hex}"
    tables = {
        "object_store": {
            "uri": f"s3://{s3_service.bucket}/{prefix}",
            "endpoint": s3_service.endpoint,
            "access_key": services.S3_ACCESS_KEY,
            "secret_key": services.S3_SECRET_KEY,
        }
    }
    with sluice.connect(tmp_path / "cache", settings=tables) as db:
        db.create_collection("notes", dimension=4)
        db.insert("notes", [{"id": i, "vector": [0.1, 0.2, 0.3, float(i)]} for i in range(5)])
        db.flush("notes").wait(timeout=30)
    files = s3_service.filesystem()
    import pyarrow.fs as pafs

    stored = files.get_file_info(pafs.FileSelector(f"{s3_service.bucket}/{prefix}", recursive=True))
    assert any(i.path.endswith(".parquet") for i in stored)
    assert not (tmp_path / "cache" / "segments").exists()
    with sluice.connect(tmp_path / "cache", settings=tables) as db:
        assert len(db.query("notes", filter="id >= 0")) == 5
    with pytest.raises(ParameterInvalid, match=r"setting object_store.uri"):
        sluice.connect(tmp_path / "other", settings={"object_store": {"uri": "nowhere"}})
