"""Boot a throwaway qemu guest whose real Linux kernel 9P client talks to a server on this host.

This machine's kernel has no 9P, so each run boots Debian's stock kernel (fetched once with
``apt-get download`` into ``$JOBD_GUEST_CACHE`` or ``~/.cache/jobd-guest`` by
``tools/fetch-guest-kernel.sh``) with a busybox initramfs, runs one shell script in it as root, and
powers it off. About 2 s wall per run under TCG on this machine when idle, 5-15 s when loaded
(KVM is used where it can boot a stock kernel; ``JOBD_GUEST_ACCEL=tcg|kvm`` forces one). Runs are
independent: any number may run at once (each is a single-CPU qemu process, ~256 MiB).

In a test (``tests/e2e`` is on ``sys.path`` under pytest's default import mode)::

    from guest.fixtures import Guest, guest, guest_kernel  # or via tests/e2e/conftest.py

    async def test_cat(guest: Guest) -> None:
        # start the server on 127.0.0.1:port first (in the test's nursery, or as a subprocess)
        result = await guest.run(
            '''
            set -e
            mount -t 9p -o trans=tcp,port=$PORT,version=9p2000.L,msize=8192,cache=none $SERVER /mnt
            cat /mnt/jobs/a/status
            as-user alice 'echo start > /mnt/jobs/a/ctl'   # a second local user: a second attach
            ''',
            port=port,
        )
        result.check()  # raises GuestScriptFailed (an AssertionError) with output + dmesg tail
        assert "Unknown error" not in result.dmesg  # the kernel log: 9P error strings land here

``guest.run`` is async (the server under test may run in the same trio loop); for two guests at
once, start two ``guest.run`` calls in one nursery (``functools.partial`` for the keywords).
Outside trio use ``GuestKernel.run_sync``.

What the script gets:

- busybox sh as root, cwd ``/root``, ``/mnt`` (and ``/tmp``, a tmpfs) ready; ``set -e`` is up to it.
- ``$SERVER`` (``10.0.2.100``) and ``$PORT`` (``guest_port``, default 5640): the only reachable
  endpoint, forwarded to ``127.0.0.1:port`` on the host. Every guest TCP connection (every mount)
  gets its own host connection, opened when the guest connects and closed when it closes.
  Connection failures on the host side land in ``result.relay_log``.
- ``as-user USER 'COMMAND'`` runs a command line as ``alice`` (uid 1000), ``bob`` (1001) or
  ``nobody`` (65534) — the kernel then attaches again with that uid. ``/etc/passwd`` has them, so
  ``su -s /bin/sh alice -c ...`` works too.
- ``mount9p [OPTIONS [MOUNTPOINT]]`` is ``mount -t 9p -o trans=tcp,port=$PORT,OPTIONS $SERVER``
  on MOUNTPOINT (default ``/mnt``), e.g. ``mount9p version=9p2000.u,msize=8192``.
- stdout/stderr are serial ports: exact bytes, but only about 200 KB/s under TCG.
- ``env={...}`` adds variables; ``extra_files={"/usr/local/bin/x": b"..."}`` adds files (0755).

What comes back: ``GuestResult(exit_code, stdout, stderr, dmesg, duration_s, boot_s, script_s,
console, relay_log)``; ``result.check()`` returns it or raises ``GuestScriptFailed``.
``GuestTimeout`` (qemu killed; ``script_started`` tells boot from script) and ``GuestBootError``
(no exit report: qemu failed, kernel panic, module or network setup failed) are ``GuestError``s
whose message carries the tails of the console, qemu's stderr and the output so far.
``GuestKernel.prepare`` raises ``GuestSetupError`` (no kernel, busybox-static or qemu) — tests fail,
never skip, when the guest cannot boot.
"""

from ._guest import GuestKernel, GuestSetupError
from ._qemu import DEFAULT_GUEST_PORT, SERVER_ADDR
from ._run import GuestBootError, GuestError, GuestResult, GuestScriptFailed, GuestTimeout

__all__ = [
    "DEFAULT_GUEST_PORT",
    "SERVER_ADDR",
    "GuestBootError",
    "GuestError",
    "GuestKernel",
    "GuestResult",
    "GuestScriptFailed",
    "GuestSetupError",
    "GuestTimeout",
]
