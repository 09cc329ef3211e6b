"""Composition of the core: store, registry, namespace, log flusher and scheduler in one nursery.

Rules this module keeps:
1. ``open_core`` is the only place the core's parts are wired together; fronts receive a ``Core``.
2. Start-up order: database (created if needed), legacy import (first start only), jobs loaded,
   flusher and scheduler started, then the caller runs while the loaded jobs are handed to the
   scheduler in the background (the fronts serve at once, even with 100k jobs).
3. Shut-down order: scheduler (running jobs get ``shutdown_grace``), log flush, store closed; done
   even when the caller's body fails or is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

import trio

from ._clock import SystemClock, WallClock
from ._legacy import import_legacy_if_due
from ._metrics import Metrics
from ._registry import Registry
from ._runas import RunAs
from ._runner import Spawner
from ._scheduler import Scheduler
from ._sqlite import SqliteStore
from ._stats import core_metrics
from ._tree import Namespace

log = logging.getLogger(__name__)

DB_NAME = "jobd.sqlite3"


@dataclass
class CoreConfig:
    """Everything ``open_core`` needs. ``dbdir`` is created if missing."""

    dbdir: Path
    log_limit: int = 1024 * 1024  # bytes of log kept per job
    output_limit: int = 64 * 1024  # default per-run output cap
    shutdown_grace: float = 10.0
    default_tz: tzinfo | None = None  # None = server local zone
    clock: WallClock | None = None
    shell: str | None = None
    max_jobs: int | None = None  # creations beyond it fail with NoSpace ("too many jobs")
    run_as: RunAs | None = None  # job processes run as this user (jobd as root)


@dataclass
class Core:
    """The running core a front serves."""

    config: CoreConfig
    store: SqliteStore
    registry: Registry
    namespace: Namespace
    scheduler: Scheduler
    metrics: Metrics  # what /stats and --metrics-addr show; fronts count into it too


@asynccontextmanager
async def open_core(config: CoreConfig) -> AsyncIterator[Core]:
    """Open the store under ``config.dbdir``, import a legacy ``jobs.db`` on first start, load the
    jobs, start the scheduler and the log flusher; on exit shut them down and close the store.

    Raises:
        StorageError: the database cannot be opened or read.
        OSError: ``dbdir`` cannot be created.
    """
    dbdir = Path(config.dbdir)
    dbdir.mkdir(parents=True, exist_ok=True)
    db_path = dbdir / DB_NAME
    first_start = not db_path.exists()
    clock = config.clock if config.clock is not None else SystemClock()
    store = await SqliteStore.open(db_path)
    try:
        registry = Registry(
            store, now=clock.now, now_ns=clock.now_ns, log_limit=config.log_limit,
            output_limit=config.output_limit, default_tz=config.default_tz,
        )
        registry.max_jobs = config.max_jobs
        await registry.load()
        await import_legacy_if_due(registry, dbdir, first_start=first_start)
        metrics = core_metrics(registry)
        scheduler = Scheduler(
            registry.sink, clock=clock, shell=config.shell, log_tz=config.default_tz,
            metrics=metrics, spawner=Spawner(run_as=config.run_as),
        )
        registry.scheduler = scheduler
        core = Core(config, store, registry, Namespace(registry, metrics), scheduler, metrics)
        async with trio.open_nursery() as nursery:
            await nursery.start(registry.sink.run)
            await nursery.start(scheduler.run)
            # Planning every started job's first fire costs ~100 µs each: with 100k jobs it runs
            # beside the fronts (yielding often) instead of delaying them. A job changed meanwhile
            # is already known to the scheduler through the registry; a deleted one is skipped.
            loaded = list(registry)
            adding = trio.CancelScope()

            async def add_loaded() -> None:
                with adding:
                    await scheduler.add_many(e.job for e in loaded if not e.job.deleted)

            nursery.start_soon(add_loaded)
            log.info("core open: %d jobs from %s", len(registry), db_path)
            try:
                yield core
            finally:
                adding.cancel()
                with trio.CancelScope(shield=True):
                    await scheduler.shutdown(config.shutdown_grace)
                    await registry.sink.close()  # a full disk is logged, not raised
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await store.close()
