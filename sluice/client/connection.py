"""``sluice.connect``: one entry point, the URI decides embedded or remote.

- a path (``"./data"``, a :class:`~pathlib.Path`) or a ``file://`` URI opens
  that folder with an in-process engine (:class:`EmbeddedClient`);
- ``http://``, ``https://``, ``tcp://``, ``grpc://`` or a bare ``host:port``
  connects to a server (:class:`RemoteClient`).

The implementation modules are imported on first use, so an embedded
program never loads gRPC and a remote one never loads the engine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sluice.client.base import DEFAULT_DB, Client
from sluice.config import Settings
from sluice.errors import ParameterInvalid

DEFAULT_PORT = 19530
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-]+:\d+$")


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens: ``host:port`` for gRPC, ``uri`` for pymilvus."""

    address: str
    secure: bool

    @property
    def uri(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.address}"


def is_server_uri(uri: str) -> bool:
    """``http(s)://``, ``tcp://``, ``grpc://`` or a bare ``host:port``."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    return scheme in ("http", "https", "tcp", "grpc") or bool(_HOST_PORT.match(uri))


def parse_endpoint(uri: str) -> Endpoint:
    scheme, rest = uri.split("://", 1) if "://" in uri else ("tcp", uri)
    netloc = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if not netloc:
        raise ParameterInvalid.msg(f"no host in server URI {uri!r}")
    if ":" not in netloc:
        netloc = f"{netloc}:{DEFAULT_PORT}"
    return Endpoint(netloc, secure=scheme.lower() == "https")


def connect(
    uri: str | os.PathLike[str],
    *,
    db_name: str = DEFAULT_DB,
    settings: Settings | Mapping[str, Any] | None = None,
    token: str | None = None,
) -> Client:
    """Open a data folder in this process, or connect to a server.

    ``settings`` tune an embedded engine (its ``data_dir`` is replaced by the
    path): a :class:`~sluice.config.Settings`, or a mapping shaped like the
    TOML file of ``sluice serve --config`` (``{"object_store": {...}, "meta":
    {...}, "wal": {...}}``), to which ``SLUICE_*`` environment variables apply
    as they do for the server.  A server has its own settings, so passing
    them with a server URI is an error.  ``token`` (``"user:password"`` or an
    API key) is sent to a server; an embedded engine has no authentication
    and ignores it.
    """
    if isinstance(uri, os.PathLike):
        return _embedded(Path(uri), db_name, settings)
    if not isinstance(uri, str) or not uri:
        raise ParameterInvalid.msg(f"connect() needs a path or a server URI, got {uri!r}")
    if uri.lower().startswith("file:"):
        parsed = urlparse(uri)
        return _embedded(Path(unquote(parsed.netloc + parsed.path)), db_name, settings)
    if is_server_uri(uri):
        if settings is not None:
            raise ParameterInvalid.msg("settings configure an embedded engine, not a server")
        from sluice.client.remote import RemoteClient

        return RemoteClient(uri, db_name=db_name, token=token)
    return _embedded(Path(uri), db_name, settings)


def _embedded(path: Path, db_name: str, settings: Settings | Mapping[str, Any] | None) -> Client:
    from sluice.client.embedded import EmbeddedClient

    if settings is not None and not isinstance(settings, Settings):
        try:
            settings = Settings.from_mapping({**settings, "data_dir": path}, environ=os.environ)
        except (ValueError, TypeError) as exc:
            raise ParameterInvalid.msg(f"invalid settings: {exc}") from exc

    return EmbeddedClient(path, db_name=db_name, settings=settings)
