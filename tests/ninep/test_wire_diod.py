"""The codec against a real 9P2000.L peer: diod (Debian ``diod``) serving a temp dir on loopback.

A tiny blocking client built only from ``jobd_9p.wire`` sends .L requests; every reply diod
sends must decode (whole and in fragments), make sense, and re-encode to exactly diod's bytes.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobd_9p import wire
from jobd_9p.wire import NOFID, NOTAG, Decoder, Dialect, Message, Qid, decode, encode

DIOD = shutil.which("diod") or "/usr/sbin/diod"
MSIZE = 8192 + wire.IOHDRSZ


class Peer:
    """A blocking one-request-at-a-time 9P client that keeps every raw reply frame."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.decoder = Decoder(Dialect.L, max_size=MSIZE)
        self.dialect = Dialect.L
        self.frames: list[tuple[bytes, Message]] = []
        self._tag = 0

    def _recv_exactly(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "diod closed the connection"
            buf += chunk
        return buf

    def rpc(self, msg: Message) -> Message:
        self.sock.sendall(encode(msg, self.dialect))
        head = self._recv_exactly(4)
        raw = head + self._recv_exactly(int.from_bytes(head, "little") - 4)
        # small pieces through the stream decoder: it must cope with any fragmentation
        for i in range(0, len(raw), 5):
            assert self.decoder.next_message() is None
            self.decoder.feed(raw[i : i + 5])
        reply = self.decoder.next_message()
        assert reply is not None and reply.tag == msg.tag
        assert encode(reply, self.dialect) == raw  # canonical: we would send diod's bytes
        self.frames.append((raw, reply))
        return reply

    def tag(self) -> int:
        self._tag += 1
        return self._tag

    def close(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def export(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    root = tmp_path / "export"
    root.mkdir()
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "sub").mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [DIOD, "-f", "-n", "-N", "-l", f"127.0.0.1:{port}", "-e", str(root), "-L", "stderr"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("diod did not start") from None
                time.sleep(0.02)
        yield root, port
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _attach(root: Path, port: int) -> Peer:
    peer = Peer(port)
    rv = peer.rpc(wire.Tversion(NOTAG, MSIZE, "9P2000.L"))
    assert rv == wire.Rversion(NOTAG, MSIZE, "9P2000.L")
    ra = peer.rpc(wire.Tattach(peer.tag(), 0, NOFID, "root", str(root), 0))
    assert isinstance(ra, wire.Rattach) and ra.qid.type & wire.QTDIR
    return peer


def test_diod_read_path_replies_decode(export: tuple[Path, int]) -> None:
    root, port = export
    p = _attach(root, port)
    ga = p.rpc(wire.Tgetattr(p.tag(), 0, wire.P9_GETATTR_ALL))
    assert isinstance(ga, wire.Rgetattr)
    assert ga.valid & wire.P9_GETATTR_BASIC == wire.P9_GETATTR_BASIC
    assert ga.mode & 0o170000 == 0o040000 and ga.qid.type & wire.QTDIR

    rw = p.rpc(wire.Twalk(p.tag(), 0, 1, ("a.txt",)))
    assert isinstance(rw, wire.Rwalk) and len(rw.wqids) == 1
    assert rw.wqids[0].path == os.stat(root / "a.txt").st_ino
    assert isinstance(p.rpc(wire.Tlopen(p.tag(), 1, wire.P9_DOTL_RDONLY)), wire.Rlopen)
    rr = p.rpc(wire.Tread(p.tag(), 1, 0, 100))
    assert isinstance(rr, wire.Rread) and rr.data == b"hello\n"
    ga = p.rpc(wire.Tgetattr(p.tag(), 1, wire.P9_GETATTR_BASIC))
    assert isinstance(ga, wire.Rgetattr) and ga.size == 6

    assert isinstance(p.rpc(wire.Twalk(p.tag(), 0, 2, ())), wire.Rwalk)
    assert isinstance(p.rpc(wire.Tlopen(p.tag(), 2, wire.P9_DOTL_DIRECTORY)), wire.Rlopen)
    rd = p.rpc(wire.Treaddir(p.tag(), 2, 0, 4096))
    assert isinstance(rd, wire.Rreaddir)
    entries = wire.decode_dirents(rd.data)
    assert {e.name for e in entries} >= {"a.txt", "sub"}
    assert all(isinstance(e.qid, Qid) and e.offset for e in entries)
    # offsets are cookies: resuming after the last one yields nothing more
    end = p.rpc(wire.Treaddir(p.tag(), 2, entries[-1].offset, 4096))
    assert end == wire.Rreaddir(end.tag, b"")

    sf = p.rpc(wire.Tstatfs(p.tag(), 0))
    assert isinstance(sf, wire.Rstatfs) and sf.bsize > 0 and sf.namelen >= 255
    err = p.rpc(wire.Twalk(p.tag(), 0, 3, ("nope",)))
    assert isinstance(err, wire.Rlerror) and err.ecode == errno.ENOENT
    assert isinstance(p.rpc(wire.Tclunk(p.tag(), 1)), wire.Rclunk)
    assert isinstance(p.rpc(wire.Tflush(p.tag(), 999)), wire.Rflush)
    _check_frames(p)
    p.close()


def test_diod_write_path_replies_decode(export: tuple[Path, int]) -> None:
    root, port = export
    p = _attach(root, port)
    rm = p.rpc(wire.Tmkdir(p.tag(), 0, "d", 0o755, 0))
    assert isinstance(rm, wire.Rmkdir) and rm.qid.type & wire.QTDIR
    assert isinstance(p.rpc(wire.Twalk(p.tag(), 0, 1, ("d",))), wire.Rwalk)
    flags = wire.P9_DOTL_RDWR | wire.P9_DOTL_CREATE
    rc = p.rpc(wire.Tlcreate(p.tag(), 1, "f", flags, 0o644, 0))
    assert isinstance(rc, wire.Rlcreate) and rc.qid.type == wire.QTFILE
    assert isinstance(p.rpc(wire.Twrite(p.tag(), 1, 0, b"start\n")), wire.Rwrite)
    assert isinstance(p.rpc(wire.Tfsync(p.tag(), 1, 0)), wire.Rfsync)
    lock = wire.Tlock(p.tag(), 1, wire.P9_LOCK_TYPE_WRLCK, 0, 0, 0, os.getpid(), "host")
    assert p.rpc(lock) == wire.Rlock(lock.tag, wire.P9_LOCK_SUCCESS)
    gl = p.rpc(wire.Tgetlock(p.tag(), 1, wire.P9_LOCK_TYPE_WRLCK, 0, 0, os.getpid(), "host"))
    assert isinstance(gl, wire.Rgetlock)
    assert (root / "d" / "f").read_bytes() == b"start\n"

    assert isinstance(p.rpc(wire.Twalk(p.tag(), 1, 4, ())), wire.Rwalk)
    trunc = wire.Tsetattr(p.tag(), 4, wire.P9_SETATTR_SIZE, 0, 0, 0, 0, 0, 0, 0, 0)
    assert isinstance(p.rpc(trunc), wire.Rsetattr)
    assert (root / "d" / "f").read_bytes() == b""

    assert isinstance(p.rpc(wire.Twalk(p.tag(), 0, 2, ("d",))), wire.Rwalk)
    sym = p.rpc(wire.Tsymlink(p.tag(), 2, "ln", "f", 0))
    assert isinstance(sym, wire.Rsymlink) and sym.qid.type & wire.QTSYMLINK
    assert isinstance(p.rpc(wire.Twalk(p.tag(), 2, 3, ("ln",))), wire.Rwalk)
    assert p.rpc(wire.Treadlink(p.tag(), 3)) == wire.Rreadlink(p._tag, "f")
    assert isinstance(p.rpc(wire.Tlink(p.tag(), 2, 4, "hard")), wire.Rlink)
    assert isinstance(p.rpc(wire.Tmknod(p.tag(), 2, "fifo", 0o10644, 0, 0, 0)), wire.Rmknod)
    ra = p.rpc(wire.Trenameat(p.tag(), 2, "hard", 2, "hard2"))
    # diod leaves renameat/unlinkat to the client's fallbacks (Trename, Tremove)
    if isinstance(ra, wire.Rlerror):
        assert ra.ecode == errno.EOPNOTSUPP
        os.rename(root / "d" / "hard", root / "d" / "hard2")
    else:
        assert isinstance(ra, wire.Rrenameat)
    assert isinstance(p.rpc(wire.Trename(p.tag(), 3, 2, "ln2")), wire.Rrename)
    xw = p.rpc(wire.Txattrwalk(p.tag(), 2, 5, "user.nothing"))
    assert isinstance(xw, wire.Rlerror | wire.Rxattrwalk)
    ua = p.rpc(wire.Tunlinkat(p.tag(), 2, "hard2", 0))
    if isinstance(ua, wire.Runlinkat):
        assert not (root / "d" / "hard2").exists()
        err = p.rpc(wire.Tunlinkat(p.tag(), 0, "d", wire.AT_REMOVEDIR))
        assert isinstance(err, wire.Rlerror) and err.ecode == errno.ENOTEMPTY
    else:
        assert ua == wire.Rlerror(ua.tag, errno.EOPNOTSUPP)
    assert isinstance(p.rpc(wire.Tremove(p.tag(), 3)), wire.Rremove)
    _check_frames(p)
    p.close()


def test_diod_refuses_other_versions_with_a_dotl_error(export: tuple[Path, int]) -> None:
    # diod speaks only .L and answers any other Tversion with Rlerror(EIO) rather than
    # Rversion "unknown": a reply only the .L table decodes; the 9P2000 table rejects it cleanly.
    _root, port = export
    for version in ("9P2000.u", "9P2000", "bogus"):
        p = Peer(port)
        reply = p.rpc(wire.Tversion(NOTAG, MSIZE, version))
        assert reply == wire.Rlerror(NOTAG, errno.EIO)
        with pytest.raises(wire.ProtocolError, match="Rlerror is not valid") as info:
            decode(p.frames[0][0], Dialect.P9P2000)
        assert info.value.tag == NOTAG
        _check_frames(p)
        p.close()


def _check_frames(peer: Peer) -> None:
    # diod's raw reply frames decode the same through the one-shot decode()
    assert peer.frames
    for frame, msg in peer.frames:
        assert decode(frame, peer.dialect) == msg
