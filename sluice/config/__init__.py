"""Settings for an engine and its server, with Milvus's defaults where Milvus has one.

Every knob is a field of a frozen dataclass so a running engine cannot be
reconfigured behind its back.  ``Settings.from_toml`` reads the same names
from a TOML file (``sluice serve --config sluice.toml``); see
``docs/configuration.md`` for what each one costs.  Every key of a section
can also come from the environment as ``SLUICE_<SECTION>_<KEY>``, which wins
over the file.

Settings are checked when they are made (:mod:`sluice.config.checks`): a value
of the wrong type or out of range, or a key nobody reads, is refused with a
:class:`ConfigError` naming the key.

This package is shared by every layer and imports nothing else of Sluice.
"""

from sluice.config.checks import ConfigError, MiB
from sluice.config.functions import FunctionSettings
from sluice.config.remote import MetaSettings, ObjectStoreSettings, WalSettings
from sluice.config.sections import (
    CompactionSettings,
    FlushSettings,
    GrpcSettings,
    HttpSettings,
    MmapSettings,
    QuotaSettings,
    SecuritySettings,
    SegmentSettings,
    TlsMode,
    WalRecovery,
    WalSync,
)
from sluice.config.settings import Settings

__all__ = [
    "CompactionSettings",
    "ConfigError",
    "FlushSettings",
    "FunctionSettings",
    "GrpcSettings",
    "HttpSettings",
    "MetaSettings",
    "MiB",
    "MmapSettings",
    "ObjectStoreSettings",
    "QuotaSettings",
    "SecuritySettings",
    "SegmentSettings",
    "Settings",
    "TlsMode",
    "WalRecovery",
    "WalSettings",
    "WalSync",
]
