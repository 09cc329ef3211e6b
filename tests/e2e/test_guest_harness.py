"""The guest harness against a real 9P server that exists today: diod (9P2000.L) on host loopback.

Each test boots its own throwaway guest (about 5 s wall under TCG); the kernel and base initramfs
are prepared once per session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing
from guest import (
    GuestBootError,
    GuestKernel,
    GuestResult,
    GuestScriptFailed,
    GuestTimeout,
    _cpio,
    _modules,
)
from guest.fixtures import Guest, guest, guest_kernel

__all__ = ["guest", "guest_kernel"]  # fixtures used by name below

MOUNT_L = (
    "mount -t 9p -o trans=tcp,port=$PORT,version=9p2000.L,msize=8192,cache=none,aname=$EXPORT "
    "$SERVER /mnt"
)


@dataclass(frozen=True)
class Diod:
    port: int
    export: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"diod exited {proc.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # a real external process starting up; no fake clock applies
    pytest.fail(f"diod did not listen on {port}: {log.read_text()}")


@pytest.fixture
def diod(tmp_path: Path) -> Iterator[Diod]:
    """diod exporting a fresh directory on a free loopback port, without authentication.

    The export lives directly in /tmp: the kernel's mount attach is user "nobody", which must be
    able to traverse every parent directory (pytest's tmp_path parents are 0700).
    """
    export = Path(tempfile.mkdtemp(prefix="jobd-diod-export-"))
    export.chmod(0o777)
    log = tmp_path / "diod.log"
    port = _free_port()
    argv = ["diod", "-f", "-n", "-e", str(export), "-l", f"127.0.0.1:{port}", "-L", str(log)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, proc, log)
        yield Diod(port, export, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(export)


def _env(server: Diod) -> dict[str, str]:
    return {"EXPORT": str(server.export)}


def _qemu_children() -> list[int]:
    """Processes whose parent is this test process and whose name is qemu's."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == os.getpid() and name.startswith("qemu-system"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private default temp dir for this test, so leftovers of its guest runs can be seen."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_modules_load_in_dependency_order(guest_kernel: GuestKernel) -> None:
    order = [name for name, _ in _modules.resolve(guest_kernel.kernel.modules_dir)]
    # Debian 6.1's graph, as measured with modinfo in issue 4
    assert order == [
        "virtio_ring",
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "virtio",
        "virtio_pci",
        "failover",
        "net_failover",
        "virtio_net",
        "9pnet",
        "9pnet_fd",
        "netfs",
        "fscache",
        "9p",
    ]


def test_cpio_archives_read_back_with_cpio(tmp_path: Path) -> None:
    image = _cpio.archive(
        [
            _cpio.file("/a/b/file", b"data\n"),
            _cpio.symlink("bin/sh", "/bin/busybox"),
            _cpio.char_device("dev/console", 5, 1),
        ]
    )
    listing = subprocess.run(
        ["cpio", "-it", "--quiet"], input=image, capture_output=True, check=True
    ).stdout.split()
    assert listing == [b"a", b"a/b", b"a/b/file", b"bin", b"bin/sh", b"dev", b"dev/console"]
    subprocess.run(["cpio", "-id", "--quiet"], input=image, cwd=tmp_path, check=True)
    assert (tmp_path / "a/b/file").read_bytes() == b"data\n"
    assert os.readlink(tmp_path / "bin/sh") == "/bin/busybox"


async def test_bad_env_names_and_file_paths_are_refused(guest: Guest) -> None:
    with pytest.raises(ValueError, match="variable names"):
        await guest.run("true", env={"NOT-A-NAME": "x"})
    with pytest.raises(ValueError, match="bad archive path"):
        await guest.run("true", extra_files={"/../etc/x": b""})


async def test_exit_code_stdout_and_stderr_come_back(guest: Guest) -> None:
    result = await guest.run("echo out; echo err >&2; printf 'a\\tb\\n'; exit 7")
    assert result.exit_code == 7
    assert result.stdout == "out\na\tb\n"
    assert result.stderr == "err\n"
    assert 0 < result.boot_s < result.duration_s
    assert result.duration_s < 60


async def test_guest_is_root_with_kernel_9p_and_a_second_user(guest: Guest) -> None:
    script = "id -u; grep -c 9p /proc/filesystems; as-user alice 'id -u; echo $SERVER:$PORT'"
    result = await guest.run(script)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["0", "1", "1000", "10.0.2.100:5640"]


async def test_reads_a_host_file_and_the_host_sees_a_guest_write(guest: Guest, diod: Diod) -> None:
    (diod.export / "hello").write_text("from the host\n")
    script = f"""
set -e
{MOUNT_L}
cat /mnt/hello
ls /mnt
echo "from the guest" > /mnt/written
umount /mnt
"""
    result = await guest.run(script, port=diod.port, env=_env(diod))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "from the host\nhello\n"
    assert (diod.export / "written").read_text() == "from the guest\n"


async def test_non_root_user_attaches_with_its_own_uid(guest: Guest, diod: Diod) -> None:
    script = f"""
set -e
{MOUNT_L}
echo root > /mnt/by-root
as-user alice 'echo alice > /mnt/by-alice; cat /mnt/by-root'
"""
    result = await guest.run(script, port=diod.port, env=_env(diod))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "root\n"
    assert (diod.export / "by-alice").stat().st_uid == 1000
    assert (diod.export / "by-root").stat().st_uid == 0


async def test_each_mount_gets_its_own_host_connection(guest: Guest, diod: Diod) -> None:
    (diod.export / "f").write_text("x")
    script = """
set -e
mkdir /mnt2
mount9p version=9p2000.L,aname=$EXPORT
mount9p version=9p2000.L,aname=$EXPORT,msize=16384 /mnt2
cat /mnt/f /mnt2/f
umount /mnt
cat /mnt2/f
grep 9p /proc/mounts
"""
    result = (await guest.run(script, port=diod.port, env=_env(diod))).check()
    assert result.stdout.startswith("xxx10.0.2.100 /mnt2 9p ")
    assert f"aname={diod.export}," in result.stdout
    assert " /mnt " not in result.stdout  # unmounted; /mnt2 kept working on its own connection


async def test_only_the_forwarded_endpoint_is_reachable(guest: Guest, diod: Diod) -> None:
    probe = "nc -w 2 {} {} </dev/null >/dev/null 2>&1 && echo open || echo closed"
    script = "\n".join(
        [
            probe.format("$SERVER", "$PORT"),
            probe.format("10.0.2.2", diod.port),  # the host's loopback via slirp's gateway
            probe.format("$SERVER", diod.port),  # another port on the forwarded address
        ]
    )
    result = (await guest.run(script, port=diod.port)).check()
    assert result.stdout.split() == ["open", "closed", "closed"]


async def test_failing_mount_is_an_exit_code_and_the_relay_says_why(guest: Guest) -> None:
    result = await guest.run(MOUNT_L, port=_free_port(), env={"EXPORT": "/"})
    assert result.exit_code != 0
    assert "mount" in result.stderr
    assert "Connection refused" in result.relay_log


async def test_check_raises_with_the_output(guest: Guest) -> None:
    result = await guest.run("echo to-stdout; echo to-stderr >&2; exit 3")
    with pytest.raises(GuestScriptFailed) as caught:
        result.check()
    message = str(caught.value)
    assert "exited 3" in message
    assert "to-stdout" in message
    assert "to-stderr" in message
    assert "dmesg" in message


async def test_dmesg_is_captured(guest: Guest) -> None:
    result = await guest.run("echo 'marker from the script' > /dev/kmsg")
    assert result.exit_code == 0, result.stderr
    assert "9p: Installing v9fs 9p2000 file system support" in result.dmesg
    assert "marker from the script" in result.dmesg


async def test_extra_files_are_installed(guest: Guest) -> None:
    files = {"/usr/local/bin/hello": b"#!/bin/sh\necho hello $1\n", "/etc/data": b"\x00\x01"}
    result = await guest.run("hello world; wc -c < /etc/data", extra_files=files)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["hello", "world", "2"]


async def test_timeout_kills_qemu_and_is_reported(guest: Guest, private_tmp: Path) -> None:
    # The time box covers boot too: size it from a boot measured now (a loaded 2-core machine has
    # been seen to take 14 s), so the script surely starts and then surely overruns.
    boot = (await guest.run("true")).duration_s
    box = round(max(10.0, 3 * boot))
    with pytest.raises(GuestTimeout) as caught:
        await guest.run("echo started; sleep 600", timeout=box)
    assert caught.value.script_started
    assert caught.value.stdout == "started\n"
    assert f"timed out after {box:g} s" in str(caught.value)
    assert _qemu_children() == []
    assert list(private_tmp.iterdir()) == []


async def test_time_box_is_real_time_even_under_a_mock_clock(
    guest: Guest, autojump_clock: trio.testing.MockClock
) -> None:
    result = await guest.run("sleep 1; echo ok", timeout=60)
    assert result.stdout == "ok\n"


async def test_cancelled_run_kills_qemu_and_cleans_up(guest: Guest, private_tmp: Path) -> None:
    with trio.move_on_after(1.5) as scope:
        await guest.run("sleep 600")
    assert scope.cancelled_caught
    assert _qemu_children() == []
    assert list(private_tmp.iterdir()) == []


async def test_broken_init_is_a_boot_error(guest: Guest) -> None:
    with pytest.raises(GuestBootError) as caught:
        await guest.run("true", extra_files={"/init": b"#!/bin/sh\nexit 1\n"}, timeout=60)
    assert "without reporting an exit code" in str(caught.value)
    assert "Kernel panic" in caught.value.console


async def test_two_guests_at_once_against_one_server(guest: Guest, diod: Diod) -> None:
    results: dict[str, GuestResult] = {}

    async def one(name: str) -> None:
        script = f"set -e\n{MOUNT_L}\necho {name} > /mnt/{name}\nsleep 1\nls /mnt\n"
        results[name] = await guest.run(script, port=diod.port, env=_env(diod))

    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "first")
        nursery.start_soon(one, "second")
    wall = time.monotonic() - started
    for name, result in results.items():
        assert result.exit_code == 0, result.stderr
        assert (diod.export / name).read_text() == f"{name}\n"
    # they overlapped: together they took less than one after the other
    assert wall < sum(r.duration_s for r in results.values())
