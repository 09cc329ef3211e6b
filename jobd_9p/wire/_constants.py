"""Protocol constants of 9P2000, 9P2000.u and 9P2000.L.

Values follow intro(5)/stat(5)/open(5) for 9P2000, the Linux v9fs documentation for .u and
Linux ``include/net/9p/9p.h`` / diod's protocol.md for .L.
"""

from typing import Final

# --- frame layout -----------------------------------------------------------------------------
HEADER_SIZE: Final = 7  # size[4] type[1] tag[2]
IOHDRSZ: Final = 24  # room for the header of Tread/Twrite/Rread: msize - IOHDRSZ = max data
READDIRHDRSZ: Final = 24  # Linux P9_READDIRHDRSZ, room for the header of Rreaddir
MAXWELEM: Final = 16  # most names in one Twalk / qids in one Rwalk
MIN_MSIZE: Final = 512  # smallest msize a server should agree to (header + stat/getattr + error)
DEFAULT_MSIZE: Final = 8192 + IOHDRSZ

NOTAG: Final = 0xFFFF
NOFID: Final = 0xFFFFFFFF
NONUNAME: Final = 0xFFFFFFFF  # .u/.L: "no numeric uid given"

# --- qid types (intro(5)) -----------------------------------------------------------------------
QTDIR: Final = 0x80
QTAPPEND: Final = 0x40
QTEXCL: Final = 0x20
QTMOUNT: Final = 0x10
QTAUTH: Final = 0x08
QTTMP: Final = 0x04
QTSYMLINK: Final = 0x02  # .u
QTLINK: Final = 0x01  # .u
QTFILE: Final = 0x00

# --- stat mode bits (stat(5); .u additions) ---------------------------------------------------
DMDIR: Final = 0x80000000
DMAPPEND: Final = 0x40000000
DMEXCL: Final = 0x20000000
DMMOUNT: Final = 0x10000000
DMAUTH: Final = 0x08000000
DMTMP: Final = 0x04000000
DMSYMLINK: Final = 0x02000000  # .u
DMLINK: Final = 0x01000000  # .u
DMDEVICE: Final = 0x00800000  # .u
DMNAMEDPIPE: Final = 0x00200000  # .u
DMSOCKET: Final = 0x00100000  # .u
DMSETUID: Final = 0x00080000  # .u
DMSETGID: Final = 0x00040000  # .u
DMSETVTX: Final = 0x00010000  # .u
DMREAD: Final = 0x4
DMWRITE: Final = 0x2
DMEXEC: Final = 0x1

# --- Topen / Tcreate modes (open(5)) ----------------------------------------------------------
OREAD: Final = 0
OWRITE: Final = 1
ORDWR: Final = 2
OEXEC: Final = 3
OTRUNC: Final = 0x10
OCEXEC: Final = 0x20
ORCLOSE: Final = 0x40
OAPPEND: Final = 0x80  # .u
OEXCL: Final = 0x1000  # .u

# --- Tlopen / Tlcreate flags (Linux open flags as carried by 9P2000.L, 9p.h P9_DOTL_*) -----------
P9_DOTL_RDONLY: Final = 0o0
P9_DOTL_WRONLY: Final = 0o1
P9_DOTL_RDWR: Final = 0o2
P9_DOTL_ACCMODE: Final = 0o3
P9_DOTL_NOACCESS: Final = 0o3
P9_DOTL_CREATE: Final = 0o100
P9_DOTL_EXCL: Final = 0o200
P9_DOTL_NOCTTY: Final = 0o400
P9_DOTL_TRUNC: Final = 0o1000
P9_DOTL_APPEND: Final = 0o2000
P9_DOTL_NONBLOCK: Final = 0o4000
P9_DOTL_DSYNC: Final = 0o10000
P9_DOTL_FASYNC: Final = 0o20000
P9_DOTL_DIRECT: Final = 0o40000
P9_DOTL_LARGEFILE: Final = 0o100000
P9_DOTL_DIRECTORY: Final = 0o200000
P9_DOTL_NOFOLLOW: Final = 0o400000
P9_DOTL_NOATIME: Final = 0o1000000
P9_DOTL_CLOEXEC: Final = 0o2000000
P9_DOTL_SYNC: Final = 0o4000000

# --- Tgetattr request_mask / Rgetattr valid ---------------------------------------------------
P9_GETATTR_MODE: Final = 0x00000001
P9_GETATTR_NLINK: Final = 0x00000002
P9_GETATTR_UID: Final = 0x00000004
P9_GETATTR_GID: Final = 0x00000008
P9_GETATTR_RDEV: Final = 0x00000010
P9_GETATTR_ATIME: Final = 0x00000020
P9_GETATTR_MTIME: Final = 0x00000040
P9_GETATTR_CTIME: Final = 0x00000080
P9_GETATTR_INO: Final = 0x00000100
P9_GETATTR_SIZE: Final = 0x00000200
P9_GETATTR_BLOCKS: Final = 0x00000400
P9_GETATTR_BTIME: Final = 0x00000800
P9_GETATTR_GEN: Final = 0x00001000
P9_GETATTR_DATA_VERSION: Final = 0x00002000
P9_GETATTR_BASIC: Final = 0x000007FF  # mask for the fields up to BLOCKS
P9_GETATTR_ALL: Final = 0x00003FFF

# --- Tsetattr valid ---------------------------------------------------------------------------
P9_SETATTR_MODE: Final = 0x00000001
P9_SETATTR_UID: Final = 0x00000002
P9_SETATTR_GID: Final = 0x00000004
P9_SETATTR_SIZE: Final = 0x00000008
P9_SETATTR_ATIME: Final = 0x00000010
P9_SETATTR_MTIME: Final = 0x00000020
P9_SETATTR_CTIME: Final = 0x00000040
P9_SETATTR_ATIME_SET: Final = 0x00000080
P9_SETATTR_MTIME_SET: Final = 0x00000100

# --- Tunlinkat flags --------------------------------------------------------------------------
AT_REMOVEDIR: Final = 0x200

# --- Tlock / Tgetlock -------------------------------------------------------------------------
P9_LOCK_TYPE_RDLCK: Final = 0
P9_LOCK_TYPE_WRLCK: Final = 1
P9_LOCK_TYPE_UNLCK: Final = 2
P9_LOCK_FLAGS_BLOCK: Final = 1
P9_LOCK_FLAGS_RECLAIM: Final = 2
P9_LOCK_SUCCESS: Final = 0
P9_LOCK_BLOCKED: Final = 1
P9_LOCK_ERROR: Final = 2
P9_LOCK_GRACE: Final = 3

# --- Txattrcreate flags -----------------------------------------------------------------------
P9_XATTR_CREATE: Final = 1
P9_XATTR_REPLACE: Final = 2
