"""#4 firing: K jobs due in the same second running ``true``; lateness against bare spawns.

jobd (a subprocess on an empty database) gets K x rounds jobs over 9P, each round's K jobs due
at one whole second (``TZ=UTC S M H D Mon ? Year``), rounds two seconds apart. Lateness is what
jobd itself records per run (``last_lateness`` in ``status``: the wall time right after the fork
returned minus the scheduled instant). The floor: K spawns of the same ``/bin/bash -c true``
from a plain loop, lateness = each spawn's return minus the loop's start.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import trio

from jobd_9p.client import Client

from ._procs import BenchError, run_jobd
from ._report import Row, percentile

P99_K1_TARGET_MS = 5.0
FLOOR_RATIO_TARGET = 1.5


def _expression(at: int) -> str:
    t = datetime.fromtimestamp(at, UTC)
    return f"TZ=UTC {t.second} {t.minute} {t.hour} {t.day} {t.month} ? {t.year}"


async def _each(names: list[str], work: object, width: int = 32) -> None:
    limiter = trio.CapacityLimiter(width)

    async def one(name: str) -> None:
        async with limiter:
            await work(name)  # type: ignore[operator]

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(one, name)


async def _fire(addr: str, k: int, rounds: int) -> list[float]:
    """Create and start the jobs, wait for their runs; every run's lateness in seconds."""
    async with trio.open_nursery() as nursery:
        client = await Client.connect(addr, nursery=nursery)
        root, _ = await client.attach(uname="root")
        first = math.ceil(time.time() + 3 + k * rounds / 150)
        due = {f"k{k}r{r}j{i}": first + 2 * r for r in range(rounds) for i in range(k)}
        names = list(due)

        async def create(name: str) -> None:
            definition = f"{name}:{_expression(due[name])}:true"
            await client.write_file(root, ["clone"], definition.encode())
            await client.write_file(root, ["jobs", name, "ctl"], b"start")

        await _each(names, create)
        if time.time() > first - 0.5:
            raise BenchError(f"K={k}: the jobs were not ready before their second")
        await trio.sleep(max(due.values()) - time.time() + 1.0 + k / 300)
        lateness: list[float] = []

        async def collect(name: str) -> None:
            for _ in range(50):
                text = (await client.read_file(root, ["jobs", name, "status"])).decode()
                fields = dict(line.partition(": ")[::2] for line in text.splitlines())
                if fields.get("last_lateness", "-") != "-":
                    lateness.append(float(fields["last_lateness"]))
                    return
                await trio.sleep(0.2)

        await _each(names, collect)
        await client.aclose()
        nursery.cancel_scope.cancel()
    if len(lateness) != len(due):
        raise BenchError(f"K={k}: {len(due) - len(lateness)} of {len(due)} jobs never ran")
    return lateness


def floor(k: int) -> list[float]:
    """Lateness of K bare spawns of ``/bin/bash -c true`` from a plain loop (seconds)."""
    procs = []
    t0 = time.time_ns()
    late = []
    for _ in range(k):
        procs.append(
            subprocess.Popen(
                ["/bin/bash", "-c", "true"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        late.append((time.time_ns() - t0) / 1e9)
    for p in procs:
        p.communicate()
    return late


def _stats(xs: list[float]) -> tuple[float, float, float]:
    return percentile(xs, 50) * 1e3, percentile(xs, 99) * 1e3, max(xs) * 1e3


def _fmt(s: tuple[float, float, float]) -> str:
    return f"p50 {s[0]:.1f} p99 {s[1]:.1f} max {s[2]:.1f} ms"


def measure(ks: tuple[int, ...] = (1, 100, 1000), rounds_k1: int = 10) -> Row:
    """Fire K jobs at once for each K (``rounds_k1`` separate seconds for K=1)."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench4-", dir="/dev/shm") as tmp:
        for k in ks:
            rounds = rounds_k1 if k == 1 else 1
            with run_jobd(Path(tmp) / f"db{k}") as jobd:
                got = trio.run(_fire, jobd.addr, k, rounds)
            floors = [x for _ in range(rounds) for x in floor(k)]
            results[k] = (_stats(got), _stats(floors))
    k1, kmax = ks[0], ks[-1]
    ratio = results[kmax][0][1] / max(results[kmax][1][1], 1e-6)
    ok = results[k1][0][1] <= P99_K1_TARGET_MS and ratio <= FLOOR_RATIO_TARGET
    notes = [f"K={k}: jobd {_fmt(j)}; floor {_fmt(f)}" for k, (j, f) in results.items()]
    notes.append(
        f"K={k1}: {rounds_k1} rounds (one job due in each of {rounds_k1} seconds); "
        "other K: one round"
    )
    return Row(
        4,
        f"firing K = {', '.join(map(str, ks))} jobs due in one second, lateness",
        "; ".join(f"K={k} p99 {j[1]:.1f} ms" for k, (j, _) in results.items()),
        "floor: " + "; ".join(f"K={k} p99 {f[1]:.1f} ms" for k, (_, f) in results.items()),
        f"{ratio:.2f}x floor p99 at K={kmax}",
        f"p99 <= {P99_K1_TARGET_MS:g} ms at K=1; <= {FLOOR_RATIO_TARGET}x floor at K={kmax}",
        ok,
        notes,
    )
