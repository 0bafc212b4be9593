"""How settings are checked and read: types, ranges, TOML tables, environment overrides.

Every settings dataclass calls :func:`check_fields` in ``__post_init__``; its
field types and ``limits(...)`` metadata are the whole specification, so a
new section is a new dataclass and nothing more.  Messages name the key
(``setting segments.max_bytes must be at least 1, got 0``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the key.

    A ``ValueError`` rather than a :class:`~sluice.errors.SluiceError`: settings
    are shared by every layer and import nothing of Sluice, and this error only
    ever reaches an operator at start-up, never a client.
    """


def limits(
    *, minimum: float | None = None, above: float | None = None, maximum: float | None = None
) -> dict[str, float | None]:
    """Field metadata: ``minimum`` <= value, ``above`` < value, value <= ``maximum``."""
    return {"minimum": minimum, "above": above, "maximum": maximum}


def check_fields(settings: Any) -> None:
    """Refuse a dataclass of settings whose values have the wrong type or are out of range."""
    hints = typing.get_type_hints(type(settings))
    section = type(settings).SECTION
    for fld in dataclasses.fields(settings):
        key = f"{section}.{fld.name}" if section else fld.name
        value = getattr(settings, fld.name)
        _check_type(key, value, hints[fld.name])
        _check_range(key, value, fld.metadata)


def _check_type(key: str, value: Any, hint: Any) -> None:
    allowed = _alternatives(hint)
    if value is None and type(None) in allowed:
        return
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is bool and isinstance(value, bool):
            return
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"setting {key} must be a finite number, got {value!r}")
            return
        if kind in (str, Path) and isinstance(value, kind):
            return
        if (
            typing.get_origin(kind) is tuple
            and isinstance(value, tuple)
            and all(isinstance(item, str) for item in value)
        ):
            return
        if isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(value, kind):
            return
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and isinstance(value, kind):
            return
    raise ConfigError(f"setting {key} must be {_describe(allowed)}, got {value!r}")


def _check_range(key: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    minimum, above, maximum = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    if minimum is not None and value < minimum:
        raise ConfigError(f"setting {key} must be at least {minimum}, got {value!r}")
    if above is not None and value <= above:
        raise ConfigError(f"setting {key} must be greater than {above}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"setting {key} must be at most {maximum}, got {value!r}")


def _alternatives(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _describe(allowed: tuple[Any, ...]) -> str:
    words = []
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is bool:
            words.append("true or false")
        elif kind is int:
            words.append("an integer")
        elif kind is float:
            words.append("a number")
        elif kind in (str, Path):
            words.append("a string")
        elif typing.get_origin(kind) is tuple:
            words.append("a list of strings")
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            words.append("one of " + ", ".join(repr(m.value) for m in kind))
        elif isinstance(kind, type) and dataclasses.is_dataclass(kind):
            words.append("a table")
    return " or ".join(words)


def from_raw(cls: type[Any], raw: Any, key: str) -> Any:
    """Build settings dataclass ``cls`` from a TOML table, refusing unknown keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"setting {key} must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        names = ", ".join(f"{key}.{u}" if key else u for u in unknown)
        raise ConfigError(f"unknown setting(s): {names}")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in raw
    ]
    if missing:
        name = f"{key}.{missing[0]}" if key else missing[0]
        raise ConfigError(f"setting {name} is required")
    values = {}
    for name, value in raw.items():
        values[name] = _convert(f"{key}.{name}" if key else name, value, hints[name])
    return cls(**values)


def _convert(key: str, value: Any, hint: Any) -> Any:
    """TOML's spelling of a value (a string for an enum or a path, a table) as the field's type."""
    for kind in _alternatives(hint):
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            return value if isinstance(value, kind) else from_raw(kind, value, key)
        if typing.get_origin(kind) is tuple and isinstance(value, list | tuple):
            return tuple(value)
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                choices = ", ".join(repr(m.value) for m in kind)
                raise ConfigError(
                    f"setting {key} must be one of {choices}, got {value!r}"
                ) from None
        if kind is Path and isinstance(value, str):
            return Path(value)
    return value


def _env_name(section: str, key: str) -> str:
    return f"SLUICE_{section.upper()}_{key.upper()}"


def _parse_env(name: str, text: str, hint: Any) -> Any:
    """An environment string as the type a field declares."""
    allowed = _alternatives(hint)
    stripped = text.strip()
    if any(typing.get_origin(kind) is tuple for kind in allowed):
        return tuple(item.strip() for item in stripped.split(",") if item.strip())
    if type(None) in allowed and stripped.lower() in ("", "auto", "none"):
        return None
    if bool in allowed:
        lowered = stripped.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{name}: {text!r} is not true or false")
    if int in allowed or float in allowed:
        try:
            return int(stripped) if int in allowed else float(stripped)
        except ValueError:
            try:
                return float(stripped)
            except ValueError:
                raise ConfigError(f"{name}: {text!r} is not a number") from None
    return text


def with_environment(
    cls: type[Any], values: dict[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    """``values`` with every ``SLUICE_<SECTION>_<KEY>`` of ``cls``'s sections applied."""
    hints = typing.get_type_hints(cls)
    out = dict(values)
    for fld in dataclasses.fields(cls):
        kinds = [
            k
            for k in _alternatives(hints[fld.name])
            if isinstance(k, type) and dataclasses.is_dataclass(k)
        ]
        if not kinds:
            continue
        kind = kinds[0]
        section: str = kind.SECTION  # type: ignore[attr-defined]
        table = out.get(fld.name) or {}
        if dataclasses.is_dataclass(table) and not isinstance(table, type):
            table = dataclasses.asdict(table)
        if not isinstance(table, dict):
            continue  # refused with its key by the table check
        table = dict(table)
        section_hints = typing.get_type_hints(kind)
        for item in dataclasses.fields(kind):
            name = _env_name(section, item.name)
            if name in environ:
                table[item.name] = _parse_env(name, environ[name], section_hints[item.name])
        if table:
            out[fld.name] = table
    return out
