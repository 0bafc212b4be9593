"""Read index and search parameters the way Milvus and knowhere do, with their words.

Clients send parameters in two forms and the errors differ by form, so the
conversion keeps knowhere's rules exactly (``src/common/config.cc`` and
``include/knowhere/config.h`` in zilliztech/knowhere):

* A string value (every flat key pymilvus sends, and every build parameter,
  because Milvus's ``funcutil.JSONToMap`` turns JSON values into strings with
  Go's ``%v``) is parsed like ``std::stoll``: optional leading blanks and sign,
  then digits, and nothing after them.  ``"16"`` is 16; ``"16.0"`` is
  ``wrong data type in json``; ``"abc"`` and ``"True"`` are
  ``invalid integer value``.
* A typed JSON value (search ``params``) must be a JSON integer, otherwise
  ``Type conflict in json: param 'ef' (32.0) should be integer``.

Then the range check: ``Out of range in json: param 'M' (3000) should be in
range [2, 2048]``.  Failures raise :class:`ParamText`, a plain ``ValueError``
holding knowhere's sentence; callers wrap it into the error class and Milvus
code that fits where the parameter came from.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

INT32_MAX: Final = 2**31 - 1
INT32_MIN: Final = -(2**31)
_INT64_MAX: Final = 2**63 - 1
_STOLL_PREFIX: Final = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")


class ParamText(ValueError):
    """A parameter failed a knowhere check; ``str(self)`` is knowhere's message."""


def json_text(value: Any) -> str:
    """How nlohmann::json prints a value inside knowhere's messages."""
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def go_text(value: Any) -> str:
    """How Go's ``fmt.Sprintf("%v", v)`` prints a decoded JSON value.

    Milvus stores every build parameter as a string made this way, so the
    same spelling decides whether ``{"M": 16.0}`` parses (it prints as ``16``).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    if isinstance(value, dict):
        body = " ".join(f"{k}:{go_text(v)}" for k, v in sorted(value.items()))
        return f"map[{body}]"
    if value is None:
        return "<nil>"
    return str(value)


def int_from_text(key: str, text: str) -> int:
    """knowhere's ``FormatAndCheck`` for an integer parameter given as a string."""
    match = _STOLL_PREFIX.match(text)
    if match is None:
        raise ParamText(f"invalid integer value, key: '{key}', value: '{text}'")
    number = int(match.group(0))
    if number > _INT64_MAX or number < -_INT64_MAX - 1:
        raise ParamText(f"integer value out of range, key: '{key}', value: '{text}'")
    if match.end() < len(text):
        raise ParamText(f"wrong data type in json, key: '{key}', value: '{text}'")
    if number > INT32_MAX or number < INT32_MIN:
        raise ParamText(f"integer value out of range, key: '{key}', value: '{text}'")
    return number


def int_param(key: str, value: Any, low: int, high: int) -> int:
    """An integer parameter from a string or a typed JSON value, range-checked.

    ``[low, high]`` is inclusive, as in knowhere's ``set_range``.
    """
    if isinstance(value, str):
        number = int_from_text(key, value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
        if number > INT32_MAX:
            raise ParamText(
                f"Arithmetic overflow: param '{key}' ({number}) should not bigger than {INT32_MAX}"
            )
    else:
        raise ParamText(
            f"Type conflict in json: param '{key}' ({json_text(value)}) should be integer"
        )
    if not low <= number <= high:
        raise ParamText(
            f"Out of range in json: param '{key}' ({number}) should be in range [{low}, {high}]"
        )
    return number


def float_param(key: str, value: Any, low: float, high: float) -> float:
    """A float parameter from a string or a typed JSON number, range-checked like knowhere."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError as err:
            raise ParamText(f"invalid float value, key: '{key}', value: '{value}'") from err
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ParamText(
            f"Type conflict in json: param '{key}' ({json_text(value)}) should be a number"
        )
    if not low <= number <= high:
        raise ParamText(
            f"Out of range in json: param '{key}' ({json_text(value)}) should be in range "
            f"[{low:f}, {high:f}]"
        )
    return number


def bool_param(key: str, value: Any) -> bool:
    """knowhere's boolean parameter: ``true``/``false`` in any case, else a type conflict.

    Milvus hands every build parameter over as text, so ``1`` arrives as
    ``"1"`` and is refused as ``("1")``, the way knowhere prints it.
    """
    if isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else go_text(value)
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ParamText(f"Type conflict in json: param '{key}' ({json_text(text)}) should be a boolean")


def float_range_param(key: str, value: Any, low: float, high: float, *, high_open: bool) -> float:
    """A float parameter range-checked like knowhere, optionally with an open upper bound.

    The message prints the bounds with ``%f`` and ``)`` for an open end:
    ``Out of range in json: param 'drop_ratio_search' (1.0) should be in range
    [0.000000, 1.000000)``.
    """
    if not high_open:
        return float_param(key, value, low, high)
    number = float_param(key, value, low, float("inf"))
    if number >= high:
        raise ParamText(
            f"Out of range in json: param '{key}' ({json_text(value)}) should be in range "
            f"[{low:f}, {high:f})"
        )
    return number
