"""Session: directory reads (offset rules, cookies), truncation (Twstat/Tsetattr), removal, the .L
requests jobd answers with fixed results, and the EIO path for unexpected failures."""

from __future__ import annotations

import errno
import logging
from typing import Any

import pytest
from test_session_support import Peer, core, dont_touch_stat, truncating_stat  # noqa: F401

from jobd_9p import wire
from jobd_9p.session import Session
from jobd_core import Handle, Kind, Node, OpenMode, Stat


async def _peer(core: Any, version: str, msize: int = 8192 + 24) -> Peer:  # noqa: F811
    p = Peer(Session(core.namespace))
    await p.connect(version, msize=msize)
    return p


async def _make_jobs(peer: Peer, names: list[str]) -> None:
    for name in names:
        await peer.echo("clone", f"{name}:@daily:echo {name}")


# ------------------------------------------------------------------- 9P2000/.u directory reads
@pytest.mark.parametrize("version", ["9P2000", "9P2000.u"])
async def test_dir_read_offsets_must_continue(core: Any, version: str) -> None:  # noqa: F811
    peer = await _peer(core, version)
    await _make_jobs(peer, [f"job{i}" for i in range(5)])
    fid = await peer.open("jobs")
    one = len(wire.encode_stat(
        (await peer.ok(wire.Tstat, wire.Rstat, fid=await peer.walk("jobs/job0"))).stat,
        peer.dialect or wire.Dialect.P9P2000))  # fmt: skip
    first = await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=0, count=one + 5)
    assert len(first.data) == one  # whole entries only, never split
    peer.expect_errno(await peer.fail(wire.Tread, fid=fid, offset=one + 1, count=1000),
                      errno.EINVAL)  # fmt: skip
    peer.expect_errno(await peer.fail(wire.Tread, fid=fid, offset=one, count=10), errno.EINVAL)
    second = await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=one, count=8000)
    names = [s.name for s in wire.decode_stats(first.data + second.data, wire.Dialect(version))]
    assert names == [f"job{i}" for i in range(5)]
    end = await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=one + len(second.data), count=99)
    assert end.data == b""
    again = await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=0, count=8000)  # rewind
    assert again.data == first.data + second.data


@pytest.mark.parametrize("version", ["9P2000", "9P2000.u"])
async def test_dir_stat_entries_describe_nodes(core: Any, version: str) -> None:  # noqa: F811
    peer = await _peer(core, version)
    await _make_jobs(peer, ["hello"])
    fid = await peer.open("jobs/hello")
    data = (await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=0, count=8000)).data
    stats = {s.name: s for s in wire.decode_stats(data, wire.Dialect(version))}
    assert stats["cmd"].length == len("echo hello\n")
    assert stats["cmd"].mode == 0o644 and stats["log"].mode == 0o444
    root = await peer.open("")
    data = (await peer.ok(wire.Tread, wire.Rread, fid=root, offset=0, count=8000)).data
    jobs = {s.name: s for s in wire.decode_stats(data, wire.Dialect(version))}["jobs"]
    assert jobs.mode & wire.DMDIR and jobs.qid.type == wire.QTDIR


async def test_dotl_tread_on_directory_is_eisdir(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    fid = await peer.open("jobs")
    peer.expect_errno(await peer.fail(wire.Tread, fid=fid, offset=0, count=100), errno.EISDIR)


# -------------------------------------------------------------------------- .L readdir cookies
async def test_readdir_cookies_are_stable_under_create_and_delete(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    await _make_jobs(peer, [f"j{i}" for i in range(6)])
    fid = await peer.open("jobs")
    size = wire.dirent_size("j0")
    first = await peer.ok(wire.Treaddir, wire.Rreaddir, fid=fid, offset=0, count=2 * size + 3)
    entries = wire.decode_dirents(first.data)
    assert [e.name for e in entries] == ["j0", "j1"]
    # concurrently: delete a listed one and an unlisted one, create a new one
    jobs = await peer.walk("jobs")
    await peer.ok(wire.Tunlinkat, wire.Runlinkat, dirfid=jobs, name="j0",
                  flags=wire.AT_REMOVEDIR)  # fmt: skip
    await peer.ok(wire.Tunlinkat, wire.Runlinkat, dirfid=jobs, name="j3",
                  flags=wire.AT_REMOVEDIR)  # fmt: skip
    await _make_jobs(peer, ["late"])
    rest = await peer.ok(wire.Treaddir, wire.Rreaddir, fid=fid, offset=entries[-1].offset,
                         count=8000)  # fmt: skip
    assert [e.name for e in wire.decode_dirents(rest.data)] == ["j2", "j4", "j5", "late"]
    assert entries[0].type == 4 and entries[0].qid.type == wire.QTDIR


async def test_readdir_misuse(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    await _make_jobs(peer, ["hello"])
    unopened = await peer.walk("jobs")
    peer.expect_errno(await peer.fail(wire.Treaddir, fid=unopened, offset=0, count=100),
                      errno.EBADF)  # fmt: skip
    file = await peer.open("jobs/hello/cmd")
    peer.expect_errno(await peer.fail(wire.Treaddir, fid=file, offset=0, count=100),
                      errno.ENOTDIR)  # fmt: skip
    opened = await peer.open("jobs")
    peer.expect_errno(await peer.fail(wire.Treaddir, fid=opened, offset=0, count=5), errno.EINVAL)


async def test_readdir_count_clamped_to_msize(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L", msize=1024)
    await _make_jobs(peer, [f"job-with-a-long-name-{i:03d}" for i in range(60)])
    fid = await peer.open("jobs")
    reply = await peer.ok(wire.Treaddir, wire.Rreaddir, fid=fid, offset=0, count=1 << 20)
    assert 0 < len(reply.data) <= 1024 - wire.READDIRHDRSZ
    assert len(await peer.ls("jobs")) == 60


# ----------------------------------------------------------------------------- truncation
@pytest.mark.parametrize("version", ["9P2000", "9P2000.u"])
async def test_wstat_accepts_truncation_and_no_ops_only(core: Any, version: str) -> None:  # noqa: F811
    peer = await _peer(core, version)
    await _make_jobs(peer, ["hello"])
    fid = await peer.walk("jobs/hello/cmd")
    await peer.ok(wire.Twstat, wire.Rwstat, fid=fid, stat=truncating_stat())
    await peer.ok(wire.Twstat, wire.Rwstat, fid=fid, stat=dont_touch_stat())
    await peer.ok(wire.Twstat, wire.Rwstat, fid=fid, stat=dont_touch_stat(atime=5, mtime=6))
    await peer.ok(wire.Twstat, wire.Rwstat, fid=fid, stat=dont_touch_stat(name="cmd"))
    for change in ({"name": "other"}, {"mode": 0o777}, {"uid": "someone"}, {"gid": "grp"}):
        peer.expect_errno(await peer.fail(wire.Twstat, fid=fid, stat=dont_touch_stat(**change)),
                          errno.EPERM)  # fmt: skip
    peer.expect_errno(await peer.fail(wire.Twstat, fid=fid, stat=dont_touch_stat(length=3)),
                      errno.EINVAL)  # fmt: skip
    log = await peer.walk("jobs/hello/log")
    peer.expect_errno(await peer.fail(wire.Twstat, fid=log, stat=truncating_stat()),
                      errno.EACCES)  # fmt: skip
    jobs = await peer.walk("jobs")
    await peer.ok(wire.Twstat, wire.Rwstat, fid=jobs, stat=dont_touch_stat(mtime=7))
    assert await peer.cat("jobs/hello/cmd") == "echo hello\n"  # truncation alone changes nothing


async def _setattr(peer: Peer, fid: int, valid: int, **kw: int) -> Any:
    fields = dict(mode=0, uid=0, gid=0, size=0, atime_sec=0, atime_nsec=0, mtime_sec=0,
                  mtime_nsec=0)  # fmt: skip
    fields.update(kw)
    return await peer.rpc(wire.Tsetattr, fid=fid, valid=valid, **fields)


async def test_setattr_truncates_and_ignores_times(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    await _make_jobs(peer, ["hello"])
    fid = await peer.walk("jobs/hello/schedule")
    assert isinstance(await _setattr(peer, fid, wire.P9_SETATTR_SIZE), wire.Rsetattr)
    touch = wire.P9_SETATTR_ATIME | wire.P9_SETATTR_MTIME | wire.P9_SETATTR_CTIME
    assert isinstance(await _setattr(peer, fid, touch), wire.Rsetattr)
    assert isinstance(await _setattr(peer, fid, wire.P9_SETATTR_MODE, mode=0o100644),
                      wire.Rsetattr)  # fmt: skip
    assert await _setattr(peer, fid, wire.P9_SETATTR_MODE, mode=0o600) == wire.Rlerror(
        tag=peer._tag, ecode=errno.EPERM)  # fmt: skip
    reply = await _setattr(peer, fid, wire.P9_SETATTR_UID, uid=12345)
    assert reply == wire.Rlerror(tag=peer._tag, ecode=errno.EPERM)
    reply = await _setattr(peer, fid, wire.P9_SETATTR_SIZE, size=2)
    assert reply == wire.Rlerror(tag=peer._tag, ecode=errno.EINVAL)
    jobs = await peer.walk("jobs")
    reply = await _setattr(peer, jobs, wire.P9_SETATTR_SIZE)
    assert reply == wire.Rlerror(tag=peer._tag, ecode=errno.EISDIR)


async def test_lopen_with_trunc_then_write(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    await _make_jobs(peer, ["hello"])
    fid = await peer.open("jobs/hello/cmd", write=True, read=False, trunc=True)
    await peer.ok(wire.Twrite, wire.Rwrite, fid=fid, offset=0, data=b"echo new\n")
    await peer.clunk(fid)
    assert await peer.cat("jobs/hello/cmd") == "echo new\n"


# -------------------------------------------------------------------------------- removal
@pytest.mark.parametrize("version", ["9P2000", "9P2000.u", "9P2000.L"])
async def test_remove_clunks_even_on_failure(core: Any, version: str) -> None:  # noqa: F811
    peer = await _peer(core, version)
    fid = await peer.walk("clone")
    peer.expect_errno(await peer.fail(wire.Tremove, fid=fid), errno.EPERM)
    peer.expect_errno(await peer.fail(wire.Tclunk, fid=fid), errno.EBADF)
    await _make_jobs(peer, ["hello"])
    for name in ("ctl", "cmd", "schedule", "log", "status"):  # rm -r: files first
        await peer.ok(wire.Tremove, wire.Rremove, fid=await peer.walk(f"jobs/hello/{name}"))
    assert await peer.ls("jobs") == ["hello"]
    await peer.ok(wire.Tremove, wire.Rremove, fid=await peer.walk("jobs/hello"))
    assert await peer.ls("jobs") == []


async def test_unlinkat(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    await _make_jobs(peer, ["hello"])
    jobs = await peer.walk("jobs")
    hello = await peer.walk("jobs/hello")
    await peer.ok(wire.Tunlinkat, wire.Runlinkat, dirfid=hello, name="cmd", flags=0)
    peer.expect_errno(await peer.fail(wire.Tunlinkat, dirfid=hello, name="cmd",
                                      flags=wire.AT_REMOVEDIR), errno.ENOTDIR)  # fmt: skip
    peer.expect_errno(await peer.fail(wire.Tunlinkat, dirfid=jobs, name="hello", flags=0),
                      errno.EISDIR)  # fmt: skip
    peer.expect_errno(await peer.fail(wire.Tunlinkat, dirfid=jobs, name="nope",
                                      flags=wire.AT_REMOVEDIR), errno.ENOENT)  # fmt: skip
    await peer.ok(wire.Tunlinkat, wire.Runlinkat, dirfid=jobs, name="hello",
                  flags=wire.AT_REMOVEDIR)  # fmt: skip
    assert await peer.ls("jobs") == []
    peer.expect_errno(await peer.fail(wire.Tunlinkat, dirfid=0, name="jobs",
                                      flags=wire.AT_REMOVEDIR), errno.EPERM)  # fmt: skip


# ------------------------------------------------------------------------- fixed answers (.L)
async def test_dotl_fixed_answers(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.L")
    await _make_jobs(peer, ["hello"])
    fid = await peer.walk("jobs/hello/cmd")
    jobs = await peer.walk("jobs")
    assert (await peer.fail(wire.Txattrwalk, fid=fid, newfid=50, name="security.selinux")
            ).errno == errno.ENODATA  # fmt: skip
    listing = await peer.ok(wire.Txattrwalk, wire.Rxattrwalk, fid=fid, newfid=50, name="")
    assert listing.size == 0
    assert (await peer.ok(wire.Tread, wire.Rread, fid=50, offset=0, count=100)).data == b""
    await peer.clunk(50)
    assert (await peer.fail(wire.Txattrcreate, fid=fid, name="user.x", attr_size=1, flags=0)
            ).errno == errno.EOPNOTSUPP  # fmt: skip
    lock = await peer.ok(wire.Tlock, wire.Rlock, fid=fid, type=wire.P9_LOCK_TYPE_WRLCK, flags=0,
                         start=0, length=0, proc_id=1, client_id="c")  # fmt: skip
    assert lock.status == wire.P9_LOCK_SUCCESS
    got = await peer.ok(wire.Tgetlock, wire.Rgetlock, fid=fid, type=wire.P9_LOCK_TYPE_WRLCK,
                        start=0, length=10, proc_id=1, client_id="c")  # fmt: skip
    assert got.type == wire.P9_LOCK_TYPE_UNLCK
    await peer.ok(wire.Tfsync, wire.Rfsync, fid=fid, datasync=0)
    statfs = await peer.ok(wire.Tstatfs, wire.Rstatfs, fid=0)
    assert statfs.type == 0x01021997
    assert (await peer.fail(wire.Treadlink, fid=fid)).errno == errno.EINVAL
    assert (await peer.fail(wire.Tlcreate, fid=jobs, name="x", flags=0, mode=0o644, gid=0)
            ).errno == errno.EPERM  # fmt: skip
    assert (await peer.fail(wire.Tmkdir, dfid=jobs, name="x", mode=0o755, gid=0)
            ).errno == errno.EPERM  # fmt: skip
    assert (await peer.fail(wire.Tsymlink, fid=jobs, name="x", symtgt="y", gid=0)
            ).errno == errno.EPERM  # fmt: skip
    assert (await peer.fail(wire.Tmknod, dfid=jobs, name="x", mode=0, major=0, minor=0, gid=0)
            ).errno == errno.EPERM  # fmt: skip
    assert (await peer.fail(wire.Tlink, dfid=jobs, fid=fid, name="x")).errno == errno.EPERM
    assert (await peer.fail(wire.Trenameat, olddirfid=jobs, oldname="hello", newdirfid=jobs,
                            newname="bye")).errno == errno.EPERM  # fmt: skip
    assert (await peer.fail(wire.Trename, fid=fid, dfid=jobs, name="x")).errno == errno.EPERM
    assert (await peer.fail(wire.Tgetattr, fid=999, request_mask=1)).errno == errno.EBADF
    attr = await peer.ok(wire.Tgetattr, wire.Rgetattr, fid=jobs, request_mask=wire.P9_GETATTR_ALL)
    assert attr.mode & 0o170000 == 0o040000 and attr.qid.path == 3


async def test_classic_create_refused(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000")
    jobs = await peer.walk("jobs")
    failure = await peer.fail(wire.Tcreate, fid=jobs, name="x", perm=0o644, mode=wire.OWRITE)
    assert "clone" in failure.ename


# ------------------------------------------------------------------- unexpected failures
class _Broken(Node):
    """A static file whose reads fail with a bug (not a JobdError)."""

    def __init__(self, root: Node) -> None:
        self.id, self.name, self.kind, self._root = 2, "broken", Kind.FILE, root

    def stat(self) -> Stat:
        return Stat(2, "broken", Kind.FILE, 0o444, 0, 0, 0, 0, 0, 0, 0, "root", "root")

    def parent(self) -> Node:
        return self._root

    async def open(self, mode: OpenMode) -> Handle:
        return _BrokenHandle()


class _BrokenHandle(Handle):
    async def read(self, offset: int, count: int) -> bytes:
        raise RuntimeError("bug in a handle")

    async def write(self, offset: int, data: bytes) -> int:
        raise RuntimeError("bug in a handle")


class _StaticRoot(Node):
    def __init__(self) -> None:
        self.id, self.name, self.kind = 1, "/", Kind.DIR
        self.child = _Broken(self)

    def stat(self) -> Stat:
        return Stat(1, "/", Kind.DIR, 0o755, 0, 0, 0, 0, 0, 0, 0, "root", "root")

    def parent(self) -> Node:
        return self

    def lookup(self, name: str) -> Node:
        if name == "broken":
            return self.child
        from jobd_core import NotFound

        raise NotFound(name)

    def children(self) -> list[Node]:
        return [self.child]

    async def open(self, mode: OpenMode) -> Handle:
        return _BrokenHandle()


class _StaticNamespace:
    def __init__(self) -> None:
        self.root: Node = _StaticRoot()


@pytest.mark.allow_error_logs
@pytest.mark.parametrize("version", ["9P2000", "9P2000.u", "9P2000.L"])
async def test_unexpected_exception_is_logged_and_answered_eio(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    peer = Peer(Session(_StaticNamespace()))
    await peer.connect(version)
    fid = await peer.open("broken")
    with caplog.at_level(logging.ERROR, logger="jobd_9p.session"):
        failure = await peer.fail(wire.Tread, fid=fid, offset=0, count=10)
    peer.expect_errno(failure, errno.EIO)
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1 and records[0].exc_info is not None
    assert "bug in a handle" in str(records[0].exc_info[1])
    # the session lives on
    assert await peer.ls("") == ["broken"]


async def test_lcreate_of_an_existing_file_opens_it(core: Any) -> None:  # noqa: F811
    """p9fs writes every file as Tlcreate(O_CREAT|O_TRUNC) then open: like open(2) (and diod),
    an existing file is opened unless O_EXCL."""
    peer = await _peer(core, "9P2000.L")
    creat = 0o100 | 0o1000 | wire.P9_DOTL_WRONLY
    fid = await peer.walk("")
    reply = await peer.ok(wire.Tlcreate, wire.Rlcreate, fid=fid, name="clone", flags=creat,
                          mode=0o644, gid=0)  # fmt: skip
    assert reply.qid.path == 2
    await peer.ok(wire.Twrite, wire.Rwrite, fid=fid, offset=0, data=b"made:@daily:echo m")
    await peer.clunk(fid)
    assert await peer.ls("jobs") == ["made"]
    fid = await peer.walk("")
    for name, flags in (("clone", creat | wire.P9_DOTL_EXCL), ("jobs", creat)):
        assert (await peer.fail(wire.Tlcreate, fid=fid, name=name, flags=flags, mode=0o644,
                                gid=0)).errno == errno.EEXIST  # fmt: skip
    # a failed create leaves the fid on its directory
    await peer.ok(wire.Twalk, wire.Rwalk, fid=fid, newfid=fid, wnames=("jobs", "made"))
    log = await peer.walk("jobs/made")
    assert (await peer.fail(wire.Tlcreate, fid=log, name="log", flags=creat, mode=0o644,
                            gid=0)).errno == errno.EACCES  # fmt: skip
    await peer.ok(wire.Twalk, wire.Rwalk, fid=log, newfid=log, wnames=("cmd",))


async def test_classic_create_of_an_existing_name_is_eexist(core: Any) -> None:  # noqa: F811
    peer = await _peer(core, "9P2000.u")
    root = await peer.walk("")
    failure = await peer.fail(wire.Tcreate, fid=root, name="clone", perm=0o644, mode=wire.OWRITE)
    assert failure.errno == errno.EEXIST and "exists" in failure.ename
