"""``sluice`` command line: ``sluice serve --data ./data --host 127.0.0.1 --port 19530``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from sluice.config import Settings


@click.group(help="Sluice: a Milvus-compatible vector database.")
def main() -> None:
    pass


@main.command(help="Serve the Milvus gRPC API on HOST:PORT with data in DATA.")
@click.option("--data", "data_dir", default="./data", show_default=True, help="Data folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=19530, show_default=True, type=int, help="Port (0: any free).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file with settings (see docs/configuration.md).",
)
@click.option(
    "--wal-sync",
    type=click.Choice(["fsync", "none"]),
    help="fsync every acknowledged write (default) or leave it to the OS.",
)
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
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
    log_level: str,
    ready_file: str | None,
) -> None:
    from sluice.api.server import serve_forever
    from sluice.engine import Engine

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {"data_dir": data_dir, "wal_sync": wal_sync}
    try:
        if config_file is not None:
            settings = Settings.from_toml(config_file, environ=os.environ, **overrides)
        else:
            settings = Settings.from_mapping({}, environ=os.environ, **overrides)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from exc
    engine = Engine(settings)
    if engine.stores.lease is not None:
        engine.stores.lease.on_lost(_stop_writing)
    serve_forever(engine, host, port, ready_file=ready_file)


def _stop_writing() -> None:
    """The writer lease is gone: another node may be writing, so this one must stop at once.

    Fencing already refuses this node's commits and WAL acknowledgements; exiting
    also closes its port, so clients and load balancers move to the new writer.
    A supervisor that restarts the process gets a standby.
    """
    logging.getLogger("sluice").critical("lost the writer lease: exiting so another node writes")
    logging.shutdown()
    os._exit(75)
