"""What the command line shares: the start-up report and progress bars.

``sluice serve`` logs its version, the effective settings (every section,
after the file and the environment were applied, secrets masked) and its
addresses, so an operator reading a log knows what the process ran with.
Long operations draw a ``rich`` progress bar on a terminal and stay quiet
when stderr is not one (scripts and logs get the final line only).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from sluice import __version__
from sluice.config import Settings

log = logging.getLogger("sluice.cli")

#: Setting names whose values never reach a log.
_SECRET_WORDS = ("password", "secret", "access_key", "token")


def masked_settings(settings: Any, prefix: str = "") -> list[str]:
    """``key = value`` lines for every setting, secrets shown as ``***``."""
    lines = []
    for fld in dataclasses.fields(settings):
        value = getattr(settings, fld.name)
        key = f"{prefix}{fld.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            lines.extend(masked_settings(value, f"{key}."))
            continue
        if any(word in fld.name for word in _SECRET_WORDS) and value:
            shown = "***"
        elif isinstance(value, enum.Enum):
            shown = repr(value.value)
        elif isinstance(value, Path):
            shown = repr(str(value))
        else:
            shown = repr(value)
        lines.append(f"{key} = {shown}")
    return lines


def log_startup(settings: Settings, host: str, port: int) -> None:
    http = settings.http
    where = f"HTTP port {http.port or 'any free'}" if http.enabled else "HTTP off"
    log.info("Sluice %s starting: gRPC on %s:%s, %s", __version__, host, port or "any free", where)
    log.info("effective settings: %s", "; ".join(masked_settings(settings)))


@contextmanager
def progress_bar(description: str, total: float | None) -> Iterator[Any]:
    """A progress bar on stderr (``advance(n)``, ``update(completed=n)``); silent off a terminal."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        class Bar:
            def advance(self, amount: float) -> None:
                progress.advance(task, amount)

            def update(self, **fields: Any) -> None:
                progress.update(task, **fields)

        yield Bar()
