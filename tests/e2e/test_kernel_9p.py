"""The Linux kernel's 9P client (Debian's 6.1, in a qemu guest) against a real ``jobd`` subprocess.

Every option set runs the whole shared scenario list (``scenarios.py``) as a user types it. One
guest boot mounts several option sets in turn (umount between); two guests run at once, each against
its own ``jobd`` (the scenarios' job names are fixed). Failures name the option set and scenario.

The legacy 9P2000 dialect has no errno in Rerror: the kernel maps the strings it knows and shows
any other as "Unknown error 526", logging the server's text to dmesg. There the scenarios do not
check error texts; the test checks instead that jobd's readable reasons reached the guest's dmesg.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
import trio
from _jobd_process import JobdProcess
from guest.fixtures import Guest
from scenarios import full_script, parse_report

SCENARIOS_ERRTEXT = "/usr/local/share/jobd-scenarios.sh"
SCENARIOS_NO_ERRTEXT = "/usr/local/share/jobd-scenarios-noerrtext.sh"
SCENARIO_FILES = {
    SCENARIOS_ERRTEXT: full_script("/mnt", errtext=True).encode(),
    SCENARIOS_NO_ERRTEXT: full_script("/mnt", errtext=False).encode(),
}
GUEST_TIMEOUT = 200.0  # below pytest-timeout (300 s), so a stuck guest reports its output

# jobd's readable reasons for the scenario list's bad inputs, as a legacy mount's dmesg shows them
LEGACY_DMESG_TEXTS = [
    "server reported unknown error invalid job definition: expected name:schedule:command",
    "server reported unknown error invalid job name 'a/b'",
    "server reported unknown error invalid schedule '*/0 * * * *'",
    "server reported unknown error job exists: dup",
    "server reported unknown error unknown ctl verb 'bogus'",
    "server reported unknown error log: read-only",
]


@dataclass(frozen=True)
class OptionSet:
    """One mount: ``mount -t 9p -o OPTIONS $SERVER /mnt`` (``$PORT`` expanded in the guest)."""

    options: str
    errtext: bool = True
    expect_in_mounts: tuple[str, ...] = ()  # what /proc/mounts must show for the options to count

    @property
    def label(self) -> str:
        return self.options.replace("trans=tcp,port=$PORT,", "")

    @property
    def command(self) -> str:
        return f'mount -t 9p -o "{self.options}" "$SERVER" /mnt'


def option_set(version: str, msize: int | None, cache: str) -> OptionSet:
    """The kernel mount options of one cell of the dialect x msize x cache matrix."""
    opts = f"trans=tcp,port=$PORT,version={version}"
    shown = []
    if version == "9p2000.u":
        shown.append("version=9p2000.u")  # .L is the default and not shown; 9P2000 shows noextend
    elif version == "9p2000":
        shown.append("noextend")
    if msize is not None:
        opts += f",msize={msize}"
        shown.append(f"msize={msize}")
    if cache != "none":
        shown.append(cache)  # 6.1 shows cache=mmap as a bare "mmap"
    opts += f",cache={cache}"
    return OptionSet(opts, errtext=version != "9p2000", expect_in_mounts=tuple(shown))


def option_set_script(opt: OptionSet, *, then: str = "", keep: str = "") -> str:
    """Mount, run the scenario list (and ``then``), remove the jobs left (but ``keep``), unmount;
    the output is bracketed by ``@@@ BEGIN label`` / ``@@@ END label`` lines."""
    scenarios = SCENARIOS_ERRTEXT if opt.errtext else SCENARIOS_NO_ERRTEXT
    label = shlex.quote(opt.label)
    return f"""
echo "@@@ BEGIN "{label}
WANTS={shlex.quote(" ".join(opt.expect_in_mounts))}
if {opt.command}; then
    line=$(grep ' /mnt 9p ' /proc/mounts)
    echo "MOUNTED $line"
    for want in $WANTS; do
        case "$line" in
            *[\\ ,]$want[\\ ,]*) ;;
            *) echo "FAIL mount-options: $want not in $line";;
        esac
    done
    sh {scenarios}
{then}
    for j in /mnt/jobs/*; do
        if [ -e "$j" ] && [ "$j" != /mnt/jobs/{keep} ]; then rm -r "$j"; fi
    done
    umount /mnt || echo "FAIL umount: umount /mnt failed"
else
    echo "FAIL mount: mounting with "{label}" failed"
fi
echo "@@@ END "{label}
"""


def split_sections(stdout: str) -> dict[str, str]:
    """The output of each option set, by label."""
    sections: dict[str, str] = {}
    label: str | None = None
    for line in stdout.splitlines():
        if line.startswith("@@@ BEGIN "):
            label = line[len("@@@ BEGIN ") :]
            sections[label] = ""
        elif line.startswith("@@@ END "):
            label = None
        elif label is not None:
            sections[label] += line + "\n"
    return sections


def problems_of(opt: OptionSet, sections: dict[str, str]) -> list[str]:
    """Every failure of one option set as 'options: scenario: message'."""
    if opt.label not in sections:
        return [f"{opt.label}: did not run (guest stopped before it)"]
    report = parse_report(sections[opt.label])
    return [f"{opt.label}: {p}" for p in report.problems()]


async def run_option_sets(
    guest: Guest, jobd: JobdProcess, sets: Sequence[OptionSet]
) -> tuple[list[str], str]:
    """Boot one guest against ``jobd`` and run each option set in turn; (problems, dmesg)."""
    script = "\n".join(option_set_script(opt) for opt in sets)
    result = await guest.run(
        script, port=jobd.port, timeout=GUEST_TIMEOUT, extra_files=SCENARIO_FILES
    )
    sections = split_sections(result.stdout)
    found = [p for opt in sets for p in problems_of(opt, sections)]
    if result.exit_code != 0:
        found.append(f"guest script exited {result.exit_code}: {result.stderr[-2000:]}")
    return found, result.dmesg


async def run_split(
    guest: Guest, jobd_factory: Callable[[], JobdProcess], sets: Sequence[OptionSet]
) -> tuple[list[str], list[str]]:
    """Run ``sets`` on two guests at once (each against its own jobd); (problems, dmesgs)."""
    halves = [sets[0::2], sets[1::2]]
    servers = [jobd_factory() for _ in halves]
    results: list[tuple[list[str], str]] = [([], "")] * len(halves)

    async def one(i: int) -> None:
        results[i] = await run_option_sets(guest, servers[i], halves[i])

    async with trio.open_nursery() as nursery:
        for i in range(len(halves)):
            nursery.start_soon(one, i)
    return [p for found, _ in results for p in found], [dmesg for _, dmesg in results]


MATRIX = [
    option_set(version, msize, cache)
    for msize in (None, 8192, 1048576)
    for cache in ("none", "mmap")
    for version in ("9p2000", "9p2000.u", "9p2000.L")
]


@pytest.mark.parametrize("version", ["9p2000", "9p2000.u", "9p2000.L"])
async def test_scenarios_in_every_msize_and_cache_mode(
    guest: Guest, jobd_factory: Callable[[], JobdProcess], version: str
) -> None:
    sets = [opt for opt in MATRIX if f"version={version}," in opt.options]
    assert len(sets) == 6
    found, dmesgs = await run_split(guest, jobd_factory, sets)
    assert not found, "\n".join(found)
    if version == "9p2000":
        for dmesg in dmesgs:
            missing = [text for text in LEGACY_DMESG_TEXTS if text not in dmesg]
            assert not missing, f"jobd's error texts missing from the guest's dmesg: {missing}"
    else:
        for dmesg in dmesgs:
            assert "Unknown error" not in dmesg and "unknown error" not in dmesg, dmesg[-3000:]


async def test_seed_option_spelling_protocol_tcp(guest: Guest, jobd_process: JobdProcess) -> None:
    """The seed's ``-o protocol=tcp,port=N``: 6.1 ignores ``protocol=`` (unknown options are
    skipped) and, with no ``trans=``, takes the first registered transport: tcp from 9pnet_fd
    (virtio's would win if 9pnet_virtio were loaded: it is the only one marked default)."""
    seed = OptionSet("protocol=tcp,port=$PORT", expect_in_mounts=("trans=tcp",))
    script = "cut -d' ' -f1 /proc/modules | grep 9pnet | sort | sed 's/^/MODULE /'\n"
    script += option_set_script(seed)
    result = await guest.run(
        script, port=jobd_process.port, timeout=GUEST_TIMEOUT, extra_files=SCENARIO_FILES
    )
    found = problems_of(seed, split_sections(result.stdout))
    assert not found, "\n".join(found)
    assert result.exit_code == 0, result.stderr
    modules = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("MODULE ")]
    assert modules == ["9pnet", "9pnet_fd"]


async def test_two_guests_mounted_at_once_while_jobs_fire(
    guest: Guest, jobd_process: JobdProcess
) -> None:
    """Guest A (.L) runs the whole list; guest B (.u, cache=mmap) meanwhile runs its own
    every-second job. Each sees the other's jobs and runs; A edits B's job, B sees it run A's
    command."""
    a_opts = OptionSet("trans=tcp,port=$PORT,version=9p2000.L")
    a_script = option_set_script(a_opts, then=WAIT_FOR_B, keep="btick")
    results: dict[str, str] = {}

    async def one(name: str, script: str) -> None:
        result = await guest.run(
            script, port=jobd_process.port, timeout=GUEST_TIMEOUT, extra_files=SCENARIO_FILES
        )
        assert result.exit_code == 0, f"guest {name}: {result.stderr[-2000:]}"
        results[name] = result.stdout

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "A", a_script)
        nursery.start_soon(one, "B", B_SCRIPT)
    a_sections = split_sections(results["A"])
    found = problems_of(a_opts, a_sections)
    found += [f"A: {line}" for line in results["A"].splitlines() if line.startswith("CROSS FAIL")]
    found += [f"B: {line}" for line in results["B"].splitlines() if "FAIL" in line]
    assert not found, "\n".join(found)
    assert "B OK" in results["B"], results["B"]
    assert "A SAW B" in results["A"], results["A"]


# Guest A, after its scenarios: B's job is there and its log grows while A watches.
WAIT_FOR_B = r"""
    ticks() { grep -c ':tick-b$' /mnt/jobs/btick/log 2>/dev/null; }
    i=0; while [ $i -lt 100 ] && [ "$(ticks)" -lt 1 ] 2>/dev/null; do sleep 0.3; i=$((i+1)); done
    n0=$(ticks); i=0
    while [ $i -lt 100 ] && [ "$(ticks)" -le "$n0" ]; do sleep 0.3; i=$((i+1)); done
    if [ "$(ticks)" -gt "$n0" ] 2>/dev/null; then echo "A SAW B"
    else echo "CROSS FAIL: btick's log did not grow from $n0: $(cat /mnt/jobs/btick/log)"; fi
    echo 'echo seen by A' > /mnt/jobs/btick/cmd || echo "CROSS FAIL: A could not edit btick's cmd"
"""


# Guest B: its own every-second job, and A's seed job seen through B's mount.
B_SCRIPT = r"""
mount -t 9p -o "trans=tcp,port=$PORT,version=9p2000.u,cache=mmap" "$SERVER" /mnt \
    || { echo "FAIL mount"; exit 1; }
echo -n 'btick:0/1 * * * * ? *:echo tick-b' > /mnt/clone || echo "FAIL clone"
echo start > /mnt/jobs/btick/ctl || echo "FAIL start"
i=0
until [ -e /mnt/jobs/hello ] && [ "$(grep -c ':tick-b$' /mnt/jobs/btick/log)" -ge 3 ]; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "FAIL: no hello from A or btick did not run"; break; }
    sleep 0.3
done
[ "$(cat /mnt/jobs/hello/cmd)" = "echo hello world" ] \
    || echo "FAIL: A's job through B: $(cat /mnt/jobs/hello/cmd)"
i=0  # A edits btick's cmd once it has seen btick run: then B may stop and delete it
until [ "$(cat /mnt/jobs/btick/cmd)" = "echo seen by A" ]; do
    i=$((i+1)); [ $i -lt 300 ] || { echo "FAIL: A never edited btick's cmd"; break; }
    sleep 0.3
done
grep -q ':seen by A$' /mnt/jobs/btick/log || sleep 2
grep -q ':seen by A$' /mnt/jobs/btick/log || echo "FAIL: btick did not run A's command"
echo stop > /mnt/jobs/btick/ctl || echo "FAIL stop"
rm -r /mnt/jobs/btick || echo "FAIL rm -r"
echo "B OK"
umount /mnt
"""


async def test_non_root_guest_user_reads_and_is_refused_writes(
    guest: Guest, jobd_process: JobdProcess
) -> None:
    """alice (uid 1000) on root's .L mount: the kernel attaches again with her uid on the same
    connection. She reads everything; jobd reports its files as its own user's (0644/0755, as the
    FUSE front with default_permissions), so the kernel refuses her writes and nothing changes."""
    result = await guest.run(
        NON_ROOT_SCRIPT, port=jobd_process.port, timeout=GUEST_TIMEOUT, extra_files=SCENARIO_FILES
    )
    assert result.exit_code == 0, result.stderr
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert not failures, "\n".join(failures) + "\n" + result.stdout
    assert result.stdout.splitlines()[-1] == "DONE", result.stdout


NON_ROOT_SCRIPT = r"""
M=/mnt
mount -t 9p -o "trans=tcp,port=$PORT,version=9p2000.L" "$SERVER" $M \
    || { echo "FAIL mount"; exit 1; }
echo -n 'shared:0/1 * * * * ? *:echo shared tick' > $M/clone || echo "FAIL root clone"
echo start > $M/jobs/shared/ctl || echo "FAIL root start"
cat > /tmp/alice.sh <<'EOF'
M=/mnt
[ "$(id -u)" = 1000 ] || echo "FAIL not alice: $(id)"
[ "$(ls $M/jobs)" = shared ] || echo "FAIL alice ls: $(ls $M/jobs)"
[ "$(cat $M/jobs/shared/cmd)" = "echo shared tick" ] || echo "FAIL alice cmd"
[ "$(cat $M/jobs/shared/ctl)" = started ] || echo "FAIL alice ctl"
grep -q '^next: ' $M/jobs/shared/schedule || echo "FAIL alice schedule"
grep -q '^state: started' $M/jobs/shared/status || echo "FAIL alice status"
[ "$(stat -c %s $M/jobs/shared/cmd)" = 17 ] || echo "FAIL alice size: $(ls -l $M/jobs/shared/cmd)"
i=0; until [ "$(grep -c ':shared tick$' $M/jobs/shared/log)" -ge 2 ]; do
    i=$((i+1)); [ $i -lt 75 ] || { echo "FAIL alice sees no runs"; break; }; sleep 0.2
done
tail -f $M/jobs/shared/log > /tmp/alice-tail &
n=$(grep -c ':shared tick$' $M/jobs/shared/log)
i=0; until [ "$(grep -c ':shared tick$' /tmp/alice-tail)" -gt "$n" ]; do
    i=$((i+1)); [ $i -lt 75 ] || { echo "FAIL alice tail -f saw nothing new"; break; }; sleep 0.2
done
kill $! 2>/dev/null
for cmd in "echo -n 'a:* * * * *:true' > $M/clone" "echo stop > $M/jobs/shared/ctl" \
           "echo true > $M/jobs/shared/cmd" "rm -r $M/jobs/shared" "rmdir $M/jobs/shared"; do
    if ( eval "$cmd" ) 2>/tmp/alice-err; then echo "FAIL alice may: $cmd"
    elif ! grep -q 'Permission denied' /tmp/alice-err; then
        echo "FAIL alice $cmd: $(cat /tmp/alice-err)"
    fi
done
echo "ALICE DONE"
EOF
as-user alice 'sh /tmp/alice.sh' | tee /tmp/alice.out
grep -q 'ALICE DONE' /tmp/alice.out || echo "FAIL alice's script did not finish"
# one connection (one mount), two attaches: root's at mount time, alice's at her first access
attaches=$(sed -n 's/^jobd_9p_requests_total{type="Tattach"} \([0-9]*\).*/\1/p' $M/stats)
[ "$attaches" -ge 2 ] 2>/dev/null || echo "FAIL Tattach count in /stats: '$attaches'"
[ "$(grep -c ' /mnt 9p ' /proc/mounts)" = 1 ] || echo "FAIL more than one mount"
[ "$(ls $M/jobs)" = shared ] || echo "FAIL after alice: $(ls $M/jobs)"
[ "$(cat $M/jobs/shared/ctl)" = started ] || echo "FAIL alice stopped it"
[ "$(cat $M/jobs/shared/cmd)" = "echo shared tick" ] || echo "FAIL alice changed cmd"
echo stop > $M/jobs/shared/ctl || echo "FAIL root stop after alice"
rm -r $M/jobs/shared || echo "FAIL root rm after alice"
umount $M
echo DONE
"""


async def test_interrupted_write_is_flushed_and_the_mount_goes_on(
    guest: Guest, jobd_process: JobdProcess
) -> None:
    """A shell killed in ``echo kill > ctl`` (a job ignoring SIGTERM: the write takes the kill
    grace, 5 s) makes the kernel send Tflush and wait for Rflush. jobd lets a state-changing
    request finish before Rflush (server.py: no half-done changes), so the wait is bounded by the
    grace; the job ends killed and the mount keeps working."""
    result = await guest.run(FLUSH_SCRIPT, port=jobd_process.port, timeout=GUEST_TIMEOUT)
    assert result.exit_code == 0, result.stderr
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert not failures, "\n".join(failures) + "\n" + result.stdout
    assert result.stdout.splitlines()[-1] == "DONE", result.stdout


FLUSH_SCRIPT = r"""
M=/mnt
mount -t 9p -o "trans=tcp,port=$PORT,version=9p2000.L" "$SERVER" $M \
    || { echo "FAIL mount"; exit 1; }
echo -n "stubborn:@yearly:trap '' TERM; echo begun; sleep 60" > $M/clone || echo "FAIL clone"
echo run > $M/jobs/stubborn/ctl || echo "FAIL run"
i=0; until grep -q ':begun$' $M/jobs/stubborn/log; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "FAIL the job did not start"; break; }; sleep 0.2
done
sh -c "echo kill > $M/jobs/stubborn/ctl" &
W=$!
sleep 0.5
kill -9 $W
start=$(cut -d. -f1 /proc/uptime)
wait $W
took=$(( $(cut -d. -f1 /proc/uptime) - start ))
[ "$took" -le 10 ] || echo "FAIL the killed writer took ${took}s to go"
flushes=$(sed -n 's/^jobd_9p_requests_total{type="Tflush"} \([0-9]*\).*/\1/p' $M/stats)
[ "$flushes" -ge 1 ] 2>/dev/null || echo "FAIL no Tflush counted in /stats: '$flushes'"
i=0; until grep -q ':killed by SIG' $M/jobs/stubborn/log; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "FAIL not killed: $(cat $M/jobs/stubborn/log)"; break; }
    sleep 0.2
done
[ "$(ls $M/jobs)" = stubborn ] || echo "FAIL listing after the flush: $(ls $M/jobs)"
echo -n 'after:@daily:true' > $M/clone || echo "FAIL clone after the flush"
rm -r $M/jobs/stubborn $M/jobs/after || echo "FAIL rm after the flush"
umount $M || echo "FAIL umount"
echo DONE
"""
