"""The command line: every command documents itself, and `python -m sluice` works."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from sluice.cli import main


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
