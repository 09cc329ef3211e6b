"""The registry: definition and name validation, verbs, edits, failures that change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from jobd_core import Exists, InvalidArgument, NotFound, Registry, SqliteStore, StorageError
from jobd_core._validate import (
    check_command,
    check_name,
    parse_definition,
    schedule_expression,
    strip_newline,
)

FAR = "0 0 1 1 *"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a:b:c", ("a", "b", "c")),
        (b"a:b:c\n", ("a", "b", "c")),
        (b"a:b:c\r\n", ("a", "b", "c")),
        (b"a:b:c\n\n", ("a", "b", "c\n")),  # only ONE trailing newline is echo's
        (b"a:b:echo x:y:z", ("a", "b", "echo x:y:z")),
        (b"a::", ("a", "", "")),
    ],
)
def test_parse_definition(data: bytes, expected: tuple[str, str, str]) -> None:
    assert parse_definition(data) == expected


@pytest.mark.parametrize("data", [b"", b"\n", b"abc", b"a:b", b"a:b\n"])
def test_parse_definition_needs_three_fields(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="invalid job definition: expected"):
        parse_definition(data)


@pytest.mark.parametrize("name", ["a", "A-Z_a.z-09", "x" * 64, "...", ".hidden", "-"])
def test_good_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a b", "a/b", "x" * 65, "é", "a\0", "a\n", "tab\t", "a:b", "*"]
)
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid job name"):
        check_name(name)


def test_schedule_expression() -> None:
    assert schedule_expression("@daily") == "@daily"
    assert schedule_expression(" @daily \nnext: 2026-01-01 00:00:00 +0000 UTC\n\n") == "@daily"
    with pytest.raises(InvalidArgument):
        schedule_expression("@daily\n@hourly")


def test_strip_newline() -> None:
    assert [strip_newline(t) for t in ("a\n", "a\r\n", "a\n\n", "a", "\r")] == [
        "a", "a", "a\n", "a", "\r"
    ]


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    store = await SqliteStore.open(tmp_path / "db")
    reg = Registry(store, now=lambda: datetime.now(UTC), default_tz=UTC)
    try:
        yield reg
    finally:
        await store.close()


async def test_create_edit_start_stop_delete(registry: Registry) -> None:
    entry = await registry.create("a", FAR, "echo 1")
    assert not entry.job.started
    await registry.set_started(entry, True)
    await registry.set_started(entry, True)
    await registry.set_command(entry, "echo 2")
    await registry.set_schedule(entry, "@hourly\n")
    await registry.sink.flush()
    (record,) = await registry.store.load_jobs()
    assert (record.started, record.command, record.schedule) == (True, "echo 2", "@hourly")
    log = (await registry.read_log(entry)).decode().splitlines()
    assert [line.rsplit(":", 1)[1] for line in log] == ["started"]
    assert "+0000 UTC:" in log[0]
    await registry.ctl(entry, b"STOP\n")
    await registry.ctl(entry, b"delete")
    assert entry.job.deleted
    assert await registry.store.load_jobs() == []
    with pytest.raises(NotFound):
        registry.get("a")
    with pytest.raises(NotFound):
        await registry.ctl(entry, b"start")
    with pytest.raises(NotFound):
        await registry.read_log(entry)


async def test_rejected_input_changes_nothing(registry: Registry) -> None:
    entry = await registry.create("a", FAR, "echo 1")
    with pytest.raises(Exists):
        await registry.create("a", "@daily", "other")
    with pytest.raises(InvalidArgument):
        await registry.set_command(entry, " ")
    with pytest.raises(InvalidArgument):
        await registry.set_schedule(entry, "61 * * * *")
    with pytest.raises(InvalidArgument, match="unknown ctl verb 'restart'"):
        await registry.ctl(entry, b"restart")
    (record,) = await registry.store.load_jobs()
    assert (record.command, record.schedule, record.started) == ("echo 1", FAR, False)
    assert (entry.job.command, entry.job.schedule.expression) == ("echo 1", FAR)


async def test_store_failure_changes_nothing_in_memory(registry: Registry) -> None:
    entry = await registry.create("a", FAR, "echo 1")
    await registry.store.close()
    with pytest.raises(StorageError):
        await registry.create("b", FAR, "true")
    with pytest.raises(StorageError):
        await registry.set_started(entry, True)
    with pytest.raises(StorageError):
        await registry.delete(entry)
    assert [e.job.name for e in registry] == ["a"]
    assert not entry.job.started and not entry.job.deleted


async def test_same_name_created_concurrently_once(registry: Registry) -> None:
    outcomes: list[object] = []

    async def create() -> None:
        try:
            outcomes.append(await registry.create("twin", FAR, "true"))
        except Exists as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(create)
    assert sum(isinstance(o, Exists) for o in outcomes) == 4
    assert len(registry) == 1


async def test_operations_on_one_job_apply_in_order(registry: Registry) -> None:
    entry = await registry.create("busy", FAR, "true")

    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(registry.set_started, entry, i % 2 == 0)
            await trio.sleep(0)
        nursery.start_soon(registry.delete, entry)
    assert entry.job.deleted
    assert await registry.store.load_jobs() == []


async def test_schedules_are_shared(registry: Registry) -> None:
    a = await registry.create("a", "*/5 * * * *", "true")
    b = await registry.create("b", " */5 * * * * ", "true")
    assert a.job.schedule is b.job.schedule


async def test_cancelled_requests_leave_store_and_memory_agreeing(registry: Registry) -> None:
    async def attempt(i: int, scope_box: list[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            scope_box.append(scope)
            await registry.create(f"c{i}", FAR, "true")

    for i in range(20):
        scopes: list[trio.CancelScope] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempt, i, scopes)
            for _ in range(i % 4):
                await trio.sleep(0)
            while not scopes:
                await trio.sleep(0)
            scopes[0].cancel()
    stored = sorted(r.name for r in await registry.store.load_jobs())
    assert stored == sorted(e.job.name for e in registry)


def _validate(data: bytes) -> tuple[str, str, str]:
    """The clone path's checks, in order, without the store."""
    from jobd_core import schedule

    name, expression, command = parse_definition(data)
    check_name(name)
    schedule.parse(expression, default_tz=UTC)
    check_command(command)
    return name, expression, command


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.text(max_size=80).map(str.encode),
        st.tuples(
            st.text(alphabet="ab.-_/ :\n\0é", max_size=10),
            st.sampled_from(["@daily", "*/5 * * * *", "*/0 * * * *", "", "0 0 30 2 *", "x"]),
            st.text(max_size=20),
        ).map(lambda t: ":".join(t).encode()),
    )
)
def test_any_clone_message_is_a_job_or_invalid_argument(data: bytes) -> None:
    try:
        name, _, command = _validate(data)
    except InvalidArgument:
        return
    assert 1 <= len(name.encode()) <= 64 and name not in (".", "..")
    assert "/" not in name and "\0" not in name and command.strip()
