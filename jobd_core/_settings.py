"""Per-job settings, Plan 9 style: ctl messages with arguments, shown back in ``status``.

Rules this module keeps:
1. Pure functions: ``apply_setting`` takes the current ``JobSettings`` and one ctl message and
   returns the new value, or raises ``InvalidArgument`` naming the verb and the bad argument;
   the caller persists the result, so a rejected message changes nothing.
2. Every status line ``key: value`` of ``render`` is also a valid ctl message ``key value``
   (``env.NAME: value`` reads back as ``env NAME=value``): what status shows can be written back.
3. Durations are ``500ms``, ``30s``, ``5m``, ``2h``, ``1d`` (a bare number is seconds); sizes are
   ``512`` (bytes), ``64k`` (KiB), ``1m`` (MiB). Units are case-insensitive.
4. The stored form (``to_json``/``from_json``) tolerates missing and unknown keys, so a database
   written by an older or newer jobd still loads (with defaults for what it lacks).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from ._errors import InvalidArgument
from ._model import JobSettings

__all__ = [
    "SETTING_VERBS",
    "apply_setting",
    "format_duration",
    "format_size",
    "from_json",
    "parse_duration",
    "parse_size",
    "render",
    "to_json",
]

log = logging.getLogger(__name__)

MAX_DURATION = 366 * 86400.0  # seconds: timeouts, jitter, backoff, grace all stay below a year
MAX_GRACE = 3600.0
MAX_JITTER = 86400.0
MAX_RETRIES = 100
MAX_OUTPUT = 64 * 1024 * 1024
MAX_HISTORY = 256 * 1024 * 1024
MAX_ENV = 64  # variables per job
MAX_ENV_NAME = 255
MAX_ENV_VALUE = 4096
MAX_DIR = 4096

_DURATION = re.compile(r"(\d{1,12})(ms|s|m|h|d)?", re.ASCII | re.IGNORECASE)
_SIZE = re.compile(r"(\d{1,15})([km])?", re.ASCII | re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_OFF = ("off", "0", "none")


# -- units -------------------------------------------------------------------------------------


def parse_duration(text: str, what: str) -> float:
    """Seconds of ``500ms``, ``30s``, ``5m``, ``2h``, ``1d`` or ``30`` (seconds).

    Raises:
        InvalidArgument: not a duration, or longer than a year.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise InvalidArgument(
            f"{what}: invalid duration {text[:40]!r} (expected e.g. 500ms, 30s, 5m, 2h, 1d)"
        )
    unit = match.group(2)
    seconds = int(match.group(1)) * _UNIT_S[unit.lower() if unit else None]
    if seconds > MAX_DURATION:
        raise InvalidArgument(f"{what}: {text} is longer than 366d")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: ``500ms``, ``30s``, ``5m``, ``2h``, ``1d``, ``90s``."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def parse_size(text: str, what: str) -> int:
    """Bytes of ``512``, ``64k`` (KiB) or ``1m`` (MiB).

    Raises:
        InvalidArgument: not a size.
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidArgument(f"{what}: invalid size {text[:40]!r} (expected e.g. 512, 64k, 1m)")
    unit = (match.group(2) or "").lower()
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit]


def format_size(size: int) -> str:
    """``1m``, ``64k`` or bytes, whichever is exact."""
    if size and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)}m"
    if size and size % 1024 == 0:
        return f"{size // 1024}k"
    return str(size)


# -- the verbs ---------------------------------------------------------------------------------


def _words(verb: str, args: str, usage: str, lo: int, hi: int) -> list[str]:
    words = args.split()
    if not lo <= len(words) <= hi:
        raise InvalidArgument(f"{verb}: usage: {verb} {usage}")
    return words


def _bounded(verb: str, seconds: float, limit: float) -> float:
    if seconds > limit:
        raise InvalidArgument(f"{verb}: at most {format_duration(limit)}")
    return seconds


def _timeout(s: JobSettings, args: str) -> JobSettings:
    (word,) = _words("timeout", args, "DURATION|off", 1, 1)
    if word.lower() in _OFF:
        return replace(s, timeout=0.0)
    seconds = parse_duration(word, "timeout")
    if seconds <= 0:
        raise InvalidArgument("timeout: must be positive (or off)")
    return replace(s, timeout=seconds)


def _grace(s: JobSettings, args: str) -> JobSettings:
    (word,) = _words("grace", args, "DURATION", 1, 1)
    return replace(s, kill_grace=_bounded("grace", parse_duration(word, "grace"), MAX_GRACE))


def _choice(verb: str, field: str, choices: tuple[str, ...]) -> Callable[..., JobSettings]:
    def apply(s: JobSettings, args: str) -> JobSettings:
        (word,) = _words(verb, args, "|".join(choices), 1, 1)
        if word.lower() not in choices:
            raise InvalidArgument(
                f"{verb}: invalid value {word[:40]!r} (expected {' or '.join(choices)})"
            )
        changes: dict[str, Any] = {field: word.lower()}
        return replace(s, **changes)

    return apply


def _jitter(s: JobSettings, args: str) -> JobSettings:
    (word,) = _words("jitter", args, "DURATION|off", 1, 1)
    if word.lower() in _OFF:
        return replace(s, jitter=0.0)
    return replace(s, jitter=_bounded("jitter", parse_duration(word, "jitter"), MAX_JITTER))


def _retries(s: JobSettings, args: str) -> JobSettings:
    words = _words("retries", args, "N [backoff DURATION]", 1, 3)
    if not words[0].isascii() or not words[0].isdigit() or len(words[0]) > 4:
        raise InvalidArgument(f"retries: invalid count {words[0][:40]!r} (expected 0..100)")
    count = int(words[0])
    if count > MAX_RETRIES:
        raise InvalidArgument(f"retries: at most {MAX_RETRIES}")
    backoff = s.backoff
    if len(words) > 1:
        if len(words) != 3 or words[1].lower() != "backoff":
            raise InvalidArgument("retries: usage: retries N [backoff DURATION]")
        backoff = parse_duration(words[2], "retries: backoff")
    return replace(s, retries=count, backoff=backoff)


def _env(s: JobSettings, args: str) -> JobSettings:
    name, eq, value = args.lstrip(" \t").partition("=")
    if not eq:
        raise InvalidArgument("env: usage: env NAME=value")
    _check_env_name("env", name)
    if "\n" in value or "\r" in value:
        raise InvalidArgument(f"env: the value of {name} must be one line")
    if len(value.encode()) > MAX_ENV_VALUE:
        raise InvalidArgument(f"env: the value of {name} is longer than {MAX_ENV_VALUE} bytes")
    env = dict(s.env)
    env[name] = value
    if len(env) > MAX_ENV:
        raise InvalidArgument(f"env: at most {MAX_ENV} variables per job")
    return replace(s, env=tuple(sorted(env.items())))


def _unenv(s: JobSettings, args: str) -> JobSettings:
    (name,) = _words("unenv", args, "NAME", 1, 1)
    _check_env_name("unenv", name)
    return replace(s, env=tuple(item for item in s.env if item[0] != name))


def _check_env_name(verb: str, name: str) -> None:
    if not _ENV_NAME.fullmatch(name) or len(name) > MAX_ENV_NAME:
        raise InvalidArgument(
            f"{verb}: invalid variable name {name[:40]!r}"
            " (letters, digits and '_', not starting with a digit)"
        )
    if name.upper().startswith("JOBD_"):
        raise InvalidArgument(f"{verb}: {name} is reserved (jobd sets JOBD_* for each run)")


def _dir(s: JobSettings, args: str) -> JobSettings:
    args = args.lstrip(" \t")
    if args.strip() in ("", "-"):
        return replace(s, workdir=None)
    if not args.startswith("/"):
        raise InvalidArgument(f"dir: {args[:60]!r} is not an absolute path (or - for jobd's)")
    if "\n" in args or "\r" in args or len(args.encode()) > MAX_DIR:
        raise InvalidArgument("dir: the path must be one line of at most 4096 bytes")
    return replace(s, workdir=args)


def _output(s: JobSettings, args: str) -> JobSettings:
    (word,) = _words("output", args, "SIZE", 1, 1)
    size = parse_size(word, "output")
    if size > MAX_OUTPUT:
        raise InvalidArgument(f"output: at most {format_size(MAX_OUTPUT)}")
    return replace(s, output_limit=size)


def _history(s: JobSettings, args: str) -> JobSettings:
    (word,) = _words("history", args, "SIZE", 1, 1)
    size = parse_size(word, "history")
    if size > MAX_HISTORY:
        raise InvalidArgument(f"history: at most {format_size(MAX_HISTORY)}")
    return replace(s, history=size)


_VERBS: dict[str, Callable[[JobSettings, str], JobSettings]] = {
    "timeout": _timeout,
    "grace": _grace,
    "overlap": _choice("overlap", "overlap", ("skip", "allow", "replace")),
    "catchup": _choice("catchup", "catchup", ("off", "latest")),
    "jitter": _jitter,
    "retries": _retries,
    "env": _env,
    "unenv": _unenv,
    "dir": _dir,
    "output": _output,
    "history": _history,
}

SETTING_VERBS = tuple(_VERBS)


def apply_setting(settings: JobSettings, verb: str, args: str) -> JobSettings:
    """``settings`` changed by the ctl message ``verb args`` (``verb`` lower-case; ``args`` the
    rest of the message after the first space, trailing newline removed).

    Raises:
        InvalidArgument: unknown verb or invalid arguments.
    """
    apply = _VERBS.get(verb)
    if apply is None:
        raise InvalidArgument(f"unknown setting {verb[:40]!r}")
    return apply(settings, args)


def render(settings: JobSettings, *, history_default: int) -> list[tuple[str, str]]:
    """The ``status`` lines of ``settings`` as (key, value); see rule 2."""
    s = settings
    lines = [
        ("timeout", format_duration(s.timeout) if s.timeout else "off"),
        ("grace", format_duration(s.kill_grace)),
        ("overlap", s.overlap),
        ("catchup", s.catchup),
        ("jitter", format_duration(s.jitter) if s.jitter else "off"),
        ("retries", f"{s.retries} backoff {format_duration(s.backoff)}"),
        ("dir", s.workdir or "-"),
        ("output", format_size(s.output_limit)),
        ("history", format_size(history_default if s.history is None else s.history)),
    ]
    lines.extend((f"env.{name}", value) for name, value in s.env)
    return lines


# -- storage -----------------------------------------------------------------------------------


def to_json(settings: JobSettings) -> str:
    """The stored form of ``settings`` (a JSON object)."""
    data = asdict(settings)
    data["env"] = dict(settings.env)
    return json.dumps(data, sort_keys=True)


def from_json(text: str) -> JobSettings:
    """Settings from their stored form; unknown keys are ignored, missing ones take defaults, and
    a value of the wrong type falls back to the default (logged)."""
    raw: Any = json.loads(text)
    if not isinstance(raw, dict):
        log.warning("stored settings are not an object; defaults used")
        return JobSettings()
    defaults = JobSettings()
    values: dict[str, Any] = {}
    for name in JobSettings.__dataclass_fields__:
        if name not in raw:
            continue
        value = raw[name]
        if name == "env" and isinstance(value, dict):
            value = tuple(sorted((str(k), str(v)) for k, v in value.items()))
        if not _same_kind(value, getattr(defaults, name), name):
            log.warning("stored setting %s=%r ignored: wrong type", name, value)
            continue
        values[name] = float(value) if isinstance(getattr(defaults, name), float) else value
    return JobSettings(**values)


def _same_kind(value: object, default: object, name: str) -> bool:
    if name in ("workdir", "history"):
        return value is None or isinstance(value, str if name == "workdir" else int)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, bool | int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))
