"""Several shell loops reading and writing through one mount while jobs fire: no deadlock, no
stale sizes, stable listings; and the figures of an open/read/close loop against tmpfs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from fuse_daemon import FuseDaemon

LOOP_TIMEOUT = 120

# One writer per job: right after each write its own stat must show the new length.
WRITER = r"""
for i in $(seq 60); do
    v="echo value $i x$(printf '%*s' $((i % 7 * 5)) '' | tr ' ' x)"
    echo "$v" > $M/jobs/$J/cmd || { echo "FAIL write $i"; exit 1; }
    s=$(stat -c %s $M/jobs/$J/cmd); want=$(( ${#v} + 1 ))
    [ "$s" = "$want" ] || { echo "FAIL stale size $s want $want"; exit 1; }
    [ "$(cat $M/jobs/$J/cmd)" = "$v" ] || { echo "FAIL content"; exit 1; }
done
echo OK
"""

# The log only grows: a size seen by stat is never more than what a later read returns.
READER = r"""
for i in $(seq 150); do
    s=$(stat -c %s $M/jobs/$J/log)
    n=$(wc -c < $M/jobs/$J/log)
    [ "$n" -ge "$s" ] || { echo "FAIL log read $n < stat $s"; exit 1; }
    cat $M/jobs/$J/status $M/jobs/$J/schedule > /dev/null || { echo "FAIL cat"; exit 1; }
done
echo OK
"""

# Jobs come and go while others list: the stable ones are listed every time, exactly once.
CHURN = r"""
for i in $(seq 40); do
    echo -n "tmp$K-$i:* * * * *:true" > $M/clone || { echo "FAIL clone $i"; exit 1; }
    rm -r $M/jobs/tmp$K-$i || { echo "FAIL rm $i"; exit 1; }
done
echo OK
"""

LISTER = r"""
for i in $(seq 150); do
    l=$(ls $M/jobs)
    for j in $STABLE; do
        c=$(echo "$l" | grep -cx "$j")
        [ "$c" = 1 ] || { echo "FAIL $j listed $c times"; exit 1; }
    done
    # a job deleted between readdir and lstat makes ls complain, as on any file system
    l=$(ls -l $M/jobs/ 2>/dev/null)
    for j in $STABLE; do
        echo "$l" | grep -q " $j\$" || { echo "FAIL ls -l misses $j"; exit 1; }
    done
done
echo OK
"""


def test_shell_loops_while_jobs_fire(fuse: FuseDaemon) -> None:
    m = fuse.mountpoint
    stable = [f"fire{k}" for k in range(4)]
    for name in stable:
        (m / "clone").write_bytes(f"{name}:0/1 * * * * ? *:echo tick {name}".encode())
        (m / "jobs" / name / "ctl").write_bytes(b"start")
    env_base = {**os.environ, "M": str(m), "STABLE": " ".join(stable), "LC_ALL": "C"}
    loops: list[tuple[str, subprocess.Popen[str]]] = []
    for k, name in enumerate(stable):
        for label, script in (("writer", WRITER), ("reader", READER)):
            env = {**env_base, "J": name, "K": str(k)}
            proc = subprocess.Popen(["bash", "-c", script], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            loops.append((f"{label}-{name}", proc))
    for k in range(2):
        for label, script in (("churn", CHURN), ("lister", LISTER)):
            env = {**env_base, "K": str(k)}
            proc = subprocess.Popen(["bash", "-c", script], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            loops.append((f"{label}-{k}", proc))
    failures = []
    deadline = time.monotonic() + LOOP_TIMEOUT
    for label, proc in loops:
        try:
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            failures.append(f"{label}: still running after {LOOP_TIMEOUT}s (deadlock?)")
            continue
        if proc.returncode != 0 or not out.strip().endswith("OK"):
            failures.append(f"{label}: {out.strip()[-400:]}")
    assert failures == [], "\n".join(failures) + "\n" + fuse.log_text()[-2000:]
    assert sorted(os.listdir(m / "jobs")) == stable
    for name in stable:
        log = (m / "jobs" / name / "log").read_text()
        runs = [line for line in log.splitlines() if ":tick " in line or ":value " in line]
        assert len(runs) >= 2, f"{name} did not fire while the loops ran:\n{log}"


def _cycles_per_second(path: Path, seconds: float = 1.5) -> float:
    count = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        fd = os.open(path, os.O_RDONLY)
        while os.read(fd, 65536):
            pass
        os.close(fd)
        count += 1
    return count / (time.perf_counter() - start)


def _cat_loop_per_second(path: Path, n: int = 200) -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", f'for i in $(seq {n}); do cat "$F" > /dev/null; done'],
                   env={**os.environ, "F": str(path)}, check=True, timeout=120)
    return n / (time.perf_counter() - start)


def test_open_read_close_figures(fuse: FuseDaemon, tmp_path: Path) -> None:
    m = fuse.mountpoint
    (m / "clone").write_bytes(b"bench:* * * * *:echo a benchmark command line")
    fuse_file = m / "jobs/bench/cmd"
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path
    tmpfs_file = shm / f"jobd-bench-{os.getpid()}"
    tmpfs_file.write_bytes(fuse_file.read_bytes())
    try:
        figures = {
            "fuse syscalls/s": _cycles_per_second(fuse_file),
            "tmpfs syscalls/s": _cycles_per_second(tmpfs_file),
            "fuse cat/s": _cat_loop_per_second(fuse_file),
            "tmpfs cat/s": _cat_loop_per_second(tmpfs_file),
        }
    finally:
        tmpfs_file.unlink()
    print("\nopen/read/close cycles: " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()))
    # A floor that catches a pathological regression (a per-request sleep or a lost reply).
    assert figures["fuse syscalls/s"] > 100
    assert figures["fuse cat/s"] > 0.2 * figures["tmpfs cat/s"]
