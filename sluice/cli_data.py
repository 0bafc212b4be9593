"""``sluice stats|compact|backup|restore|import|export``: operating on data.

Each command works on a running server (``--uri http://HOST:HTTP_PORT``, the
HTTP port, with ``--token user:password`` when authorization is on) or on a
stopped server's folder (``--data DIR``, opened in this process: the folder
must not be in use).  Online, backup and export run inside the server (its
engine is the only one that may read the folder) and write on the server's
machine; import goes through the RESTful ``jobs/import`` endpoints and polls
the job.  Anything that takes more than a second shows a progress bar.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson
import requests

from sluice.cli_support import progress_bar
from sluice.config import ConfigError, Settings
from sluice.errors import SluiceError

_IMPORT_TIMEOUT = 24 * 3600.0


class UsageProblem(click.ClickException):
    exit_code = 2


def _where(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--token", help="user:password, when the server requires credentials.")(
        func
    )
    func = click.option(
        "--uri", help="A running server's HTTP address, e.g. http://127.0.0.1:9091."
    )(func)
    func = click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="A stopped server's data folder (opened here).",
    )(func)
    return func


def _one_of(data_dir: Path | None, uri: str | None) -> None:
    if (data_dir is None) == (uri is None):
        raise UsageProblem("give exactly one of --data (a stopped server's folder) or --uri")


class Remote:
    """Calls to a server's HTTP port, answered as ``{"code": 0, "data": ...}``."""

    def __init__(self, uri: str, token: str | None) -> None:
        self.base = uri.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def post(self, path: str, body: dict[str, Any], timeout: float = 3600.0) -> Any:
        try:
            reply = requests.post(
                self.base + path, json=body, headers=self.headers, timeout=timeout
            )
        except requests.RequestException as exc:
            raise click.ClickException(f"cannot reach {self.base}: {exc}") from None
        try:
            answer = reply.json()
        except ValueError:
            raise click.ClickException(
                f"{self.base}{path} answered HTTP {reply.status_code}: {reply.text[:200]}"
            ) from None
        if answer.get("code", 0) != 0:
            raise click.ClickException(f"{answer.get('message')} (code {answer.get('code')})")
        return answer.get("data")


@contextmanager
def _engine(data_dir: Path) -> Iterator[Any]:
    from sluice.engine import Engine

    try:
        settings = Settings.from_mapping({}, environ=os.environ, data_dir=data_dir)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    if not data_dir.is_dir():
        raise UsageProblem(f"data folder {data_dir} does not exist")
    try:
        engine = Engine(settings)
    except (SluiceError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield engine
    finally:
        engine.close()


def _errors(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except SluiceError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


@click.command(help="Collections, segments, rows, sizes and index state of a server or folder.")
@_where
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats(data_dir: Path | None, uri: str | None, token: str | None, as_json: bool) -> None:
    _one_of(data_dir, uri)
    if uri is not None:
        report = Remote(uri, token).post("/v2/sluice/stats", {})
    else:
        from sluice.rest.admin import stats_json

        assert data_dir is not None
        with _engine(data_dir) as engine:
            report = stats_json(engine)
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Sluice collections")
    for column in ("db.collection", "rows", "persisted", "segments", "files", "memory", "indexes"):
        table.add_column(column)
    for c in report["collections"]:
        segments = ", ".join(f"{k} {v}" for k, v in sorted(c["segments"].items()))
        indexes = ", ".join(f"{n} {d}/{t}" for n, (d, t) in c["indexes"].items()) or "-"
        table.add_row(
            f"{c['db']}.{c['name']}",
            str(c["rows"]),
            str(c["persisted_rows"]),
            segments or "-",
            _size(c["file_bytes"]),
            _size(c["memory_bytes"]),
            indexes,
        )
    # Off a terminal (a pipe, a log), do not wrap names at 80 columns.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


@click.command(help="Ask a running server to compact COLLECTION (Milvus's ManualCompaction).")
@click.argument("collection")
@click.option("--uri", required=True, help="The server's HTTP address, e.g. http://127.0.0.1:9091.")
@click.option("--token", help="user:password, when the server requires credentials.")
@click.option("--db", default="default", show_default=True, help="Database of the collection.")
def compact(collection: str, uri: str, token: str | None, db: str) -> None:
    data = Remote(uri, token).post(
        "/v2/vectordb/collections/compact", {"collectionName": collection, "dbName": db}
    )
    click.echo(f"compaction {data['jobID']} started for {db}.{collection}")


@click.command(
    help=(
        "Back up every collection, consistent at one timestamp, into the empty folder DIR "
        "(on the server's machine with --uri)."
    )
)
@click.argument("target", metavar="DIR", type=click.Path(path_type=Path))
@_where
def backup(target: Path, data_dir: Path | None, uri: str | None, token: str | None) -> None:
    _one_of(data_dir, uri)
    if uri is not None:
        with progress_bar("backing up (on the server)", None):
            summary = Remote(uri, token).post("/v2/sluice/backup", {"path": str(target)})
    else:
        from sluice.engine import backup as run_backup

        assert data_dir is not None
        with _engine(data_dir) as engine, progress_bar("backing up", None) as bar:
            result = _errors(
                lambda: run_backup(
                    engine, target, lambda done, total: bar.update(completed=done, total=total)
                )
            )
            summary = result.__dict__
    click.echo(
        f"backup of {summary['collections']} collection(s), {summary['rows']} rows, "
        f"{summary['files']} files at timestamp {summary['backup_ts']} in {summary['path']}"
    )


@click.command(help="Restore the backup in BACKUP into DATA, an empty (or new) data folder.")
@click.argument("source", metavar="BACKUP", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The empty folder to restore into; serve it with sluice serve --data.",
)
def restore(source: Path, data_dir: Path) -> None:
    from sluice.engine import restore as run_restore

    with progress_bar("restoring", None) as bar:
        summary = _errors(
            lambda: run_restore(
                source, data_dir, lambda done, total: bar.update(completed=done, total=total)
            )
        )
    click.echo(
        f"restored {summary['collections']} collection(s), {summary['rows']} rows "
        f"(timestamp {summary['backup_ts']}) into {data_dir}"
    )


@click.command(
    name="import",
    help=(
        "Bulk-import FILES (Parquet, JSON, CSV, or one batch of .npy files) into COLLECTION, "
        "as a background job whose progress is shown; rows are visible when it completes."
    ),
)
@click.argument("collection")
@click.argument("files", nargs=-1, required=True)
@_where
@click.option("--db", default="default", show_default=True, help="Database of the collection.")
@click.option("--partition", default="", help="Partition to import into (default: _default).")
def import_files(
    collection: str,
    files: tuple[str, ...],
    data_dir: Path | None,
    uri: str | None,
    token: str | None,
    db: str,
    partition: str,
) -> None:
    _one_of(data_dir, uri)
    batches = _batches(list(files), resolve=uri is None)
    if uri is not None:
        remote = Remote(uri, token)
        body = {"collectionName": collection, "dbName": db, "files": batches}
        if partition:
            body["partitionName"] = partition
        job_id = remote.post("/v2/vectordb/jobs/import/create", body)["jobId"]
        job = _follow(lambda: remote.post("/v2/vectordb/jobs/import/describe", {"jobId": job_id}))
        state, rows, reason = job["state"], job.get("importedRows", 0), job.get("reason", "")
    else:
        from sluice.engine import import_job, submit_import

        assert data_dir is not None
        with _engine(data_dir) as engine:
            jid = _errors(lambda: submit_import(engine, db, collection, partition, batches))

            def poll() -> dict[str, Any]:
                found = import_job(engine, jid)
                return {"state": found.state, "progress": found.progress}

            _follow(poll)
            done = import_job(engine, jid)
            job_id, state, rows, reason = str(jid), done.state, done.imported_rows, done.reason
    if state != "Completed":
        raise click.ClickException(f"import job {job_id} {state.lower()}: {reason}")
    click.echo(f"import job {job_id} completed: {rows} rows into {db}.{collection}")


def _batches(files: list[str], *, resolve: bool) -> list[list[str]]:
    """NumPy files form one batch; every other file is a batch of its own."""
    named = [str(Path(f).resolve()) if resolve and "://" not in f else f for f in files]
    if named and all(f.lower().endswith(".npy") for f in named):
        return [named]
    return [[f] for f in named]


def _follow(poll: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    deadline = time.monotonic() + _IMPORT_TIMEOUT
    with progress_bar("importing", 100) as bar:
        while True:
            job = poll()
            bar.update(completed=job.get("progress", 0))
            if job["state"] in ("Completed", "Failed") or time.monotonic() > deadline:
                return job
            time.sleep(0.2)


@click.command(help="Export the rows COLLECTION shows now to a Parquet file (importable again).")
@click.argument("collection")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet file."
)
@_where
@click.option("--db", default="default", show_default=True, help="Database of the collection.")
def export(
    collection: str,
    out: Path,
    data_dir: Path | None,
    uri: str | None,
    token: str | None,
    db: str,
) -> None:
    _one_of(data_dir, uri)
    if uri is not None:
        with progress_bar("exporting (on the server)", None):
            data = Remote(uri, token).post(
                "/v2/sluice/export", {"collectionName": collection, "dbName": db, "path": str(out)}
            )
        rows = data["rows"]
    else:
        from sluice.engine import export_collection

        assert data_dir is not None
        with _engine(data_dir) as engine, progress_bar("exporting", 2) as bar:
            rows = _errors(
                lambda: export_collection(
                    engine, db, collection, out, lambda done, total: bar.update(completed=done)
                )
            )
    click.echo(f"exported {rows} rows of {db}.{collection} to {out}")


COMMANDS = (stats, compact, backup, restore, import_files, export)
