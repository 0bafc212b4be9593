"""``sluice`` command line: ``sluice serve`` runs a server, ``sluice check`` verifies a folder.

Operator mistakes and environment failures (a port in use, a locked or
damaged data folder, a bad setting) end with one line on stderr, starting
``Error:``, and a non-zero exit code; never a traceback.  Exit codes: 0 done,
1 the command failed (for ``check``: problems found), 2 the command line or
the folder could not be used as given.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from sluice.cli_support import log_startup
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


@main.command(
    help="Serve the Milvus gRPC API on HOST:PORT, and HTTP (RESTful API v2, /metrics, /healthz) on --http-port, with data in DATA."
)
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
    "--http-port",
    type=click.IntRange(0, 65535),
    help=(
        "Port for HTTP: Milvus's RESTful API v2, /metrics and /healthz (default [http] port, "
        "9091; 0: any free port, and the default when --port is 0)."
    ),
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
    http_port: int | None,
    config_file: Path | None,
    wal_sync: str | None,
    wal_recovery: str | None,
    log_level: str,
    ready_file: str | None,
) -> None:
    from sluice.engine.freed_memory import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread allocates (see sluice.engine.freed_memory)
    from sluice.api.logsafe import EscapingFormatter
    from sluice.api.server import serve_forever
    from sluice.rest.server import http_frontend

    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    overrides = {"data_dir": data_dir, "wal_sync": wal_sync, "wal_recovery": wal_recovery}
    try:
        if config_file is not None:
            settings = Settings.from_toml(config_file, environ=os.environ, **overrides)
        else:
            settings = Settings.from_mapping({}, environ=os.environ, **overrides)
    except ConfigError as exc:
        raise UnusableInput(str(exc)) from None
    if http_port is not None or port == 0:
        http = replace(settings.http, port=http_port if http_port is not None else 0)
        settings = replace(settings, http=http)
    log_startup(settings, host, port)
    frontend = http_frontend(settings.http, host) if settings.http.enabled else None
    try:
        serve_forever(
            lambda: _open_engine(settings), host, port, ready_file=ready_file, http=frontend
        )
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


def _open_engine(settings: Settings) -> Any:
    from sluice.engine import Engine

    engine = Engine(settings)
    if engine.stores.lease is not None:
        engine.stores.lease.on_lost(_stop_writing)
    return engine


def _stop_writing() -> None:
    """The writer lease is gone: another node may be writing, so this one must stop at once.

    Fencing already refuses this node's commits and WAL acknowledgements; exiting
    also closes its port, so clients and load balancers move to the new writer.
    A supervisor that restarts the process gets a standby.
    """
    logging.getLogger("sluice").critical("lost the writer lease: exiting so another node writes")
    logging.shutdown()
    os._exit(75)


def _register_data_commands() -> None:
    from sluice.cli_data import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register_data_commands()
