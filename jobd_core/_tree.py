"""The namespace: the nodes and handles of jobd's file tree, over the registry.

Rules this module keeps:
1. Ids are derived from persistent data, so they are stable across restarts: ``/`` is 1, ``clone``
   2, ``jobs`` 3, ``stats`` 4; job N's directory is ``16 + 8*N`` and its files follow it (``+1``
   ctl, ``+2`` cmd, ``+3`` schedule, ``+4`` log, ``+5`` status). ``children()`` is sorted by id.
2. Nodes are built on demand and cached weakly: memory grows with what clients hold, not with the
   number of jobs.
3. A size is the length a read at offset 0 would return now (Linux gates reads on it).
4. Handles give Plan 9 semantics: reads see the snapshot taken at open (``log`` refreshes when a
   read reaches past its snapshot, so ``tail -f`` works); ``clone`` and ``ctl`` take one message
   per write; ``cmd``/``schedule`` apply the handle's accumulated content on each write.
5. A deleted job's nodes still answer ``stat()`` (last known values); everything else raises
   ``NotFound``.
"""

from __future__ import annotations

import bisect
import grp
import itertools
import os
import pwd
import weakref
from collections.abc import Iterator
from datetime import datetime

from ._errors import AccessDenied, InvalidArgument, IsADirectory, NotFound
from ._handles import DirHandle, LogHandle, MessageHandle, SnapshotHandle, ValueHandle
from ._metrics import Metrics
from ._model import JobEntry
from ._node import DirEntry, Handle, Kind, Node, OpenMode, Stat
from ._registry import Registry
from ._settings import render as render_settings
from ._stats import STATS_ID, StatsFile, core_metrics

ROOT_ID = 1
CLONE_ID = 2
JOBS_ID = 3
JOB_BASE = 16
JOB_STRIDE = 8
JOB_FILES = ("ctl", "cmd", "schedule", "log", "status")
JOB_DIR_VERSION = 0  # a job directory's entries never change
_WRITABLE = frozenset(("ctl", "cmd", "schedule"))


def job_dir_id(job_id: int) -> int:
    """The node id of job ``job_id``'s directory."""
    return JOB_BASE + JOB_STRIDE * job_id


class _Owner:
    __slots__ = ("gid", "group", "uid", "user")

    def __init__(self) -> None:
        self.uid = os.geteuid()
        self.gid = os.getegid()
        try:
            self.user = pwd.getpwuid(self.uid).pw_name
        except KeyError:
            self.user = str(self.uid)
        try:
            self.group = grp.getgrgid(self.gid).gr_name
        except KeyError:
            self.group = str(self.gid)


class Namespace:
    """The file tree every front serves. ``root`` is ``/``; ``node(id)`` finds any live node."""

    def __init__(self, registry: Registry, metrics: Metrics | None = None) -> None:
        self.registry = registry
        self.metrics = metrics if metrics is not None else core_metrics(registry)
        self.owner = _Owner()
        self.started_ns = registry.jobs_mtime_ns
        self._cache: weakref.WeakValueDictionary[int, Node] = weakref.WeakValueDictionary()
        self.root: Node = RootDir(self)
        self.clone: Node = CloneFile(self)
        self.jobs: Node = JobsDir(self)
        self.stats: Node = StatsFile(self, self.metrics)

    def node(self, node_id: int) -> Node:
        """The live node with ``node_id``.

        Raises:
            NotFound: no such node (or its job was deleted).
        """
        fixed = {ROOT_ID: self.root, CLONE_ID: self.clone, JOBS_ID: self.jobs,
                 STATS_ID: self.stats}.get(node_id)  # fmt: skip
        if fixed is not None:
            return fixed
        job_id, index = divmod(node_id - JOB_BASE, JOB_STRIDE)
        entry = self.registry.by_id(job_id) if node_id >= JOB_BASE else None
        if entry is None or index > len(JOB_FILES):
            raise NotFound(f"no node {node_id}")
        return self.job_dir(entry) if index == 0 else self.job_file(entry, JOB_FILES[index - 1])

    def job_dir(self, entry: JobEntry) -> JobDir:
        node = self._cache.get(job_dir_id(entry.job.id))
        if not isinstance(node, JobDir):
            node = JobDir(self, entry)
            self._cache[node.id] = node
        return node

    def job_file(self, entry: JobEntry, name: str) -> JobFile:
        node_id = job_dir_id(entry.job.id) + 1 + JOB_FILES.index(name)
        node = self._cache.get(node_id)
        if not isinstance(node, JobFile):
            node = _FILE_CLASSES[name](self, entry, node_id)
            self._cache[node_id] = node
        return node

    def make_stat(
        self, node: Node, *, mode: int, size: int, version: int, mtime_ns: int,
        ctime_ns: int | None = None,
    ) -> Stat:
        owner = self.owner
        return Stat(
            id=node.id, name=node.name, kind=node.kind, mode=mode, size=size, version=version,
            atime_ns=mtime_ns, mtime_ns=mtime_ns,
            ctime_ns=mtime_ns if ctime_ns is None else ctime_ns,
            uid=owner.uid, gid=owner.gid, owner=owner.user, group=owner.group,
        )

    def timestamp(self, at: datetime | None) -> str:
        """``at`` in the log-line timestamp shape, or ``-``."""
        return self.registry.timestamp(at)


# -- the fixed nodes ----------------------------------------------------------------------------


class _Base(Node):
    def __init__(self, ns: Namespace, node_id: int, name: str, kind: Kind) -> None:
        self.ns = ns
        self.id = node_id
        self.name = name
        self.kind = kind

    def _open_dir(self, mode: OpenMode) -> Handle:
        if mode.write or mode.truncate:
            raise IsADirectory(f"{self.name}: is a directory")
        return DirHandle(mode, self.name)

    async def truncate(self, size: int) -> None:
        if self.kind is Kind.DIR:
            raise IsADirectory(f"{self.name}: is a directory")
        await super().truncate(size)


class RootDir(_Base):
    def __init__(self, ns: Namespace) -> None:
        super().__init__(ns, ROOT_ID, "/", Kind.DIR)

    def stat(self) -> Stat:
        return self.ns.make_stat(self, mode=0o755, size=0, version=0, mtime_ns=self.ns.started_ns)

    def parent(self) -> Node:
        return self

    def lookup(self, name: str) -> Node:
        if name == "clone":
            return self.ns.clone
        if name == "jobs":
            return self.ns.jobs
        if name == "stats":
            return self.ns.stats
        raise NotFound(f"{name}: not found")

    def children(self) -> list[Node]:
        return [self.ns.clone, self.ns.jobs, self.ns.stats]

    async def open(self, mode: OpenMode) -> Handle:
        return self._open_dir(mode)


class CloneFile(_Base):
    def __init__(self, ns: Namespace) -> None:
        super().__init__(ns, CLONE_ID, "clone", Kind.FILE)

    def stat(self) -> Stat:
        mtime = self.ns.registry.jobs_mtime_ns
        return self.ns.make_stat(self, mode=0o644, size=0, version=0, mtime_ns=mtime)

    def parent(self) -> Node:
        return self.ns.root

    async def open(self, mode: OpenMode) -> Handle:
        def shown(entry: object) -> bytes:
            assert isinstance(entry, JobEntry)
            return (entry.job.name + "\n").encode()

        return MessageHandle(mode, self.name, b"", None, self.ns.registry.clone, shown)

    async def truncate(self, size: int) -> None:
        if size != 0:
            raise InvalidArgument(f"{self.name}: only truncation to 0 is accepted")


class JobsDir(_Base):
    def __init__(self, ns: Namespace) -> None:
        super().__init__(ns, JOBS_ID, "jobs", Kind.DIR)

    def stat(self) -> Stat:
        registry = self.ns.registry
        return self.ns.make_stat(
            self, mode=0o755, size=0, version=registry.jobs_version,
            mtime_ns=registry.jobs_mtime_ns,
        )

    def parent(self) -> Node:
        return self.ns.root

    def lookup(self, name: str) -> Node:
        return self.ns.job_dir(self.ns.registry.get(name))

    def children(self) -> list[Node]:
        return [self.ns.job_dir(entry) for entry in self.ns.registry]

    def children_after(self, after: int) -> Iterator[Node]:
        return (self.ns.job_dir(entry) for entry in self._entries_after(after))

    def entries_after(self, after: int) -> Iterator[DirEntry]:
        # Straight from the registry: a listing of 100k jobs builds no node and no stat.
        for entry in self._entries_after(after):
            yield DirEntry(job_dir_id(entry.job.id), entry.job.name, Kind.DIR, JOB_DIR_VERSION)

    def _entries_after(self, after: int) -> Iterator[JobEntry]:
        registry = self.ns.registry
        ids = registry.sorted_ids()
        start = bisect.bisect_right(ids, max(after - JOB_BASE, -1) // JOB_STRIDE) if after else 0
        for job_id in itertools.islice(ids, start, None):
            entry = registry.by_id(job_id)
            if entry is not None and job_dir_id(job_id) > after:
                yield entry

    async def open(self, mode: OpenMode) -> Handle:
        return self._open_dir(mode)


# -- job nodes ----------------------------------------------------------------------------------


class JobDir(_Base):
    def __init__(self, ns: Namespace, entry: JobEntry) -> None:
        super().__init__(ns, job_dir_id(entry.job.id), entry.job.name, Kind.DIR)
        self.entry = entry

    def _alive(self) -> None:
        if self.entry.job.deleted:
            raise NotFound(f"job not found: {self.name}")

    def stat(self) -> Stat:
        e = self.entry
        return self.ns.make_stat(
            self, mode=0o755, size=0, version=JOB_DIR_VERSION, mtime_ns=e.created_ns,
            ctime_ns=e.changed_ns,
        )

    def parent(self) -> Node:
        return self.ns.jobs

    def lookup(self, name: str) -> Node:
        self._alive()
        if name not in JOB_FILES:
            raise NotFound(f"{self.name}/{name}: not found")
        return self.ns.job_file(self.entry, name)

    def children(self) -> list[Node]:
        self._alive()
        return [self.ns.job_file(self.entry, name) for name in JOB_FILES]

    async def open(self, mode: OpenMode) -> Handle:
        self._alive()
        return self._open_dir(mode)

    async def remove(self) -> None:
        await self.ns.registry.delete(self.entry)


class JobFile(_Base):
    """One of ``ctl cmd schedule log status`` of a job."""

    mode = 0o644

    file_name = ""

    def __init__(self, ns: Namespace, entry: JobEntry, node_id: int) -> None:
        super().__init__(ns, node_id, type(self).file_name, Kind.FILE)
        self.entry = entry

    def _alive(self) -> None:
        if self.entry.job.deleted:
            raise NotFound(f"job not found: {self.entry.job.name}")

    def text(self) -> str:
        """The content a read at offset 0 returns now (not used by ``log``)."""
        raise NotImplementedError

    def version(self) -> int:
        raise NotImplementedError

    def mtime_ns(self) -> int:
        return self.entry.changed_ns

    def size(self) -> int:
        return len(self.text().encode())

    def stat(self) -> Stat:
        return self.ns.make_stat(
            self, mode=self.mode, size=self.size(), version=self.version(),
            mtime_ns=self.mtime_ns(),
        )

    def parent(self) -> Node:
        return self.ns.job_dir(self.entry)

    async def open(self, mode: OpenMode) -> Handle:
        self._alive()
        if (mode.write or mode.truncate) and self.name not in _WRITABLE:
            raise AccessDenied(f"{self.name}: read-only")
        snapshot = self.text().encode() if mode.read else b""
        return self._handle(mode, snapshot)

    def _handle(self, mode: OpenMode, snapshot: bytes) -> Handle:
        return SnapshotHandle(mode, self.name, snapshot, self.entry)

    async def truncate(self, size: int) -> None:
        self._alive()
        if self.name not in _WRITABLE:
            raise AccessDenied(f"{self.name}: read-only")
        if size != 0:
            raise InvalidArgument(f"{self.name}: only truncation to 0 is accepted")
        # Nothing to do: the write that follows replaces the value.

    async def remove(self) -> None:
        # Part of `rm -r jobs/NAME`: the job goes when its directory is removed.
        self._alive()


class CtlFile(JobFile):
    file_name = "ctl"

    def text(self) -> str:
        return "started\n" if self.entry.job.started else "stopped\n"

    def version(self) -> int:
        return self.entry.v_ctl

    def _handle(self, mode: OpenMode, snapshot: bytes) -> Handle:
        return MessageHandle(
            mode, self.name, snapshot, self.entry,
            lambda data: self.ns.registry.ctl(self.entry, data),
        )


class CmdFile(JobFile):
    file_name = "cmd"

    def text(self) -> str:
        return self.entry.job.command + "\n"

    def version(self) -> int:
        return self.entry.v_cmd

    def _handle(self, mode: OpenMode, snapshot: bytes) -> Handle:
        return ValueHandle(
            mode, self.name, snapshot, self.entry,
            lambda text: self.ns.registry.set_command(self.entry, text),
            (self.entry.job.command + "\n").encode(),
        )


class ScheduleFile(JobFile):
    file_name = "schedule"

    def text(self) -> str:
        job = self.entry.job
        text = job.schedule.expression + "\n"
        if job.started and job.runtime.next_run is not None:
            text += f"next: {self.ns.timestamp(job.runtime.next_run)}\n"
        return text

    def version(self) -> int:
        return self.entry.v_schedule

    def _handle(self, mode: OpenMode, snapshot: bytes) -> Handle:
        return ValueHandle(
            mode, self.name, snapshot, self.entry,
            lambda text: self.ns.registry.set_schedule(self.entry, text),
            (self.entry.job.schedule.expression + "\n").encode(),
        )


class LogFile(JobFile):
    file_name = "log"
    mode = 0o444

    def size(self) -> int:
        return self.ns.registry.log_size(self.entry)

    def version(self) -> int:
        return self.entry.v_log

    def mtime_ns(self) -> int:
        ns = self.entry.log_mtime_ns
        return self.entry.created_ns if ns is None else ns

    async def open(self, mode: OpenMode) -> Handle:
        self._alive()
        if mode.write or mode.truncate:
            raise AccessDenied(f"{self.name}: read-only")
        registry, entry = self.ns.registry, self.entry

        async def read_range(start: int, count: int) -> tuple[int, bytes]:
            return await registry.read_log_range(entry, start, count)

        return LogHandle(mode, self.name, entry, read_range)


class StatusFile(JobFile):
    file_name = "status"
    mode = 0o444

    def text(self) -> str:
        job = self.entry.job
        rt = job.runtime
        ts = self.ns.timestamp
        lateness = "-" if rt.last_lateness is None else f"{rt.last_lateness:.6f}"
        lines = [
            ("state", "started" if job.started else "stopped"),
            ("schedule", job.schedule.expression),
            ("next", ts(rt.next_run) if job.started else "-"),
            ("last_start", ts(rt.last_start)),
            ("last_end", ts(rt.last_end)),
            ("last_result", rt.last_result or "-"),
            ("last_lateness", lateness),
            ("runs", str(rt.run_count)),
            ("skipped", str(rt.skipped)),
            ("missed", str(rt.missed)),
            ("running", " ".join(map(str, rt.running_pids)) or "-"),
            ("timeouts", str(rt.timeouts)),
            ("retried", str(rt.retried)),
        ]
        lines += render_settings(job.settings, history_default=self.ns.registry.log_limit)
        return "".join(f"{key}: {value}\n" for key, value in lines)

    def version(self) -> int:
        return self.entry.v_status

    def mtime_ns(self) -> int:
        return self.entry.status_ns


_FILE_CLASSES: dict[str, type[JobFile]] = {
    cls.file_name: cls for cls in (CtlFile, CmdFile, ScheduleFile, LogFile, StatusFile)
}
