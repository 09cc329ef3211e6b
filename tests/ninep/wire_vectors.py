"""(dialects, message, bytes) vectors for every 9P message, derived by hand from the specs.

Each hex string is written field by field (size[4] type[1] tag[2] fields...) from intro(5),
the per-message manual pages, the Linux v9fs .u documentation and diod's protocol.md /
Linux net/9p/protocol.c for .L — not produced by the codec under test.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from jobd_9p.wire import (
    AT_REMOVEDIR,
    DMSYMLINK,
    NOFID,
    NONUNAME,
    NOTAG,
    P9_DOTL_TRUNC,
    P9_DOTL_WRONLY,
    P9_GETATTR_BASIC,
    P9_LOCK_FLAGS_BLOCK,
    P9_LOCK_SUCCESS,
    P9_LOCK_TYPE_RDLCK,
    P9_LOCK_TYPE_UNLCK,
    P9_LOCK_TYPE_WRLCK,
    P9_SETATTR_SIZE,
    QTAUTH,
    QTDIR,
    QTFILE,
    QTSYMLINK,
    Dialect,
    Dirent,
    Message,
    Qid,
    Rattach,
    Rauth,
    Rclunk,
    Rcreate,
    Rerror,
    Rflush,
    Rfsync,
    Rgetattr,
    Rgetlock,
    Rlcreate,
    Rlerror,
    Rlink,
    Rlock,
    Rlopen,
    Rmkdir,
    Rmknod,
    Ropen,
    Rread,
    Rreaddir,
    Rreadlink,
    Rremove,
    Rrename,
    Rrenameat,
    Rsetattr,
    Rstat,
    Rstatfs,
    Rsymlink,
    Runlinkat,
    Rversion,
    Rwalk,
    Rwrite,
    Rwstat,
    Rxattrcreate,
    Rxattrwalk,
    Stat,
    Tattach,
    Tauth,
    Tclunk,
    Tcreate,
    Tflush,
    Tfsync,
    Tgetattr,
    Tgetlock,
    Tlcreate,
    Tlink,
    Tlock,
    Tlopen,
    Tmkdir,
    Tmknod,
    Topen,
    Tread,
    Treaddir,
    Treadlink,
    Tremove,
    Trename,
    Trenameat,
    Tsetattr,
    Tstat,
    Tstatfs,
    Tsymlink,
    Tunlinkat,
    Tversion,
    Twalk,
    Twrite,
    Twstat,
    Txattrcreate,
    Txattrwalk,
)

ALL = (Dialect.P9P2000, Dialect.U, Dialect.L)
EXT = (Dialect.U, Dialect.L)  # .u layouts (Linux writes the '?' fields for .u and .L)
P9 = (Dialect.P9P2000,)
L = (Dialect.L,)


@dataclass(frozen=True)
class Vector:
    dialects: tuple[Dialect, ...]
    message: Message
    hex: str  # spaces between fields for reading; ignored

    @property
    def frame(self) -> bytes:
        return bytes.fromhex(self.hex.replace(" ", ""))

    def id(self) -> str:
        names = "+".join(d.name for d in self.dialects)
        return f"{type(self.message).__name__}-{names}-{self.hex[:8]}"


T_1700000000 = "00f15365"  # 1700000000 = 0x6553f100, little-endian
STAT = Stat(0, 0, Qid(QTFILE, 1, 42), 0o644, 1700000000, 1700000000, 5, "ctl", "jobd", "jobd", "")
STAT_U = dataclasses.replace(STAT, n_uid=1000, n_gid=1000)
STAT_HEX = (
    "0000 00000000 00 01000000 2a00000000000000 a4010000"
    f" {T_1700000000} {T_1700000000} 0500000000000000"
    " 0300 63746c 0400 6a6f6264 0400 6a6f6264 0000"
)
# Twstat "don't touch": every integer all ones, every string empty; here with length 0
# (the truncation `echo x > file` does on 9P2000/.u).
KEEP = Stat(
    0xFFFF,
    0xFFFFFFFF,
    Qid(0xFF, 0xFFFFFFFF, 2**64 - 1),
    0xFFFFFFFF,
    0xFFFFFFFF,
    0xFFFFFFFF,
    0,
    "",
    "",
    "",
    "",
)
KEEP_U = KEEP  # .u's extra fields "don't touch" are "" and NONUNAME: the defaults
KEEP_HEX = (
    "ffff ffffffff ff ffffffff ffffffffffffffff ffffffff ffffffff ffffffff"
    " 0000000000000000 0000 0000 0000 0000"
)

# fmt: off
CLASSIC = [
    Vector(ALL, Tversion(NOTAG, 8192, "9P2000"), "13000000 64 ffff 00200000 0600 395032303030"),
    Vector(ALL, Rversion(NOTAG, 8192, "9P2000"), "13000000 65 ffff 00200000 0600 395032303030"),
    Vector(ALL, Tversion(NOTAG, 8216, "9P2000.L"), "15000000 64 ffff 18200000 0800 39503230303"
           "02e4c"),
    Vector(ALL, Rversion(NOTAG, 8192, "unknown"), "14000000 65 ffff 00200000 0700 756e6b6e6f776e"),
    Vector(P9, Tauth(1, 0x10, "glenda", ""), "15000000 66 0100 10000000 0600 676c656e6461 0000"),
    Vector(EXT, Tauth(1, 0x10, "glenda", "", 1000),
           "19000000 66 0100 10000000 0600 676c656e6461 0000 e8030000"),
    Vector(ALL, Rauth(1, Qid(QTAUTH, 0, 7)), "14000000 67 0100 08 00000000 0700000000000000"),
    Vector(P9, Tattach(2, 0, NOFID, "glenda", "/jobs"),
           "1e000000 68 0200 00000000 ffffffff 0600 676c656e6461 0500 2f6a6f6273"),
    Vector(EXT, Tattach(2, 0, NOFID, "glenda", "/jobs", 0),
           "22000000 68 0200 00000000 ffffffff 0600 676c656e6461 0500 2f6a6f6273 00000000"),
    Vector(EXT, Tattach(2, 0, NOFID, "", "", NONUNAME),
           "17000000 68 0200 00000000 ffffffff 0000 0000 ffffffff"),
    Vector(ALL, Rattach(2, Qid(QTDIR, 3, 1)), "14000000 69 0200 80 03000000 0100000000000000"),
    Vector(P9, Rerror(3, "file not found"),
           "17000000 6b 0300 0e00 66696c65206e6f7420666f756e64"),
    Vector(EXT, Rerror(3, "file not found", 2),
           "1b000000 6b 0300 0e00 66696c65206e6f7420666f756e64 02000000"),
    Vector(ALL, Tflush(4, 3), "09000000 6c 0400 0300"),
    Vector(ALL, Rflush(4), "07000000 6d 0400"),
    Vector(ALL, Twalk(5, 0, 1, ("jobs", "backup")),
           "1f000000 6e 0500 00000000 01000000 0200 0400 6a6f6273 0600 6261636b7570"),
    Vector(ALL, Twalk(5, 0, 1, ()), "11000000 6e 0500 00000000 01000000 0000"),
    Vector(ALL, Rwalk(5, (Qid(QTDIR, 0, 2), Qid(QTDIR, 0, 9))),
           "23000000 6f 0500 0200 80 00000000 0200000000000000 80 00000000 0900000000000000"),
    Vector(ALL, Rwalk(5, ()), "09000000 6f 0500 0000"),
    Vector(ALL, Topen(6, 1, 0x11), "0c000000 70 0600 01000000 11"),  # OWRITE|OTRUNC
    Vector(ALL, Ropen(6, Qid(QTFILE, 4, 9), 8168),
           "18000000 71 0600 00 04000000 0900000000000000 e81f0000"),
    Vector(P9, Tcreate(7, 1, "new", 0o644, 2), "15000000 72 0700 01000000 0300 6e6577 a4010000 02"),
    Vector(EXT, Tcreate(7, 1, "ln", DMSYMLINK | 0o777, 0, "/x"),
           "18000000 72 0700 01000000 0200 6c6e ff010002 00 0200 2f78"),
    Vector(ALL, Rcreate(7, Qid(QTFILE, 0, 10), 0),
           "18000000 73 0700 00 00000000 0a00000000000000 00000000"),
    Vector(ALL, Tread(8, 1, 4096, 8168), "17000000 74 0800 01000000 0010000000000000 e81f0000"),
    Vector(ALL, Rread(8, b"hello\n"), "11000000 75 0800 06000000 68656c6c6f0a"),
    Vector(ALL, Rread(8, b""), "0b000000 75 0800 00000000"),
    Vector(ALL, Twrite(9, 1, 0, b"start\n"),
           "1d000000 76 0900 01000000 0000000000000000 06000000 73746172740a"),
    Vector(ALL, Rwrite(9, 6), "0b000000 77 0900 06000000"),
    Vector(ALL, Tclunk(10, 1), "0b000000 78 0a00 01000000"),
    Vector(ALL, Rclunk(10), "07000000 79 0a00"),
    Vector(ALL, Tremove(11, 1), "0b000000 7a 0b00 01000000"),
    Vector(ALL, Rremove(11), "07000000 7b 0b00"),
    Vector(ALL, Tstat(12, 1), "0b000000 7c 0c00 01000000"),
    Vector(P9, Rstat(12, STAT), f"45000000 7d 0c00 3c00 3a00 {STAT_HEX}"),
    Vector(EXT, Rstat(12, STAT_U),
           f"53000000 7d 0c00 4a00 4800 {STAT_HEX} 0000 e8030000 e8030000 ffffffff"),
    Vector(P9, Twstat(13, 1, KEEP), f"3e000000 7e 0d00 01000000 3100 2f00 {KEEP_HEX}"),
    Vector(EXT, Twstat(13, 1, KEEP_U),
           f"4c000000 7e 0d00 01000000 3f00 3d00 {KEEP_HEX} 0000 ffffffff ffffffff ffffffff"),
    Vector(ALL, Rwstat(13), "07000000 7f 0d00"),
]
# fmt: on

DIRENTS = (
    Dirent(Qid(QTDIR, 0, 2), 1, 4, "jobs"),  # DT_DIR
    Dirent(Qid(QTFILE, 0, 3), 2, 8, "clone"),  # DT_REG
)
DIRENTS_HEX = (
    "80 00000000 0200000000000000 0100000000000000 04 0400 6a6f6273"
    " 00 00000000 0300000000000000 0200000000000000 08 0500 636c6f6e65"
)
T = T_1700000000 + "00000000"  # as a u64

# fmt: off
DOTL = [
    Vector(L, Rlerror(1, 2), "0b000000 07 0100 02000000"),
    Vector(L, Tstatfs(1, 0), "0b000000 08 0100 00000000"),
    Vector(L, Rstatfs(1, 0x01021997, 4096, 100, 50, 40, 1000, 900, 7, 255),
           "43000000 09 0100 97190201 00100000 6400000000000000 3200000000000000"
           " 2800000000000000 e803000000000000 8403000000000000 0700000000000000 ff000000"),
    Vector(L, Tlopen(2, 1, P9_DOTL_WRONLY | P9_DOTL_TRUNC), "0f000000 0c 0200 01000000 01020000"),
    Vector(L, Rlopen(2, Qid(QTFILE, 3, 9), 0),
           "18000000 0d 0200 00 03000000 0900000000000000 00000000"),
    Vector(L, Tlcreate(3, 1, "f", 0o101, 0o100644, 1000),
           "1a000000 0e 0300 01000000 0100 66 41000000 a4810000 e8030000"),
    Vector(L, Rlcreate(3, Qid(QTFILE, 0, 11), 8168),
           "18000000 0f 0300 00 00000000 0b00000000000000 e81f0000"),
    Vector(L, Tsymlink(4, 1, "ln", "tgt", 0),
           "18000000 10 0400 01000000 0200 6c6e 0300 746774 00000000"),
    Vector(L, Rsymlink(4, Qid(QTSYMLINK, 0, 12)), "14000000 11 0400 02 00000000 0c00000000000000"),
    Vector(L, Tmknod(5, 1, "p", 0o10644, 0, 0, 0),
           "1e000000 12 0500 01000000 0100 70 a4110000 00000000 00000000 00000000"),
    Vector(L, Rmknod(5, Qid(QTFILE, 0, 13)), "14000000 13 0500 00 00000000 0d00000000000000"),
    Vector(L, Trename(6, 2, 1, "b"), "12000000 14 0600 02000000 01000000 0100 62"),
    Vector(L, Rrename(6), "07000000 15 0600"),
    Vector(L, Treadlink(7, 2), "0b000000 16 0700 02000000"),
    Vector(L, Rreadlink(7, "/tmp"), "0d000000 17 0700 0400 2f746d70"),
    Vector(L, Tgetattr(8, 1, P9_GETATTR_BASIC), "13000000 18 0800 01000000 ff07000000000000"),
    Vector(L, Rgetattr(8, 0x7FF, Qid(QTFILE, 1, 42), 0o100644, 0, 0, 1, 0, 5, 4096, 1,
                       1700000000, 5, 1700000000, 0, 1700000000, 0, 0, 0, 0, 0),
           "a0000000 19 0800 ff07000000000000 00 01000000 2a00000000000000 a4810000 00000000"
           " 00000000 0100000000000000 0000000000000000 0500000000000000 0010000000000000"
           f" 0100000000000000 {T} 0500000000000000 {T} 0000000000000000 {T}"
           " 0000000000000000 0000000000000000 0000000000000000 0000000000000000"
           " 0000000000000000"),
    Vector(L, Tsetattr(9, 1, P9_SETATTR_SIZE, 0, 0, 0, 0, 0, 0, 0, 0),
           "43000000 1a 0900 01000000 08000000 00000000 00000000 00000000 0000000000000000"
           " 0000000000000000 0000000000000000 0000000000000000 0000000000000000"),
    Vector(L, Rsetattr(9), "07000000 1b 0900"),
    Vector(L, Txattrwalk(10, 1, 2, "user.x"),
           "17000000 1e 0a00 01000000 02000000 0600 757365722e78"),
    Vector(L, Rxattrwalk(10, 0), "0f000000 1f 0a00 0000000000000000"),
    Vector(L, Txattrcreate(11, 2, "user.x", 3, 0),
           "1f000000 20 0b00 02000000 0600 757365722e78 0300000000000000 00000000"),
    Vector(L, Rxattrcreate(11), "07000000 21 0b00"),
    Vector(L, Treaddir(12, 1, 0, 8168), "17000000 28 0c00 01000000 0000000000000000 e81f0000"),
    Vector(L, Rreaddir(12, bytes.fromhex(DIRENTS_HEX.replace(" ", ""))),
           f"44000000 29 0c00 39000000 {DIRENTS_HEX}"),
    Vector(L, Tfsync(13, 1, 0), "0f000000 32 0d00 01000000 00000000"),
    Vector(L, Rfsync(13), "07000000 33 0d00"),
    Vector(L, Tlock(14, 1, P9_LOCK_TYPE_WRLCK, P9_LOCK_FLAGS_BLOCK, 0, 0, 1234, "host"),
           "2a000000 34 0e00 01000000 01 01000000 0000000000000000 0000000000000000 d2040000"
           " 0400 686f7374"),
    Vector(L, Rlock(14, P9_LOCK_SUCCESS), "08000000 35 0e00 00"),
    Vector(L, Tgetlock(15, 1, P9_LOCK_TYPE_RDLCK, 10, 20, 1234, "host"),
           "26000000 36 0f00 01000000 00 0a00000000000000 1400000000000000 d2040000 0400 686f7374"),
    Vector(L, Rgetlock(15, P9_LOCK_TYPE_UNLCK, 10, 20, 1234, "host"),
           "22000000 37 0f00 02 0a00000000000000 1400000000000000 d2040000 0400 686f7374"),
    Vector(L, Tlink(16, 1, 2, "hard"), "15000000 46 1000 01000000 02000000 0400 68617264"),
    Vector(L, Rlink(16), "07000000 47 1000"),
    Vector(L, Tmkdir(17, 1, "d", 0o755, 0), "16000000 48 1100 01000000 0100 64 ed010000 00000000"),
    Vector(L, Rmkdir(17, Qid(QTDIR, 0, 14)), "14000000 49 1100 80 00000000 0e00000000000000"),
    Vector(L, Trenameat(18, 1, "a", 1, "b"), "15000000 4a 1200 01000000 0100 61 01000000 0100 62"),
    Vector(L, Rrenameat(18), "07000000 4b 1200"),
    Vector(L, Tunlinkat(19, 1, "backup", AT_REMOVEDIR),
           "17000000 4c 1300 01000000 0600 6261636b7570 00020000"),
    Vector(L, Runlinkat(19), "07000000 4d 1300"),
]
# fmt: on

VECTORS = CLASSIC + DOTL
