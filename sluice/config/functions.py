"""``[functions]``: where TEXT_EMBEDDING functions reach their embedding service.

Milvus reads provider URLs and API keys from ``milvus.yaml``
(``function.textEmbedding.providers.openai``) and credentials by name from
its ``credential`` section; Sluice reads the same from here.  A function's
own ``url``/``api_key``/``credential`` params win over these settings, and
the ``MILVUS_OPENAI_API_KEY`` environment variable is the last resort, as
in Milvus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from sluice.config.checks import ConfigError, check_fields, limits


@dataclass(frozen=True)
class FunctionSettings:
    """Embedding providers.  Each insert into a collection with an embedding function calls
    the provider once per 128 rows (and each text query once), so its latency adds to
    insert and search latency."""

    SECTION: ClassVar[str] = "functions"

    #: The OpenAI-compatible embeddings endpoint (``.../v1/embeddings``).
    openai_url: str = "https://api.openai.com/v1/embeddings"
    #: API key for the openai provider when a function names none.
    openai_api_key: str = ""
    #: Named API keys a function's ``credential`` param can refer to, as ``"name:key"``.
    credentials: tuple[str, ...] = ()
    #: Seconds to wait for one call to the provider.
    timeout_seconds: float = field(default=30.0, metadata=limits(above=0))

    def __post_init__(self) -> None:
        check_fields(self)
        for entry in self.credentials:
            if ":" not in entry or not entry.split(":", 1)[0]:
                raise ConfigError(
                    f'setting functions.credentials entry {entry!r} must be "name:api key"'
                )

    def credential(self, name: str) -> str | None:
        for entry in self.credentials:
            key, _, value = entry.partition(":")
            if key == name:
                return value
        return None
