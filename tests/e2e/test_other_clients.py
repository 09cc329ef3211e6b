"""Other real 9P clients against a ``jobd`` subprocess: diod's tools (C, 9P2000.L), python-9p's
``py9p.Client`` (9P2000), p9fs (fsspec; 9P2000.L, .u, 9P2000) and pyroute2's plan9 client (9P2000,
asyncio), the last two from their own virtual environments (``clients/venvs.py``).

The Python clients run the read/write/list parts of the scenario list (``clients/steps.py``); each
client's quirks, and whose bugs they are, are documented in its driver.
"""

from __future__ import annotations

import itertools
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import py9p
import pytest
from _jobd_process import JobdProcess
from clients.steps import READ_ONLY_JOB, ClientError, run_steps
from clients.venvs import P9FS, PYROUTE2, ClientLib, ClientVenvError, client_python

CLIENTS = Path(__file__).parent / "clients"
DRIVER_TIMEOUT = 120


def _tool(*argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if ok:
        assert done.returncode == 0, f"{argv}: exit {done.returncode}: {done.stderr}"
    return done


def _jobctl(jobd: JobdProcess, *args: str) -> None:
    _tool("jobctl", "--addr", jobd.addr, *args)


def _problems(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    found = [line for line in lines if line.startswith("FAIL")]
    if "DONE" not in lines:
        found.append("the driver did not finish")
    return found


# --------------------------------------------------------------------------------- diod's tools
def test_diod_tools_list_and_read(jobd_process: JobdProcess) -> None:
    """diodls and diodcat (the tools that read a server's tree; dioddate, diodshowmount and
    diodload read diod's own ``ctl`` file system — date, connections, null — that jobd has not)."""
    addr = jobd_process.addr
    _jobctl(jobd_process, "add", "hello", "0/1 * * * * ? *", "echo hello world")
    _jobctl(jobd_process, "start", "hello")
    assert _tool("diodls", "-s", addr, "-a", "/").stdout.split() == ["clone", "jobs", "stats"]
    assert _tool("diodls", "-s", addr, "-a", "/", "jobs").stdout.split() == ["hello"]
    long = _tool("diodls", "-s", addr, "-a", "/", "-m", "8192", "-l", "jobs/hello").stdout
    rows = {line.split()[-1]: line.split() for line in long.splitlines()}
    assert sorted(rows) == ["cmd", "ctl", "log", "schedule", "status"]
    assert rows["cmd"][0].startswith("-rw-r--r--") and rows["cmd"][4] == "17"
    out = _tool("diodcat", "-s", addr, "-a", "/", "jobs/hello/cmd", "jobs/hello/ctl").stdout
    assert out == "echo hello world\nstarted\n"
    status = _tool("diodcat", "-s", addr, "-a", "/", "jobs/hello/status").stdout
    assert status.startswith("state: started\n")
    size = int(rows["status"][4])
    assert size > 0  # the size diodls showed is the length diodcat reads (status changes slowly)
    missing = _tool("diodcat", "-s", addr, "-a", "/", "jobs/nope/cmd", ok=False)
    assert missing.returncode != 0 and "No such file or directory" in missing.stderr


# ------------------------------------------------------------------------------ python-9p (py9p)
class Py9pFS:
    """python-9p's sync client (9P2000) as ``clients.steps.ClientFS``."""

    def __init__(self, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        self.client = py9p.Client(socket.create_connection((host, int(port)), timeout=30))
        self.client.negotiate()
        self.client.attach(0)
        self._fids = itertools.count(1)

    def _walk(self, path: str) -> int:
        fid, names = next(self._fids), [p for p in path.split("/") if p]
        try:
            qids = self.client.walk(0, fid, names)
        except py9p.RemoteError as e:
            raise ClientError(None, str(e)) from e
        if len(qids) != len(names):
            raise ClientError(None, f"{path}: not found")
        return fid

    def _io(self, path: str, mode: int, data: bytes | None) -> bytes:
        fid = self._walk(path)
        try:
            self.client.open(fid, mode)
            if data is not None:
                self.client.write(fid, data, 0)
                return b""
            chunks, offset = [], 0
            while chunk := self.client.read(fid, 8000, offset):
                chunks.append(chunk)
                offset += len(chunk)
            return b"".join(chunks)
        except py9p.RemoteError as e:
            raise ClientError(None, str(e)) from e
        finally:
            self.client.clunk(fid)

    def ls(self, path: str) -> list[str]:
        raw, names, pos = self._io(path, int(py9p.OREAD), None), [], 0
        while pos < len(raw):
            size = int.from_bytes(raw[pos : pos + 2], "little") + 2
            names.append(py9p.decode_dir(raw[pos : pos + size]).name)
            pos += size
        return sorted(names)

    def read(self, path: str) -> bytes:
        return self._io(path, int(py9p.OREAD), None)

    def write(self, path: str, data: bytes) -> None:
        self._io(path, int(py9p.OWRITE) | int(py9p.OTRUNC), data)

    def size(self, path: str) -> int:
        fid = self._walk(path)
        try:
            return int(self.client.stat(fid).length)
        finally:
            self.client.clunk(fid)


def test_py9p_client_runs_the_scenario_steps(jobd_process: JobdProcess) -> None:
    fs = Py9pFS(jobd_process.addr)
    try:
        lines = run_steps(fs)
    finally:
        fs.client.close()
    assert not _problems("\n".join([*lines, "DONE"])), "\n".join(lines)


# ------------------------------------------------------------------- p9fs and pyroute2 (venvs)
@pytest.fixture(scope="session")
def p9fs_python() -> Path:
    return _venv_python(P9FS)


@pytest.fixture(scope="session")
def pyroute2_python() -> Path:
    return _venv_python(PYROUTE2)


def _venv_python(lib: ClientLib) -> Path:
    try:
        return client_python(lib)
    except ClientVenvError as e:
        pytest.fail(f"cannot make the {lib.name} client's environment: {e}", pytrace=False)


def _drive(python: Path, driver: str, *args: str) -> str:
    done = subprocess.run([str(python), str(CLIENTS / driver), *args], capture_output=True,
                          text=True, timeout=DRIVER_TIMEOUT)  # fmt: skip
    found = _problems(done.stdout)
    if done.returncode != 0 and not found:
        found.append(f"exit {done.returncode}")
    assert not found, "\n".join(found) + f"\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


@pytest.fixture
def read_only_job(jobd_process: JobdProcess) -> Iterator[JobdProcess]:
    name, schedule, command = READ_ONLY_JOB.split(":", 2)
    _jobctl(jobd_process, "add", name, schedule, command)
    _jobctl(jobd_process, "start", name)
    yield jobd_process


def test_p9fs_dotl_runs_the_scenario_steps(p9fs_python: Path, jobd_process: JobdProcess) -> None:
    out = _drive(p9fs_python, "p9fs_driver.py", jobd_process.addr, "9P2000.L")
    assert out.count("PASS ") == 5


@pytest.mark.parametrize("version", ["9P2000.u", "9P2000", "9P2000.L"])
def test_p9fs_lists_and_reads(p9fs_python: Path, read_only_job: JobdProcess, version: str) -> None:
    out = _drive(p9fs_python, "p9fs_driver.py", read_only_job.addr, version, "read-only")
    assert "PASS read-only" in out


def test_pyroute2_runs_the_scenario_steps(pyroute2_python: Path, jobd_process: JobdProcess) -> None:
    out = _drive(pyroute2_python, "pyroute2_driver.py", jobd_process.addr)
    assert out.count("PASS ") == 5
