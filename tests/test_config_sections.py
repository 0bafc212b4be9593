"""The [security], [quota] and [grpc] settings: Milvus's names, environment overrides, checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.config import Settings, TlsMode


def _settings(raw: dict[str, object], env: dict[str, str] | None = None) -> Settings:
    return Settings.from_mapping({"data_dir": "/tmp/unused", **raw}, environ=env or {})


def test_defaults_follow_milvus() -> None:
    settings = _settings({})
    assert settings.security.authorization_enabled is None  # decided by the listen address
    assert settings.security.default_root_password == "Milvus"
    assert settings.security.tls_mode == TlsMode.OFF
    assert not (settings.quota.dml_enabled or settings.quota.dql_enabled)
    assert settings.quota.max_collection_num == 65536
    assert settings.quota.max_field_num == 64
    assert settings.grpc.server_max_recv_size == 512 * 1024 * 1024


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sluice.toml"
    config.write_text(
        'data_dir = "/tmp/x"\n[security]\nauthorization_enabled = false\n'
        "[quota]\ndml_insert_rate = 4\n"
    )
    env = {
        "SLUICE_SECURITY_AUTHORIZATION_ENABLED": "true",
        "SLUICE_SECURITY_DEFAULT_ROOT_PASSWORD": "from-env-1",
        "SLUICE_QUOTA_DQL_QUERY_RATE": "2.5",
        "SLUICE_GRPC_SERVER_MAX_SEND_SIZE": "1048576",
    }
    settings = Settings.from_toml(config, environ=env)
    assert settings.security.authorization_enabled is True
    assert settings.security.default_root_password == "from-env-1"
    assert settings.quota.dml_insert_rate == 4
    assert settings.quota.dql_query_rate == 2.5
    assert settings.grpc.server_max_send_size == 1048576


@pytest.mark.parametrize(
    ("raw", "env", "message"),
    [
        ({"security": {"tls_mode": 3}}, {}, "setting security.tls_mode must be at most 2, got 3"),
        (
            {"security": {"tls_mode": "1"}},
            {},
            "setting security.tls_mode must be an integer, got '1'",
        ),
        (
            {"security": {"tls_mode": 1}},
            {},
            "security.server_pem_path is required when security.tls_mode is 1",
        ),
        (
            {"security": {"default_root_password": "short"}},
            {},
            "security.default_root_password must be 6 to 72 bytes long (got 5)",
        ),
        ({"security": {"colour": "red"}}, {}, "unknown setting(s): security.colour"),
        (
            {"quota": {"dml_insert_rate": -2}},
            {},
            "setting quota.dml_insert_rate must be at least -1, got -2",
        ),
        ({"quota": {"max_field_num": 0}}, {}, "quota.max_field_num must be at least 1, got 0"),
        (
            {"quota": {"dql_enabled": 1}},
            {},
            "setting quota.dql_enabled must be true or false, got 1",
        ),
        (
            {"grpc": {"server_max_recv_size": 0}},
            {},
            "setting grpc.server_max_recv_size must be at least 1, got 0",
        ),
        ({"security": "yes"}, {}, "setting security must be a table, got 'yes'"),
        (
            {},
            {"SLUICE_SECURITY_AUTHORIZATION_ENABLED": "maybe"},
            "SLUICE_SECURITY_AUTHORIZATION_ENABLED: 'maybe' is not true or false",
        ),
        (
            {},
            {"SLUICE_QUOTA_MAX_USER_NUM": "lots"},
            "SLUICE_QUOTA_MAX_USER_NUM: 'lots' is not a number",
        ),
    ],
)
def test_bad_values_name_their_key(
    raw: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        _settings(raw, env)
    assert message in str(info.value)
