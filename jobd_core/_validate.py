"""Validation of what clients write: job names, clone messages, commands, schedule file text.

Rules this module keeps:
1. Pure functions of their input: no state, no I/O; each rejection is an ``InvalidArgument`` whose
   message names the problem and the offending value.
2. One trailing newline (``\n`` or ``\r\n``, what ``echo`` adds) is never part of a value.
"""

from __future__ import annotations

import re

from ._errors import InvalidArgument

MAX_NAME_BYTES = 64
_NAME = re.compile(r"[A-Za-z0-9_.\-]+", re.ASCII)
_NEXT_LINE = re.compile(r"next:.*")
VERBS = ("start", "stop", "run", "kill", "delete")


def strip_newline(text: str) -> str:
    """``text`` without ONE trailing ``\\n`` or ``\\r\\n`` (what ``echo`` adds)."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def split_ctl(text: str) -> tuple[str, str]:
    """A ctl message's verb (lower-case) and arguments: one trailing newline dropped, leading
    blanks skipped, the verb ends at the first space or tab; the arguments are everything after
    that one separator, verbatim (``env NAME=a value with  spaces``)."""
    text = strip_newline(text).lstrip(" \t\r\n")
    for i, char in enumerate(text):
        if char in " \t":
            return text[:i].lower(), text[i + 1 :]
    return text.rstrip().lower(), ""


def decode(data: bytes, what: str) -> str:
    """UTF-8 text of a client's write.

    Raises:
        InvalidArgument: not UTF-8, or holds a NUL byte.
    """
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise InvalidArgument(f"invalid {what}: not UTF-8 text") from None
    if "\0" in text:
        raise InvalidArgument(f"invalid {what}: contains a NUL byte")
    return text


def check_name(name: str) -> None:
    """Raises:
    InvalidArgument: ``name`` is not 1..64 bytes of letters, digits, ``_ - .``, or is ``.``/``..``.
    """
    if not name:
        raise InvalidArgument("invalid job name '': empty")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidArgument(f"invalid job name '{name[:80]}': longer than {MAX_NAME_BYTES} bytes")
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid job name {name!r}: only letters, digits, '_', '-' and '.' are allowed"
        )
    if name in (".", ".."):
        raise InvalidArgument(f"invalid job name '{name}': reserved")


def check_command(command: str) -> None:
    """Raises:
    InvalidArgument: the command is empty (or blank) or holds a NUL byte.
    """
    if not command.strip():
        raise InvalidArgument("invalid command: empty")
    if "\0" in command:
        raise InvalidArgument("invalid command: contains a NUL byte")


def parse_definition(data: bytes) -> tuple[str, str, str]:
    """Split a clone message ``name:schedule:command`` (one trailing newline ignored; the command
    may contain ':').

    Raises:
        InvalidArgument: not three fields, or not text.
    """
    text = strip_newline(decode(data, "job definition"))
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise InvalidArgument("invalid job definition: expected name:schedule:command")
    return parts[0], parts[1], parts[2]


def schedule_expression(text: str) -> str:
    """The expression of a ``schedule`` file write: the first line; a ``next: ...`` line (as read
    back from the file) and blank lines may follow and are ignored.

    Raises:
        InvalidArgument: anything else follows the first line.
    """
    first, _, rest = text.partition("\n")
    for line in rest.split("\n"):
        line = line.strip()
        if line and not _NEXT_LINE.fullmatch(line):
            raise InvalidArgument(
                "invalid schedule: one expression per write (only a 'next:' line may follow)"
            )
    return first.strip()
