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
