"""pytest fixtures for the guest harness: a session-wide ``guest_kernel`` and a per-test ``guest``.

Use them from ``tests/e2e/conftest.py`` with ``from guest.fixtures import guest, guest_kernel``
(``pytest_plugins`` only works in the root conftest: ``pytest_plugins = ["guest.fixtures"]`` there
needs ``tests/e2e`` on ``sys.path``). Preparing the kernel fails — never skips — when the guest
cannot be built.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from ._guest import GuestKernel
from ._qemu import DEFAULT_GUEST_PORT
from ._run import GuestResult

log = logging.getLogger(__name__)

_TAIL = 2000


@dataclass
class Guest:
    """A test's handle on the guest kernel: ``await guest.run(script, port=...)`` boots one guest.

    Every run is summarised (exit code, times, output and dmesg tails) in a report section of the
    test, which pytest prints when the test fails; ``results`` keeps this test's results in order.
    """

    kernel: GuestKernel
    node: pytest.Item | None = None
    results: list[GuestResult] = field(default_factory=list)

    async def run(
        self,
        script: str,
        *,
        port: int | None = None,
        timeout: float = 120,
        extra_files: Mapping[str, bytes] | None = None,
        env: Mapping[str, str] | None = None,
        guest_port: int = DEFAULT_GUEST_PORT,
    ) -> GuestResult:
        """Boot a fresh guest and run ``script`` in it; see ``GuestKernel.run``.

        Raises:
            GuestTimeout: the run exceeded ``timeout`` seconds; qemu was killed.
            GuestBootError: qemu or the guest failed before the script reported its exit code.
            ValueError: a bad ``env`` name or ``extra_files`` path.
        """
        result = await self.kernel.run(
            script,
            port=port,
            timeout=timeout,
            extra_files=extra_files,
            env=env,
            guest_port=guest_port,
        )
        self.results.append(result)
        summary = _summary(result)
        log.debug("guest run: %s", summary)
        if self.node is not None:
            self.node.add_report_section("call", f"guest run {len(self.results)}", summary)
        return result


def _summary(result: GuestResult) -> str:
    dmesg_tail = "\n".join(result.dmesg.splitlines()[-10:])
    return (
        f"exit {result.exit_code} in {result.duration_s:.1f} s wall "
        f"(boot {result.boot_s:.2f} s, script {result.script_s:.2f} s guest time)\n"
        f"--- stdout ---\n{result.stdout[-_TAIL:]}\n--- stderr ---\n{result.stderr[-_TAIL:]}\n"
        f"--- relay ---\n{result.relay_log[-_TAIL:]}\n--- dmesg (tail) ---\n{dmesg_tail}"
    )


@pytest.fixture(scope="session")
def guest_kernel() -> GuestKernel:
    """The prepared guest kernel, once per session (fetches the kernel into the cache if needed)."""
    return GuestKernel.prepare()


@pytest.fixture
def guest(guest_kernel: GuestKernel, request: pytest.FixtureRequest) -> Iterator[Guest]:
    """A per-test ``Guest``: ``result = await guest.run(script, port=server_port)``."""
    yield Guest(guest_kernel, request.node)
