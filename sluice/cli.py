"""``sluice`` command line: ``sluice serve`` runs a server, ``sluice check`` verifies a folder.

Operator mistakes and environment failures (a port in use, a locked or
damaged data folder, a bad setting) end with one line on stderr, starting
``Error:``, and a non-zero exit code; never a traceback.  Exit codes: 0 done,
1 the command failed (for ``check``: problems found), 2 the command line or
the folder could not be used as given.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from sluice.config import ConfigError, Settings, WalRecovery, WalSync
from sluice.errors import SluiceError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UnusableInput(click.ClickException):
    """The folder or command line cannot be used as given (exit code 2)."""

    exit_code = 2


class OneLineErrors(click.Group):
    """A group whose errors, usage errors included, print as one line without a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # click types ``main`` with overloads on ``standalone_mode``; this override passes it on.
        parent: Any = super()
        if not kwargs.pop("standalone_mode", True):
            return parent.main(*args, standalone_mode=False, **kwargs)
        try:
            result = parent.main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("Aborted.", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@click.group(cls=OneLineErrors, help="Sluice: a Milvus-compatible vector database.")
def main() -> None:
    pass


@main.command(help="Serve the Milvus gRPC API on HOST:PORT with data in DATA.")
@click.option("--data", "data_dir", default="./data", show_default=True, help="Data folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=19530,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on, 1-65535 (0: any free port, written to --ready-file).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file with settings (see docs/configuration.md).",
)
@click.option(
    "--wal-sync",
    type=click.Choice([m.value for m in WalSync]),
    help="fsync every acknowledged write (default) or leave it to the OS.",
)
@click.option(
    "--wal-recovery",
    type=click.Choice([m.value for m in WalRecovery]),
    help=(
        "strict (default): stop at a damaged WAL; truncate: cut it at the first bad "
        "record and lose every later record (logged). Run `sluice check` first."
    ),
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="Python logging level.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False),
    help="Write the bound port here once serving (for scripts and tests).",
)
def serve(
    data_dir: str,
    host: str,
    port: int,
    config_file: Path | None,
    wal_sync: str | None,
    wal_recovery: str | None,
    log_level: str,
    ready_file: str | None,
) -> None:
    from sluice.api.logsafe import EscapingFormatter
    from sluice.api.server import serve_forever
    from sluice.engine import Engine

    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    overrides = {"data_dir": data_dir, "wal_sync": wal_sync, "wal_recovery": wal_recovery}
    try:
        if config_file is not None:
            settings = Settings.from_toml(config_file, **overrides)
        else:
            settings = Settings.from_mapping({}, **overrides)
    except ConfigError as exc:
        raise UnusableInput(str(exc)) from None
    try:
        serve_forever(lambda: Engine(settings), host, port, ready_file=ready_file)
    except (SluiceError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command(
    help=(
        "Verify the data folder DATA without changing it: WAL checksums and continuity, "
        "catalog and manifests, segment files and their row counts, index files. Prints one "
        "line per problem; exits 0 when clean, 1 when problems were found, 2 when the folder "
        "cannot be checked (missing, or in use by a running server)."
    )
)
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
def check(data_dir: Path) -> None:
    from sluice.engine.check import check_data_folder

    try:
        report = check_data_folder(data_dir)
    except (SluiceError, OSError) as exc:
        raise UnusableInput(str(exc)) from None
    for line in report.lines():
        click.echo(line)
    if not report.clean:
        click.get_current_context().exit(1)
