"""``GuestKernel``: the prepared kernel, base initramfs and accelerator; ``run`` boots a guest.

Prepared once per test session (fetching the kernel if the cache is empty); each ``run`` boots a
fresh guest, so runs are independent and any number may run at once (each is one single-CPU qemu
process).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import trio

from . import _initramfs, _kernel, _qemu, _run
from ._run import GuestBootError, GuestResult

log = logging.getLogger(__name__)

_ACCELS = ("kvm", "tcg")
_KVM_PROBE_TIMEOUT = 20.0


class GuestSetupError(Exception):
    """The guest cannot be prepared: no kernel, busybox or qemu, or a bad ``JOBD_GUEST_ACCEL``."""


@dataclass(frozen=True)
class GuestKernel:
    """A bootable guest: the cached kernel, the cached base initramfs and the accelerator to use."""

    kernel: _kernel.KernelTree
    boot_image: Path
    base_image: Path
    accel: str

    @classmethod
    def prepare(cls, cache_dir: Path | None = None, accel: str | None = None) -> GuestKernel:
        """Fetch (if needed) the kernel, build (if needed) the base image and pick the accelerator.

        ``accel`` (or ``$JOBD_GUEST_ACCEL``) forces ``kvm`` or ``tcg``; otherwise KVM is used only
        if ``/dev/kvm`` is usable and a probe guest actually boots with it (a paravirtual KVM may
        refuse a stock kernel), else TCG. Synchronous: call it outside a trio run (e.g. in a session
        fixture).

        Raises:
            GuestSetupError: the kernel cannot be fetched, busybox/modules/qemu are missing, or the
                accelerator name is unknown.
        """
        cache = cache_dir if cache_dir is not None else _kernel.default_cache_dir()
        try:
            cache.mkdir(parents=True, exist_ok=True)
            _qemu.qemu_binary()
            tree = _kernel.fetch_kernel(cache)
            image = _kernel.boot_image(tree, cache)
            base = _initramfs.build_base(tree.root, tree.modules_dir, cache)
        except (OSError, _kernel.KernelError, _initramfs.InitramfsError, _qemu.QemuError) as exc:
            raise GuestSetupError(f"cannot prepare the test guest: {exc}") from exc
        chosen = accel or os.environ.get("JOBD_GUEST_ACCEL") or None
        if chosen is not None and chosen not in _ACCELS:
            raise GuestSetupError(f"unknown accelerator {chosen!r}; use one of {_ACCELS}")
        guest = cls(tree, image, base, chosen or "tcg")
        if chosen is None and _kvm_device_usable():
            guest = guest._with_working_kvm()
        log.info(
            "guest prepared",
            extra={"kernel": tree.release, "image": image.name, "accel": guest.accel},
        )
        return guest

    def _with_working_kvm(self) -> GuestKernel:
        candidate = replace(self, accel="kvm")
        try:
            trio.run(lambda: candidate.run("true", timeout=_KVM_PROBE_TIMEOUT))
        except _run.GuestError as exc:
            log.info("KVM cannot boot the guest kernel; using TCG", extra={"reason": exc.reason})
            return self
        return candidate

    async def run(
        self,
        script: str,
        *,
        port: int | None = None,
        timeout: float = 120,
        extra_files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        guest_port: int = _qemu.DEFAULT_GUEST_PORT,
        host: str = "127.0.0.1",
        memory_mb: int = 256,
    ) -> GuestResult:
        """Boot a fresh guest, run ``script`` in it as root under busybox sh, and power it off.

        With ``port``, the guest reaches ``host:port`` at ``$SERVER:$PORT``
        (``10.0.2.100:guest_port``); nothing else is reachable. Each guest connection opens its own
        host connection when the guest connects (a mount), and closes it when the guest closes it
        (an unmount) or the guest dies.
        ``extra_files`` maps guest paths to contents (written with mode 0755); ``env`` adds
        variables.

        Raises:
            GuestTimeout: the run exceeded ``timeout`` seconds; qemu was killed.
            GuestBootError: qemu or the guest failed before the script reported its exit code.
            ValueError: an ``env`` name is not a shell identifier, or an ``extra_files`` path is
                empty or climbs out with ``..``.
        """
        variables = {
            "GUEST_ADDR": _qemu.GUEST_ADDR,
            "GUEST_GATEWAY": _qemu.GATEWAY_ADDR,
            "SERVER": _qemu.SERVER_ADDR,
            "PORT": str(guest_port),
            **(env or {}),
        }
        run_image = _initramfs.run_archive(script, variables, extra_files or {})
        forward = None if port is None else _qemu.Forward(guest_port, port, host)
        machine = _qemu.Machine(self.boot_image, self.accel, memory_mb, forward)
        try:
            return await _run.boot(machine, self.base_image, run_image, timeout)
        except _qemu.QemuError as exc:
            raise GuestBootError(str(exc), {}) from exc

    def run_sync(self, script: str, **kwargs: object) -> GuestResult:
        """``run`` for code outside a trio run (it starts its own); same arguments and errors.

        Raises:
            GuestTimeout: as ``run``.
            GuestBootError: as ``run``.
        """
        return trio.run(lambda: self.run(script, **kwargs))  # type: ignore[arg-type]


def _kvm_device_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)
