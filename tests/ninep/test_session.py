"""Session against the real core, per dialect: version negotiation, attach, walk, open, I/O and the
seed's workflow (no sockets: requests go straight to ``Session.handle``)."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from test_session_support import ALL_DIALECTS, Failed, Peer, core  # noqa: F401

from jobd_9p import wire
from jobd_9p.session import MIN_MSIZE, Session


@pytest.fixture(params=ALL_DIALECTS)
async def peer(request: pytest.FixtureRequest, core: Any) -> Peer:  # noqa: F811
    p = Peer(Session(core.namespace, max_msize=65536))
    await p.connect(request.param)
    return p


# ----------------------------------------------------------------------------------- version
@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        ("9P2000.L", "9P2000.L"),
        ("9P2000.u", "9P2000.u"),
        ("9P2000", "9P2000"),
        ("9P2000.x", "9P2000"),
        ("9P2000.L.extra", "9P2000"),
        ("9P1999", "unknown"),
        ("", "unknown"),
    ],
)
async def test_version_negotiates_client_dialect_or_lower(
    core: Any, asked: str, answered: str  # noqa: F811
) -> None:
    peer = Peer(Session(core.namespace))
    reply = await peer.ok(wire.Tversion, wire.Rversion, tag=wire.NOTAG, msize=8192, version=asked)
    assert reply.version == answered


async def test_msize_is_capped_and_minimum_enforced(core: Any) -> None:  # noqa: F811
    session = Session(core.namespace, max_msize=16384)
    peer = Peer(session)
    reply = await peer.ok(wire.Tversion, wire.Rversion, msize=1 << 20, version="9P2000.L")
    assert reply.msize == 16384 and session.msize == 16384
    reply = await peer.ok(wire.Tversion, wire.Rversion, msize=4096, version="9P2000.L")
    assert reply.msize == 4096
    failure = await peer.fail(wire.Tversion, msize=MIN_MSIZE - 1, version="9P2000.L")
    assert "msize" in failure.ename
    # after a failed Tversion nothing is negotiated
    failure = await peer.fail(wire.Tattach, fid=0, afid=wire.NOFID, uname="", aname="")
    assert "Tversion" in failure.ename


async def test_requests_before_version_are_refused(core: Any) -> None:  # noqa: F811
    peer = Peer(Session(core.namespace))
    reply = await peer.rpc(wire.Tattach, fid=0, afid=wire.NOFID, uname="u", aname="")
    assert isinstance(reply, wire.Rerror) and "version" in reply.ename


async def test_version_resets_fids(core: Any) -> None:  # noqa: F811
    session = Session(core.namespace)
    peer = Peer(session)
    await peer.connect("9P2000.L")
    fid = await peer.open("clone", write=True, read=False)
    assert session.fid_count == 2
    await peer.ok(wire.Tversion, wire.Rversion, msize=8192, version="9P2000.u")
    assert session.fid_count == 0
    peer.dialect = wire.Dialect.U
    peer.expect_errno(await peer.fail(wire.Tclunk, fid=fid), errno.EBADF)


async def test_dotl_message_refused_in_classic_dialect(core: Any) -> None:  # noqa: F811
    peer = Peer(Session(core.namespace))
    await peer.connect("9P2000")
    failure = await peer.fail(wire.Tgetattr, fid=0, request_mask=wire.P9_GETATTR_ALL)
    assert "not part of 9P2000" in failure.ename


async def test_reply_message_as_request_is_refused(peer: Peer) -> None:
    failure = await peer.fail(wire.Rclunk)
    peer.expect_errno(failure, errno.EOPNOTSUPP)


# ------------------------------------------------------------------------------------ attach
@pytest.mark.parametrize("version", ALL_DIALECTS)
async def test_attach_with_empty_uname_and_no_n_uname(core: Any, version: str) -> None:  # noqa: F811
    peer = Peer(Session(core.namespace))
    await peer.ok(wire.Tversion, wire.Rversion, msize=8192, version=version)
    reply = await peer.ok(wire.Tattach, wire.Rattach, fid=1, afid=wire.NOFID, uname="",
                          aname="", n_uname=wire.NONUNAME)  # fmt: skip
    assert reply.qid.type == wire.QTDIR and reply.qid.path == 1
    # a second attach (another local uid) on the same connection
    await peer.ok(wire.Tattach, wire.Rattach, fid=2, afid=wire.NOFID, uname="nobody",
                  aname="", n_uname=65534)  # fmt: skip


async def test_attach_misuse(peer: Peer) -> None:
    peer.expect_errno(
        await peer.fail(wire.Tattach, fid=0, afid=wire.NOFID, uname="u", aname=""), errno.EBADF
    )
    peer.expect_errno(await peer.fail(wire.Tattach, fid=9, afid=5, uname="u", aname=""),
                      errno.EBADF)  # fmt: skip
    failure = await peer.fail(wire.Tauth, afid=5, uname="u", aname="")
    peer.expect_errno(failure, errno.ENOENT)
    if not peer.dotl:
        assert failure.ename == "authentication not required"


# -------------------------------------------------------------------------------------- walk
async def test_walk_zero_names_clones_the_fid(peer: Peer) -> None:
    reply = await peer.ok(wire.Twalk, wire.Rwalk, fid=0, newfid=5, wnames=())
    assert reply.wqids == ()
    await peer.ok(wire.Twalk, wire.Rwalk, fid=5, newfid=6, wnames=("jobs",))
    peer.expect_errno(await peer.fail(wire.Twalk, fid=0, newfid=5, wnames=()), errno.EBADF)


async def test_walk_partial_returns_prefix_and_no_newfid(peer: Peer) -> None:
    reply = await peer.ok(wire.Twalk, wire.Rwalk, fid=0, newfid=7, wnames=("jobs", "nope", "x"))
    assert len(reply.wqids) == 1 and reply.wqids[0].type == wire.QTDIR
    peer.expect_errno(await peer.fail(wire.Tclunk, fid=7), errno.EBADF)


async def test_walk_first_name_missing_is_an_error(peer: Peer) -> None:
    failure = await peer.fail(wire.Twalk, fid=0, newfid=7, wnames=("nope",))
    peer.expect_errno(failure, errno.ENOENT)
    failure = await peer.fail(wire.Twalk, fid=0, newfid=7, wnames=("",))
    peer.expect_errno(failure, errno.ENOENT)


async def test_walk_past_a_file_and_from_an_open_fid(peer: Peer) -> None:
    reply = await peer.ok(wire.Twalk, wire.Rwalk, fid=0, newfid=8, wnames=("clone", "x"))
    assert len(reply.wqids) == 1
    clone = await peer.walk("clone")
    peer.expect_errno(await peer.fail(wire.Twalk, fid=clone, newfid=9, wnames=("x",)),
                      errno.ENOTDIR)  # fmt: skip
    jobs = await peer.open("jobs")
    peer.expect_errno(await peer.fail(wire.Twalk, fid=jobs, newfid=jobs, wnames=()), errno.EBADF)
    # into a new fid it is allowed (as diod does; diodls -l needs it), and the new fid is unopened
    await peer.ok(wire.Twalk, wire.Rwalk, fid=jobs, newfid=9, wnames=())
    peer.expect_errno(await peer.fail(wire.Tread, fid=9, offset=0, count=100), errno.EBADF)


async def test_walk_newfid_equal_to_fid_moves_it(peer: Peer) -> None:
    fid = await peer.walk("")
    await peer.ok(wire.Twalk, wire.Rwalk, fid=fid, newfid=fid, wnames=("jobs",))
    if peer.dotl:
        attr = await peer.ok(wire.Tgetattr, wire.Rgetattr, fid=fid,
                             request_mask=wire.P9_GETATTR_ALL)  # fmt: skip
        qid = attr.qid
    else:
        qid = (await peer.ok(wire.Tstat, wire.Rstat, fid=fid)).stat.qid
    assert qid.path == 3
    # a failed walk (first name) leaves the fid where it was
    await peer.fail(wire.Twalk, fid=fid, newfid=fid, wnames=("nope",))
    await peer.ok(wire.Twalk, wire.Rwalk, fid=fid, newfid=fid, wnames=("..",))


async def test_walk_dotdot_at_root_stays_at_root(peer: Peer) -> None:
    reply = await peer.ok(wire.Twalk, wire.Rwalk, fid=0, newfid=3, wnames=("..", "..", "jobs"))
    assert [q.path for q in reply.wqids] == [1, 1, 3]


async def test_walk_too_many_names(peer: Peer) -> None:
    names = ("..",) * (wire.MAXWELEM + 1)
    peer.expect_errno(await peer.fail(wire.Twalk, fid=0, newfid=3, wnames=names), errno.EINVAL)


# --------------------------------------------------------------------------------- open / io
async def test_io_on_unopened_or_wrongly_opened_fids(peer: Peer) -> None:
    fid = await peer.walk("clone")
    peer.expect_errno(await peer.fail(wire.Tread, fid=fid, offset=0, count=10), errno.EBADF)
    peer.expect_errno(await peer.fail(wire.Twrite, fid=fid, offset=0, data=b"x"), errno.EBADF)
    peer.expect_errno(await peer.fail(wire.Tread, fid=77, offset=0, count=10), errno.EBADF)
    wfid = await peer.open("clone", write=True, read=False)
    peer.expect_errno(await peer.fail(wire.Tread, fid=wfid, offset=0, count=10), errno.EBADF)
    # opening twice
    opener = wire.Tlopen if peer.dotl else wire.Topen
    field = {"flags": 0} if peer.dotl else {"mode": 0}
    peer.expect_errno(await peer.fail(opener, fid=wfid, **field), errno.EBADF)


async def test_directories_refuse_writes(peer: Peer) -> None:
    fid = await peer.walk("jobs")
    opener = wire.Tlopen if peer.dotl else wire.Topen
    field = {"flags": wire.P9_DOTL_WRONLY} if peer.dotl else {"mode": wire.OWRITE}
    peer.expect_errno(await peer.fail(opener, fid=fid, **field), errno.EISDIR)
    rfid = await peer.open("jobs")
    peer.expect_errno(await peer.fail(wire.Twrite, fid=rfid, offset=0, data=b"x"), errno.EISDIR)


async def test_log_and_status_are_read_only(peer: Peer) -> None:
    await peer.echo("clone", "hello:0 0/5 * * * ? *:echo hello world")
    for name in ("log", "status"):
        fid = await peer.walk(f"jobs/hello/{name}")
        opener = wire.Tlopen if peer.dotl else wire.Topen
        field = {"flags": wire.P9_DOTL_WRONLY} if peer.dotl else {"mode": wire.OWRITE}
        peer.expect_errno(await peer.fail(opener, fid=fid, **field), errno.EACCES)


async def test_read_count_clamped_to_msize(core: Any) -> None:  # noqa: F811
    session = Session(core.namespace, max_msize=1024)
    peer = Peer(session)
    await peer.connect("9P2000.L", msize=1024)
    await peer.echo("clone", "big:@daily:" + "x" * 3000)
    fid = await peer.open("jobs/big/cmd")
    reply = await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=0, count=100_000)
    assert len(reply.data) == 1024 - wire.IOHDRSZ
    assert (await peer.read_fid(fid, 100_000)) == ("x" * 3000 + "\n").encode()


async def test_read_past_end_is_empty(peer: Peer) -> None:
    await peer.echo("clone", "hello:@daily:echo hi")
    fid = await peer.open("jobs/hello/cmd")
    reply = await peer.ok(wire.Tread, wire.Rread, fid=fid, offset=10_000, count=100)
    assert reply.data == b""


# ----------------------------------------------------------------------------------- errors
async def test_core_errors_reach_the_client_readably(peer: Peer) -> None:
    await peer.echo("clone", "hello:@daily:echo hi")
    fid = await peer.open("clone", write=True, read=False)
    failure = await peer.fail(wire.Twrite, fid=fid, offset=0, data=b"hello:@daily:echo again")
    peer.expect_errno(failure, errno.EEXIST)
    if not peer.dotl:
        assert failure.ename == "job exists: hello"
    ctl = await peer.open("jobs/hello/ctl", write=True, read=False)
    failure = await peer.fail(wire.Twrite, fid=ctl, offset=0, data=b"x\n")
    peer.expect_errno(failure, errno.EINVAL)
    if not peer.dotl:
        assert failure.ename.startswith("unknown ctl verb 'x'")
    failure = await peer.fail(wire.Twrite, fid=fid, offset=0, data=b"bad")
    peer.expect_errno(failure, errno.EINVAL)
    if not peer.dotl:
        assert failure.ename.startswith("invalid job definition")


# ------------------------------------------------------------------------------- the seed
async def test_seed_workflow(peer: Peer) -> None:
    await peer.echo("clone", "hello:0 0/5 * * * ? *:echo hello world")
    assert await peer.ls("jobs") == ["hello"]
    assert await peer.ls("jobs/hello") == ["ctl", "cmd", "schedule", "log", "status"]
    assert await peer.cat("jobs/hello/cmd") == "echo hello world\n"
    assert (await peer.cat("jobs/hello/schedule")).startswith("0 0/5 * * * ? *\n")
    assert await peer.cat("jobs/hello/ctl") == "stopped\n"
    await peer.echo("jobs/hello/ctl", "start\n")
    assert await peer.cat("jobs/hello/ctl") == "started\n"
    log = await peer.cat("jobs/hello/log")
    assert log.endswith(":started\n")
    assert "state: started" in await peer.cat("jobs/hello/status")
    await peer.echo("jobs/hello/cmd", "echo changed\n")
    assert await peer.cat("jobs/hello/cmd") == "echo changed\n"
    await peer.echo("jobs/hello/ctl", "stop")
    assert await peer.cat("jobs/hello/ctl") == "stopped\n"


async def test_sizes_and_versions_follow_content(peer: Peer) -> None:
    await peer.echo("clone", "hello:@daily:echo hi")
    fid = await peer.walk("jobs/hello/cmd")

    async def size_and_version() -> tuple[int, int]:
        if peer.dotl:
            r = await peer.ok(wire.Tgetattr, wire.Rgetattr, fid=fid,
                              request_mask=wire.P9_GETATTR_ALL)  # fmt: skip
            return r.size, r.qid.version
        s = await peer.ok(wire.Tstat, wire.Rstat, fid=fid)
        return s.stat.length, s.stat.qid.version

    size, version = await size_and_version()
    assert size == len("echo hi\n")
    await peer.echo("jobs/hello/cmd", "echo longer text")
    size2, version2 = await size_and_version()
    assert size2 == len("echo longer text\n") and version2 != version


async def test_flush_is_answered(peer: Peer) -> None:
    await peer.ok(wire.Tflush, wire.Rflush, oldtag=1234)


async def test_failed_requests_change_nothing(peer: Peer) -> None:
    for bad in ("onefield", "two:fields", ":@daily:echo", "a/b:@daily:x", "..:@daily:x",
                "a b:@daily:x", "a\0b:@daily:x", "x:*/0 * * * *:echo", "x:5-1 * * * *:echo"):
        fid = await peer.open("clone", write=True, read=False)
        await peer.fail(wire.Twrite, fid=fid, offset=0, data=bad.encode())
        await peer.clunk(fid)
    assert await peer.ls("jobs") == []


async def test_session_error_carries_text_on_u(core: Any) -> None:  # noqa: F811
    peer = Peer(Session(core.namespace))
    await peer.connect("9P2000.u")
    failure = await peer.fail(wire.Twalk, fid=0, newfid=1, wnames=("missing",))
    assert failure.errno == errno.ENOENT and "missing" in failure.ename
    assert isinstance(failure, Failed)


async def test_fids_on_a_deleted_job(peer: Peer) -> None:
    await peer.echo("clone", "gone:@daily:echo hi")
    cmd = await peer.walk("jobs/gone/cmd")
    opened = await peer.open("jobs/gone/status")
    job = await peer.walk("jobs/gone")
    await peer.echo("jobs/gone/ctl", "delete")
    # the stat of a held fid still answers; opening, walking and reading do not
    if peer.dotl:
        await peer.ok(wire.Tgetattr, wire.Rgetattr, fid=cmd, request_mask=wire.P9_GETATTR_ALL)
        peer.expect_errno(await peer.fail(wire.Tlopen, fid=cmd, flags=0), errno.ENOENT)
    else:
        await peer.ok(wire.Tstat, wire.Rstat, fid=cmd)
        peer.expect_errno(await peer.fail(wire.Topen, fid=cmd, mode=0), errno.ENOENT)
    peer.expect_errno(await peer.fail(wire.Twalk, fid=job, newfid=50, wnames=("cmd",)),
                      errno.ENOENT)  # fmt: skip
    peer.expect_errno(await peer.fail(wire.Tread, fid=opened, offset=0, count=100), errno.ENOENT)
    for fid in (cmd, opened, job):
        await peer.clunk(fid)
    assert await peer.ls("jobs") == []


def test_long_error_texts_are_cut_to_fit_the_smallest_msize() -> None:
    from jobd_9p.errors import MAX_ENAME, errno_reply

    for dialect in (wire.Dialect.P9P2000, wire.Dialect.U):
        reply = errno_reply(1, "é" * 1000, errno.EINVAL, dialect)
        assert isinstance(reply, wire.Rerror) and reply.ename.endswith("...")
        assert len(reply.ename.encode()) <= MAX_ENAME
        assert len(wire.encode(reply, dialect)) < MIN_MSIZE
