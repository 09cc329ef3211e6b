"""The read/write/list parts of the shared scenario list, for 9P client libraries.

Each client driver (``p9fs_driver.py``, ``pyroute2_driver.py``, the in-process py9p test) wraps its
library in a ``ClientFS`` and calls ``run_steps``. This module imports only the standard library:
drivers run it under other interpreters (the p9fs and pyroute2 virtual environments, where
``py9p`` is p9fs's own module of that name). Results are printed as the shell scenarios print them
(``PASS name`` / ``FAIL name: message``, then ``DONE``).

Paths are relative to the served root, ``/``-separated, without a leading slash.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import Protocol

EVERY_SECOND = "0/1 * * * * ? *"


class ClientError(Exception):
    """A request the server refused: the errno (.u/.L) and/or the text (9P2000) as the client
    library exposes them (either may be None where the library loses it)."""

    def __init__(self, errno_: int | None, text: str | None) -> None:
        super().__init__(f"errno {errno_}: {text}")
        self.errno = errno_
        self.text = text


class ClientFS(Protocol):
    """What a driver offers; every method raises ``ClientError`` when the server refuses."""

    def ls(self, path: str) -> list[str]: ...  # names in a directory, sorted
    def read(self, path: str) -> bytes: ...
    def write(self, path: str, data: bytes) -> None: ...  # the whole content, as echo > does
    def size(self, path: str) -> int: ...  # the size stat/getattr reports


class Failed(Exception):
    pass


def _eq(what: str, got: object, want: object) -> None:
    if got != want:
        raise Failed(f"{what}: got {got!r}, want {want!r}")


def _wait(what: str, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Failed(f"timed out waiting for {what}")
        time.sleep(0.2)  # real jobs firing in a real jobd: there is no clock to fake


def _refused(fs: ClientFS, what: str, action: Callable[[], object], err: int, text: str) -> None:
    """``action`` must fail; where the client shows the errno or the text, they must fit."""
    try:
        action()
    except ClientError as e:
        if e.errno is not None and e.errno != err:
            raise Failed(f"{what}: errno {e.errno}, want {err} ({e.text})") from e
        if e.text is not None and e.errno is None and text not in e.text:
            raise Failed(f"{what}: error text {e.text!r} does not say {text!r}") from e
        return
    raise Failed(f"{what}: succeeded but must fail")


def seed_walkthrough(fs: ClientFS) -> None:
    for name in ("clone", "jobs"):
        if name not in fs.ls(""):
            raise Failed(f"root lists {fs.ls('')}")
    fs.write("clone", f"hello:{EVERY_SECOND}:echo hello world".encode())
    _eq("jobs/", fs.ls("jobs"), ["hello"])
    _eq("job files", fs.ls("jobs/hello"), ["cmd", "ctl", "log", "schedule", "status"])
    _eq("cmd", fs.read("jobs/hello/cmd"), b"echo hello world\n")
    _eq("schedule", fs.read("jobs/hello/schedule").split(b"\n")[0], EVERY_SECOND.encode())
    _eq("new job's ctl", fs.read("jobs/hello/ctl"), b"stopped\n")
    fs.write("jobs/hello/ctl", b"start")
    _eq("ctl after start", fs.read("jobs/hello/ctl"), b"started\n")
    _wait("2 runs in the log", lambda: fs.read("jobs/hello/log").count(b":hello world\n") >= 2)
    log = fs.read("jobs/hello/log").decode().splitlines()
    if not log[0].endswith(":started"):
        raise Failed(f"first log line {log[0]!r}")
    if b"\nnext: " not in fs.read("jobs/hello/schedule"):
        raise Failed("started schedule shows no next run")
    if not fs.read("jobs/hello/status").startswith(b"state: started"):
        raise Failed(f"status {fs.read('jobs/hello/status')!r}")
    fs.write("jobs/hello/ctl", b"stop\n")
    _eq("ctl after stop", fs.read("jobs/hello/ctl"), b"stopped\n")
    if not fs.read("jobs/hello/log").endswith(b":stopped\n"):
        raise Failed("log has no stopped entry at its end")


def sizes_are_real(fs: ClientFS) -> None:
    fs.write("clone", b"sizes:*/5 * * * *:echo a:b:c")
    _eq("cmd keeps its colons", fs.read("jobs/sizes/cmd"), b"echo a:b:c\n")
    for name in ("cmd", "ctl", "schedule", "status", "log"):
        path = f"jobs/sizes/{name}"
        _eq(f"{name}: reported size", fs.size(path), len(fs.read(path)))


def edit_schedule_and_cmd(fs: ClientFS) -> None:
    fs.write("clone", b"edit:*/5 * * * *:echo one")
    fs.write("jobs/edit/schedule", b"0 12 * * MON-FRI\n")
    _eq("schedule", fs.read("jobs/edit/schedule").split(b"\n")[0], b"0 12 * * MON-FRI")
    fs.write("jobs/edit/cmd", b"echo a much longer command than before, to check truncation\n")
    fs.write("jobs/edit/cmd", b"echo 3\n")
    _eq("shorter cmd", fs.read("jobs/edit/cmd"), b"echo 3\n")
    _refused(fs, "*/0 schedule", lambda: fs.write("jobs/edit/schedule", b"*/0 * * * *\n"),
             errno.EINVAL, "invalid schedule")  # fmt: skip
    _eq("bad schedule changed it", fs.read("jobs/edit/schedule").split(b"\n")[0],
        b"0 12 * * MON-FRI")  # fmt: skip
    fs.write("jobs/edit/ctl", b"run\n")
    _wait("the run verb's output", lambda: b":3\n" in fs.read("jobs/edit/log"))


def bad_input(fs: ClientFS) -> None:
    before = fs.ls("jobs")
    for data, text in [
        (b"bad", "invalid job definition"),
        (b"a:* * * * *", "invalid job definition"),
        (b":* * * * *:true", "invalid job name"),
        (b"a/b:* * * * *:true", "invalid job name"),
        (b"a b:* * * * *:true", "invalid job name"),
        (b"x:*/0 * * * *:true", "invalid schedule"),
        (b"x:0 0 30 2 *:true", "invalid schedule"),
        (b"x:* * * * *:", "invalid command"),
    ]:
        _refused(fs, f"clone {data!r}", lambda d=data: fs.write("clone", d), errno.EINVAL, text)  # type: ignore[misc]
    _eq("bad clones created something", fs.ls("jobs"), before)
    fs.write("clone", b"dup:* * * * *:true")
    _refused(fs, "duplicate", lambda: fs.write("clone", b"dup:* * * * *:false"),
             errno.EEXIST, "job exists")  # fmt: skip
    _eq("duplicate changed the job", fs.read("jobs/dup/cmd"), b"true\n")
    _refused(fs, "ctl bogus", lambda: fs.write("jobs/dup/ctl", b"bogus\n"),
             errno.EINVAL, "unknown ctl verb")  # fmt: skip
    _eq("bad verb changed state", fs.read("jobs/dup/ctl"), b"stopped\n")
    _refused(fs, "missing job", lambda: fs.read("jobs/nope/cmd"), errno.ENOENT, "not found")


def delete_by_ctl(fs: ClientFS) -> None:
    for name in fs.ls("jobs"):
        fs.write(f"jobs/{name}/ctl", b"delete\n")
    _eq("jobs/ after deleting every job", fs.ls("jobs"), [])
    fs.write("clone", b"dup:* * * * *:true")
    _eq("history of a deleted job came back", fs.read("jobs/dup/log"), b"")
    fs.write("jobs/dup/ctl", b"delete")


def read_only(fs: ClientFS) -> None:
    """A job ``ro`` made by someone else (``READ_ONLY_JOB``, started): list it and read it."""
    _eq("jobs/", fs.ls("jobs"), ["ro"])
    _eq("job files", fs.ls("jobs/ro"), ["cmd", "ctl", "log", "schedule", "status"])
    _eq("cmd", fs.read("jobs/ro/cmd"), b"echo read only\n")
    _eq("ctl", fs.read("jobs/ro/ctl"), b"started\n")
    _wait("2 runs in the log", lambda: fs.read("jobs/ro/log").count(b":read only\n") >= 2)
    for name in ("cmd", "ctl", "schedule", "status", "log"):
        path = f"jobs/ro/{name}"
        _eq(f"{name}: reported size", fs.size(path), len(fs.read(path)))
    _refused(fs, "missing job", lambda: fs.read("jobs/nope/cmd"), errno.ENOENT, "not found")


READ_ONLY_JOB = f"ro:{EVERY_SECOND}:echo read only"

STEPS: list[tuple[str, Callable[[ClientFS], None]]] = [
    ("seed-walkthrough", seed_walkthrough),
    ("sizes-are-real", sizes_are_real),
    ("edit-schedule-and-cmd", edit_schedule_and_cmd),
    ("bad-input", bad_input),
    ("delete-by-ctl", delete_by_ctl),
    ("read-only", read_only),  # only when asked for by name
]
WRITE_STEPS = [name for name, _ in STEPS if name != "read-only"]


def run_steps(fs: ClientFS, only: list[str] | None = None) -> list[str]:
    """Run the steps named in ``only`` (default ``WRITE_STEPS``); print and return
    ``PASS``/``FAIL`` lines."""
    lines = []
    for name, step in STEPS:
        if name not in (only or WRITE_STEPS):
            continue
        try:
            step(fs)
            lines.append(f"PASS {name}")
        except (Failed, ClientError) as e:
            lines.append(f"FAIL {name}: {type(e).__name__}: {e}")
        print(lines[-1], flush=True)
    print("DONE", flush=True)
    return lines
