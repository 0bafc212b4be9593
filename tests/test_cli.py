"""The command line: every command documents itself, and `python -m sluice` works."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from sluice.cli import main


def _root_conftest() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_sluice_cli_conftest", Path(__file__).resolve().parent / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CONFTEST = _root_conftest()
SluiceProcess = _CONFTEST.SluiceProcess
free_port = _CONFTEST.free_port


def test_every_command_and_option_has_help() -> None:
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert command.help, f"command {name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"option {param.name} of {name} has no help text"


def test_serve_help_lists_the_documented_options() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--host", "--port", "--config", "--wal-sync"):
        assert option in result.output


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sluice", "--help"], capture_output=True, text=True, check=True
    )
    assert "serve" in out.stdout


# --- operator errors: one clear line, a non-zero exit, never a traceback --------------------


def sluice(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args], capture_output=True, text=True, timeout=timeout
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for part in parts:
        assert part in errors[0], errors[0]


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_port_out_of_range_is_refused(tmp_path: Path, port: str) -> None:
    result = sluice("serve", "--data", str(tmp_path / "d"), "--port", port)
    assert_one_error_line(result, 2, "--port", port)
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "d").exists(), "nothing was opened"


def test_bad_log_level_is_refused(tmp_path: Path) -> None:
    result = sluice("serve", "--data", str(tmp_path / "d"), "--log-level", "chatty")
    assert_one_error_line(result, 2, "--log-level", "chatty")


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = sluice("serve", "--data", str(tmp_path / "d"), "--port", str(port))
    assert_one_error_line(result, 1, f"cannot listen on 127.0.0.1:{port}", "in use")


def test_locked_folder_is_one_line(tmp_path: Path) -> None:
    server = SluiceProcess(tmp_path / "data").start()
    try:
        result = sluice("serve", "--data", str(tmp_path / "data"), "--port", str(free_port()))
    finally:
        server.kill()
    assert_one_error_line(result, 1, "is locked by another process")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("dml_channels = 0\n", "setting dml_channels must be at least 1, got 0"),
        ('tick_seconds = "fast"\n', "setting tick_seconds must be a number, got 'fast'"),
        ("[segments]\nmax_bytez = 5\n", "unknown setting(s): segments.max_bytez"),
        ("wal_sync = [\n", "is not valid TOML"),
    ],
    ids=["range", "type", "unknown", "syntax"],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "sluice.toml"
    config.write_text(toml)
    result = sluice("serve", "--data", str(tmp_path / "d"), "--config", str(config))
    assert_one_error_line(result, 2, message)


def test_check_on_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: data folder {tmp_path / 'nowhere'} does not exist"


def test_serve_logs_version_settings_and_addresses_with_secrets_masked(tmp_path: Path) -> None:
    secret = "not-in-the-log-42"
    proc = SluiceProcess(
        tmp_path / "data", env={"SLUICE_SECURITY_DEFAULT_ROOT_PASSWORD": secret}
    ).start()
    try:
        log = proc.log()
    finally:
        proc.stop()
    assert "Sluice 0.1.0 starting: gRPC on 127.0.0.1:" in log
    assert f"HTTP port {proc.http_port}" in log
    assert "security.default_root_password = ***" in log
    assert "http.port = " in log and "segments.max_bytes = 134217728" in log
    assert secret not in log


def test_data_commands_need_exactly_one_target(tmp_path: Path) -> None:
    result = sluice("stats")
    assert_one_error_line(result, 2, "exactly one of --data")
    result = sluice("backup", str(tmp_path / "b"), "--data", str(tmp_path / "missing"))
    assert_one_error_line(result, 2, "does not exist")
