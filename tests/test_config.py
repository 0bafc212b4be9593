"""Settings: every value checked where it is made, with a message naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sluice.config import (
    ConfigError,
    FlushSettings,
    SegmentSettings,
    Settings,
    WalRecovery,
    WalSync,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def from_toml(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "sluice.toml"
    path.write_text(text)
    return Settings.from_toml(path, data_dir=str(tmp_path / "data"))


def test_documented_example_is_valid_and_changes_nothing(tmp_path: Path) -> None:
    """Copying the example in docs/configuration.md gives the defaults (no flush rate limit)."""
    example = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    settings = from_toml(tmp_path, example.group(1))
    assert settings == Settings(data_dir=tmp_path / "data")
    assert settings.flush.collection_rate is None


def test_values_are_converted_from_toml(tmp_path: Path) -> None:
    settings = from_toml(
        tmp_path,
        'wal_sync = "none"\nwal_recovery = "truncate"\ntick_seconds = 2\n'
        "[flush]\ncollection_rate = 0.5\n[segments]\nmax_bytes = 4096\n",
    )
    assert settings.wal_sync is WalSync.NONE
    assert settings.wal_recovery is WalRecovery.TRUNCATE
    assert settings.tick_seconds == 2
    assert settings.flush.collection_rate == 0.5
    assert settings.segments.max_bytes == 4096
    assert settings.data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("dml_channels = 0", "setting dml_channels must be at least 1, got 0"),
        ("dml_channels = 2.5", "setting dml_channels must be an integer, got 2.5"),
        ("dml_channels = true", "setting dml_channels must be an integer, got True"),
        ('tick_seconds = "fast"', "setting tick_seconds must be a number, got 'fast'"),
        ("tick_seconds = 0", "setting tick_seconds must be greater than 0, got 0"),
        ("tick_seconds = -1.5", "setting tick_seconds must be greater than 0, got -1.5"),
        ("tick_seconds = nan", "setting tick_seconds must be a finite number, got nan"),
        ("flusher_threads = 0", "setting flusher_threads must be at least 1, got 0"),
        ("flusher_threads = 1000", "setting flusher_threads must be at most 64, got 1000"),
        ("wal_file_bytes = 0", "setting wal_file_bytes must be at least 1, got 0"),
        ('wal_sync = "always"', "setting wal_sync must be one of 'fsync', 'none', got 'always'"),
        (
            'wal_recovery = "yolo"',
            "setting wal_recovery must be one of 'strict', 'truncate', got 'yolo'",
        ),
        ('cluster_prefix = ""', "setting cluster_prefix must not be empty"),
        ("cluster_prefix = 7", "setting cluster_prefix must be a string, got 7"),
        ("segments = 3", "setting segments must be a table, got 3"),
        ("[segments]\nmax_bytes = 0", "setting segments.max_bytes must be at least 1, got 0"),
        (
            "[segments]\nidle_seconds = 0",
            "setting segments.idle_seconds must be greater than 0, got 0",
        ),
        (
            "[segments]\nsync_buffer_bytes = -5",
            "setting segments.sync_buffer_bytes must be at least 1, got -5",
        ),
        ("[flush]\nstate_wait_ms = -1", "setting flush.state_wait_ms must be at least 0, got -1"),
        (
            "[flush]\ncollection_rate = -0.1",
            "setting flush.collection_rate must be at least 0, got -0.1",
        ),
        ('[flush]\ncollection_rate = "x"', "setting flush.collection_rate must be a number"),
        ("typo = 1", "unknown setting(s): typo"),
        ("[segments]\nmax_byte = 1", "unknown setting(s): segments.max_byte"),
        ("[nope]\nx = 1", "unknown setting(s): nope"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_toml(tmp_path, toml + "\n")
    assert str(info.value).startswith(message), str(info.value)


def test_settings_made_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"segments\.max_bytes must be at least 1"):
        SegmentSettings(max_bytes=0)
    with pytest.raises(ConfigError, match=r"flush\.state_wait_ms must be an integer"):
        FlushSettings(state_wait_ms="soon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="dml_channels must be at least 1"):
        Settings(data_dir=Path("x"), dml_channels=0)


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        from_toml(tmp_path, "x = [\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.from_toml(tmp_path / "missing.toml", data_dir="d")


def test_data_dir_is_required() -> None:
    with pytest.raises(ConfigError, match="data_dir is required"):
        Settings.from_mapping({})
