"""Per-job settings: parsing, rendering and storage (pure), and as ctl messages through the core
(validated, persisted across a restart, shown in ``status``, nothing changed on an error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from jobd_core import CoreConfig, InvalidArgument, JobSettings, OpenMode, open_core
from jobd_core._settings import (
    apply_setting,
    format_duration,
    format_size,
    from_json,
    parse_duration,
    parse_size,
    render,
    to_json,
)
from jobd_core._validate import split_ctl

W = OpenMode(read=False, write=True)
R = OpenMode()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("30", 30),
     ("0", 0), ("1500MS", 1.5), ("3H", 10800)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "timeout") == seconds


@pytest.mark.parametrize("text", ["", "s", "-1s", "1.5s", "1w", "5 m", "1e3", "٣s", "367d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^timeout: "):
        parse_duration(text, "timeout")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "500ms"), (30, "30s"), (90, "90s"), (300, "5m"), (7200, "2h"), (86400, "1d"),
     (0, "0s"), (1.25, "1250ms"), (3660, "61m")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [("512", 512), ("64k", 65536), ("64K", 65536), ("1m", 1048576), ("0", 0), ("3M", 3 << 20)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text, "output") == size
    assert parse_size(format_size(size), "output") == size


@pytest.mark.parametrize("text", ["", "k", "1g", "1.5m", "-1", "64 k", "64kb"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^output: invalid size"):
        parse_size(text, "output")


@pytest.mark.parametrize(
    ("message", "verb", "args"),
    [("timeout 30s", "timeout", "30s"), ("TIMEOUT 30s\n", "timeout", "30s"),
     ("  start \r\n", "start", ""), ("env A=x  y \n", "env", "A=x  y "), ("stop", "stop", ""),
     ("dir\t/tmp/a b", "dir", "/tmp/a b"), ("", "", "")],
)  # fmt: skip
def test_split_ctl(message: str, verb: str, args: str) -> None:
    assert split_ctl(message) == (verb, args)


def apply_all(*messages: str, settings: JobSettings | None = None) -> JobSettings:
    s = settings or JobSettings()
    for message in messages:
        verb, args = split_ctl(message)
        s = apply_setting(s, verb, args)
    return s


def test_each_setting_applies() -> None:
    s = apply_all(
        "timeout 30s", "grace 2s", "overlap REPLACE", "catchup latest", "jitter 10s",
        "retries 3 backoff 500ms", "env B=two words", "env A=1", "env A=one=1", "dir /srv/a b",
        "output 1k", "history 1m",
    )
    assert s == JobSettings(
        catchup="latest", output_limit=1024, kill_grace=2.0, timeout=30.0, overlap="replace",
        jitter=10.0, retries=3, backoff=0.5, env=(("A", "one=1"), ("B", "two words")),
        workdir="/srv/a b", history=1 << 20,
    )
    s = apply_all("timeout off", "jitter 0", "retries 0", "unenv A", "unenv NEVER", "dir -",
                  settings=s)  # fmt: skip
    assert (s.timeout, s.jitter, s.retries, s.backoff) == (0.0, 0.0, 0, 0.5)
    assert s.env == (("B", "two words"),) and s.workdir is None


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("timeout", "timeout: usage: timeout DURATION|off"),
        ("timeout 30s 40s", "timeout: usage"),
        ("timeout soon", "timeout: invalid duration 'soon'"),
        ("timeout 0ms", "timeout: must be positive"),
        ("grace 2h", "grace: at most 1h"),
        ("overlap sometimes", "overlap: invalid value 'sometimes' (expected skip or allow or"),
        ("catchup all", "catchup: invalid value 'all' (expected off or latest)"),
        ("jitter 2d", "jitter: at most 1d"),
        ("retries", "retries: usage: retries N [backoff DURATION]"),
        ("retries -1", "retries: invalid count '-1'"),
        ("retries 101", "retries: at most 100"),
        ("retries 3 5s", "retries: usage"),
        ("retries 3 backoff", "retries: usage"),
        ("retries 3 backoff x", "retries: backoff: invalid duration 'x'"),
        ("env", "env: usage: env NAME=value"),
        ("env NAME", "env: usage: env NAME=value"),
        ("env 1A=x", "env: invalid variable name '1A'"),
        ("env A-B=x", "env: invalid variable name 'A-B'"),
        ("env =x", "env: invalid variable name ''"),
        ("env JOBD_JOB=x", "env: JOBD_JOB is reserved"),
        ("env A=" + "x" * 4097, "env: the value of A is longer than 4096 bytes"),
        ("env A=x\ry", "env: the value of A must be one line"),
        ("unenv", "unenv: usage: unenv NAME"),
        ("unenv A=1", "unenv: invalid variable name 'A=1'"),
        ("dir tmp", "dir: 'tmp' is not an absolute path"),
        ("output 65m", "output: at most 64m"),
        ("output lots", "output: invalid size 'lots'"),
        ("history 257m", "history: at most 256m"),
    ],
)
def test_invalid_arguments(message: str, error: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        apply_all(message)
    assert raised.value.message.startswith(error), raised.value.message


def test_env_is_bounded() -> None:
    s = apply_all(*[f"env V{i}=x" for i in range(64)])
    with pytest.raises(InvalidArgument, match="at most 64 variables"):
        apply_all("env V64=x", settings=s)
    assert apply_all("env V0=y", settings=s).env[0] == ("V0", "y")  # replacing is fine


def test_status_lines_read_back_as_ctl_messages() -> None:
    s = apply_all("timeout 90s", "overlap allow", "jitter 1500ms", "retries 2 backoff 1m",
                  "env PATH=/bin:/usr/bin", "env GREETING=hello  world", "dir /var/tmp",
                  "output 512", "history 64k")  # fmt: skip
    lines = render(s, history_default=1 << 20)
    assert lines == [
        ("timeout", "90s"), ("grace", "5s"), ("overlap", "allow"), ("catchup", "off"),
        ("jitter", "1500ms"), ("retries", "2 backoff 1m"), ("dir", "/var/tmp"),
        ("output", "512"), ("history", "64k"), ("env.GREETING", "hello  world"),
        ("env.PATH", "/bin:/usr/bin"),
    ]  # fmt: skip
    messages = [
        f"env {key[4:]}={value}" if key.startswith("env.") else f"{key} {value}"
        for key, value in lines
    ]
    assert apply_all(*messages) == s
    assert dict(render(JobSettings(), history_default=1 << 20))["history"] == "1m"


def test_json_round_trip_and_tolerance() -> None:
    s = apply_all("timeout 500ms", "env A=1 2", "dir /x", "history 1k", "overlap allow")
    assert from_json(to_json(s)) == s
    assert from_json(to_json(JobSettings())) == JobSettings()
    # written by an older jobd (fewer keys), a newer one (unknown keys), or damaged values
    assert from_json('{"catchup": "latest", "kill_grace": 2}') == JobSettings(
        catchup="latest", kill_grace=2.0
    )
    assert from_json(json.dumps({"future": 1, "timeout": 3})) == JobSettings(timeout=3.0)
    assert from_json('{"timeout": "x", "retries": true, "env": 5}') == JobSettings()
    assert from_json("[]") == JobSettings()


@given(st.text(max_size=60))
def test_any_message_applies_or_is_invalid(message: str) -> None:
    _verb, args = split_ctl(message)
    for name in ("timeout", "env", "dir", "retries", "output", "jitter", "overlap"):
        try:
            result = apply_setting(JobSettings(), name, args)
        except InvalidArgument as exc:
            assert exc.message.startswith(name)
        else:
            assert isinstance(result, JobSettings)
            assert from_json(to_json(result)) == result


# -- through the core ---------------------------------------------------------------------------


async def ctl(core: object, name: str, message: bytes) -> None:
    node = core.namespace.root.lookup("jobs").lookup(name).lookup("ctl")  # type: ignore[attr-defined]
    handle = await node.open(W)
    await handle.write(0, message)


async def status(core: object, name: str) -> dict[str, str]:
    node = core.namespace.root.lookup("jobs").lookup(name).lookup("status")  # type: ignore[attr-defined]
    text = (await (await node.open(R)).read(0, 1 << 16)).decode()
    assert all(": " in line for line in text.splitlines())
    pairs = [line.split(": ", 1) for line in text.splitlines()]
    assert len({key for key, _ in pairs}) == len(pairs)  # every key once
    return dict((key, value) for key, value in pairs)


async def test_settings_persist_show_and_reject(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path, log_limit=4096)) as core:
        clone = await core.namespace.root.lookup("clone").open(W)
        await clone.write(0, b"job:0 0 1 1 *:true")
        for message in (
            b"timeout 30s\n", b"Overlap allow", b"env GREETING=hello world\n",
            b"retries 2 backoff 1s", b"dir /tmp", b"output 1k", b"jitter 5s",
        ):
            await ctl(core, "job", message)
        before = await status(core, "job")
        version = core.namespace.root.lookup("jobs").lookup("job").lookup("status").stat().version
        for bad in (b"timeout forever", b"env 9=x", b"dir relative", b"retries 1 backoff"):
            with pytest.raises(InvalidArgument):
                await ctl(core, "job", bad)
        with pytest.raises(InvalidArgument, match=r"unknown ctl verb 'frobnicate'; .*timeout"):
            await ctl(core, "job", b"frobnicate 1")
        with pytest.raises(InvalidArgument, match="start: takes no arguments"):
            await ctl(core, "job", b"start now")
        assert await status(core, "job") == before
        stat = core.namespace.root.lookup("jobs").lookup("job").lookup("status").stat()
        assert stat.version == version
        await ctl(core, "job", b"timeout 30s")  # the same value: no change
        assert core.namespace.root.lookup("jobs").lookup("job").lookup("status").stat().version \
            == version  # fmt: skip
    assert before["timeout"] == "30s" and before["overlap"] == "allow"
    assert before["env.GREETING"] == "hello world" and before["dir"] == "/tmp"
    assert before["retries"] == "2 backoff 1s" and before["history"] == "4k"
    assert before["state"] == "stopped"
    async with open_core(CoreConfig(dbdir=tmp_path, log_limit=4096)) as core:
        assert await status(core, "job") == before
        await ctl(core, "job", b"unenv GREETING")
        assert "env.GREETING" not in await status(core, "job")


async def test_history_trims_at_once_and_bounds_later_appends(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path)) as core:
        clone = await core.namespace.root.lookup("clone").open(W)
        await clone.write(0, b"job:0 0 1 1 *:true")
        entry = core.registry.get("job")
        lines = [
            core.registry.entry_line(i * 1000, f"line {i:04d} " + "x" * 80) for i in range(200)
        ]
        core.registry.sink.append(entry.job, lines)
        await core.registry.sink.flush()
        log_node = core.namespace.root.lookup("jobs").lookup("job").lookup("log")
        end = log_node.stat().size
        assert end > 16 * 1024 and entry.log_bytes == end
        await ctl(core, "job", b"history 1k")
        kept = entry.log_bytes
        assert 0 < kept <= 1024
        assert log_node.stat().size == end  # the stream's end stays (_store rule 4)
        content = await (await log_node.open(R)).read(0, 1 << 20)
        assert len(content) == kept and content.endswith(b"x" * 80 + b"\n")
        assert b"line 0199" in content and b"line 0100" not in content
        core.registry.sink.append(entry.job, lines[:50])
        await core.registry.sink.flush()
        assert entry.log_bytes <= 1024
        await ctl(core, "job", b"history 1m")  # growing the bound keeps what is there
        assert 0 < entry.log_bytes <= 1024
    async with open_core(CoreConfig(dbdir=tmp_path)) as core:
        assert core.registry.get("job").job.settings.history == 1 << 20


async def test_settings_do_not_block_behind_a_running_job(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path, shutdown_grace=0.5)) as core:
        clone = await core.namespace.root.lookup("clone").open(W)
        await clone.write(0, b"job:0 0 1 1 *:trap '' TERM; sleep 100")
        await ctl(core, "job", b"run")
        with trio.fail_after(10):
            while core.registry.get("job").job.runtime.running_pid is None:
                await trio.sleep(0.01)
        with trio.fail_after(1):
            for message in (b"timeout 1m", b"env A=b", b"overlap replace", b"history 2k"):
                await ctl(core, "job", message)
