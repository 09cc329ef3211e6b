"""jobd in this process for tests: the real core and 9P server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from jobd_9p.server import open_listeners, serve_9p
from jobd_core import Core, CoreConfig, open_core


class Served:
    """A running core served over 9P; ``stop_serving``/``serve_again`` drop and restore the port."""

    def __init__(self, core: Core, nursery: trio.Nursery) -> None:
        self.core = core
        self.addr = ""
        self._nursery = nursery
        self._scope: trio.CancelScope | None = None

    async def serve(self, fsaddr: str = "127.0.0.1:0") -> str:
        listeners = await open_listeners(fsaddr)

        async def run(task_status: trio.TaskStatus[list[str]]) -> None:
            with trio.CancelScope() as scope:
                self._scope = scope
                await serve_9p(self.core.namespace, listeners, task_status=task_status)

        self.addr = (await self._nursery.start(run))[0]
        return self.addr

    async def stop_serving(self) -> None:
        """The server goes away: listeners and every connection closed."""
        assert self._scope is not None
        self._scope.cancel()
        await trio.testing.wait_all_tasks_blocked()

    async def serve_again(self) -> None:
        await self.serve(self.addr)


@asynccontextmanager
async def jobd(dbdir: Path) -> AsyncIterator[Served]:
    async with open_core(CoreConfig(dbdir=dbdir)) as core, trio.open_nursery() as nursery:
        served = Served(core, nursery)
        await served.serve()
        yield served
        nursery.cancel_scope.cancel()
