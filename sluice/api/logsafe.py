"""Writing untrusted text to the server log without letting it forge log lines.

Collection names, filter expressions and error messages come from clients.
Written raw, a newline in one of them ends the real log line and starts one
the client wrote (``...\\n2026-01-01 ERROR sluice: forged``).  Every control
character is therefore written as an escape (``\\n``, ``\\x1b``...), both in the
messages the API logs and, as a second guard, in every record the server's log
formatter prints.  Tracebacks, which Sluice itself produces, keep their lines.
"""

from __future__ import annotations

import logging
import re

#: C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(text: str) -> str:
    """``text`` with every control character escaped, so it stays on one log line."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class EscapingFormatter(logging.Formatter):
    """A formatter whose messages can never span lines (tracebacks excepted)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.message)
        return super().formatMessage(record)
