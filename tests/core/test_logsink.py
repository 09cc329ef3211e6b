"""The log sink with the real store: what a read returns is committed (rule 3 of _logsink)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from jobd_core import CoreConfig, LogBatch, OpenMode, open_core

W = OpenMode(read=False, write=True)


async def test_a_read_shows_no_line_appended_while_it_commits(
    tmp_path: Path, mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mock time stands still: the flusher never runs, only the read commits. A line appended
    # while the read's commit is in progress is not committed by it, so the read must not
    # show it (a client that saw it would lose it in a crash: the kill -9 test found this).
    async with open_core(CoreConfig(dbdir=tmp_path)) as core:
        clone = await core.namespace.root.lookup("clone").open(W)
        await clone.write(0, b"quiet:0 0 1 1 *:true")
        entry = core.registry.get("quiet")
        committing, release = trio.Event(), trio.Event()
        append_log = core.store.append_log

        async def held_append(batch: LogBatch) -> dict[int, int]:
            committing.set()
            await release.wait()
            return await append_log(batch)

        monkeypatch.setattr(core.store, "append_log", held_append)
        core.registry.sink.append(entry.job, ["one"])
        seen: list[bytes] = []

        async def read() -> None:
            seen.append(await core.registry.read_log(entry))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await committing.wait()
            core.registry.sink.append(entry.job, ["two"])
            release.set()
        assert seen == [b"one\n"]
        assert await core.store.read_log(entry.job.id) == ["one"]
        assert await core.registry.read_log(entry) == b"one\ntwo\n"  # committed by this read
        assert await core.store.read_log(entry.job.id) == ["one", "two"]


async def _log_of(core: object, name: str) -> tuple[object, object]:
    from jobd_core import Core

    assert isinstance(core, Core)
    clone = await core.namespace.root.lookup("clone").open(W)
    await clone.write(0, f"{name}:0 0 1 1 *:true".encode())
    return core.registry.get(name), core.namespace.root.lookup("jobs").lookup(name).lookup("log")


async def test_a_follower_neither_skips_nor_repeats_while_old_lines_are_trimmed(
    tmp_path: Path,
) -> None:
    # tail -f on a full log: its offset keeps meaning the same line while the bound trims the
    # oldest lines away at the front (the offset of a snapshot of the retained part would not).
    async with open_core(CoreConfig(dbdir=tmp_path, log_limit=40)) as core:
        entry, log = await _log_of(core, "tail")
        sink = core.registry.sink
        sink.append(entry.job, [f"line{i}" for i in range(6)])  # 6 bytes each: 36
        reader = await log.open(OpenMode())
        seen = await reader.read(0, 1000)
        assert seen == b"".join(f"line{i}\n".encode() for i in range(6))
        for i in range(6, 30):
            sink.append(entry.job, [f"line{i}"])
            if i % 5 == 0:
                await sink.flush()  # the bound drops the oldest lines at the front
            seen += await reader.read(len(seen), 1000)
        assert seen.decode().split() == [f"line{i}" for i in range(30)]
        # the size is the stream's end: it never shrank, so a size-watching follower kept up
        assert log.stat().size == len(seen) == entry.log_end
        fresh = await log.open(OpenMode())
        kept = b"".join(f"line{i}\n".encode() for i in range(25, 30))
        assert await fresh.read(0, 1000) == kept  # the trimmed head reads as the lines kept
        assert await fresh.read(len(kept), 1000) == b""
        tail = await log.open(OpenMode())  # tail -c 14: from the end, by the size
        assert await tail.read(len(seen) - 14, 14) == b"line28\nline29\n"


async def test_a_reader_whose_place_was_trimmed_goes_on_from_the_oldest_line(
    tmp_path: Path,
) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path, log_limit=40)) as core:
        entry, log = await _log_of(core, "slow")
        sink = core.registry.sink
        sink.append(entry.job, ["aaaaa", "bbbbb"])
        reader = await log.open(OpenMode())
        assert await reader.read(0, 6) == b"aaaaa\n"
        sink.append(entry.job, [c * 5 for c in "cdefghij"])
        await sink.flush()  # keeps the last 6 lines: e..j
        rest = await reader.read(6, 12)
        assert rest == b"eeeee\nfffff\n"  # b..d are gone: no repeat, one skip, then in order
        assert await reader.read(18, 1000) == b"ggggg\nhhhhh\niiiii\njjjjj\n"
        assert await reader.read(42, 1000) == b""


async def test_reads_past_the_end_cost_no_store_request(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path)) as core:
        entry, log = await _log_of(core, "idle")
        core.registry.sink.append(entry.job, ["x"])
        reader = await log.open(OpenMode())
        assert await reader.read(0, 100) == b"x\n"
        batches = core.store.batches
        for _ in range(50):  # a tail -f polling an idle log
            assert await reader.read(2, 100) == b""
        assert core.store.batches == batches
