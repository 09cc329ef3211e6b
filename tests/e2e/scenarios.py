"""One scenario list, run as a user types it, against every front.

Each scenario is a POSIX shell fragment (dash, bash and busybox sh all run it) that works on a mounted jobd
tree at ``$M`` — a Linux kernel 9P mount inside a qemu guest, a FUSE mount on this host, or anything else that
looks like a file system. A fragment reports through ``pass``/``fail`` lines on stdout; ``parse_report``
turns them back into results, so the same list proves the fronts behave alike.

Scenarios use distinct job names so the whole list runs against one mount in one go (one guest boot).
"""

# ruff: noqa: E501  (the scenarios are shell lines as a user types them; wrapping would hide that)
from __future__ import annotations

from dataclasses import dataclass

# Shell helpers shared by all scenarios. ``wait_for`` polls a condition for up to ~15 s (jobs fire every
# second; a TCG guest is slow). ``must_fail`` runs a command that has to fail and keeps its stderr.
PRELUDE = r"""
SCEN=setup
pass() { echo "PASS $SCEN"; }
fail() { echo "FAIL $SCEN: $*"; FAILED=1; }
wait_for() {
    i=0
    while [ $i -lt 75 ]; do
        if eval "$1"; then return 0; fi
        sleep 0.2; i=$((i+1))
    done
    return 1
}
must_fail() {
    if ( eval "$1" ) 2>/tmp/jobd-err; then fail "succeeded but must fail: $1"; return 1; fi
    return 0
}
must_fail_with() {
    # must_fail_with 'TEXT' 'COMMAND': fails, and stderr names the expected error
    if ( eval "$2" ) 2>/tmp/jobd-err; then fail "succeeded but must fail: $2"; return 1; fi
    if [ "$ERRTEXT" = 1 ] && ! grep -qi "$1" /tmp/jobd-err; then
        fail "expected error '$1' from: $2, got: $(cat /tmp/jobd-err)"; return 1
    fi
    return 0
}
begin() { SCEN=$1; FAILED=0; }
end() { [ "$FAILED" = 0 ] && pass; }
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str


SCENARIOS: list[Scenario] = [
    Scenario(
        "seed-walkthrough",
        r"""
begin seed-walkthrough
echo -n 'hello:0/1 * * * * ? *:echo hello world' > $M/clone || fail "clone write"
ls $M/jobs | grep -qx hello || fail "hello not listed in jobs/"
[ "$(ls $M/jobs/hello | sort | tr '\n' ' ')" = "cmd ctl log schedule status " ] || fail "job files: $(ls $M/jobs/hello)"
[ "$(cat $M/jobs/hello/cmd)" = "echo hello world" ] || fail "cmd: $(cat $M/jobs/hello/cmd)"
[ "$(head -n 1 $M/jobs/hello/schedule)" = "0/1 * * * * ? *" ] || fail "schedule: $(cat $M/jobs/hello/schedule)"
[ "$(cat $M/jobs/hello/ctl)" = "stopped" ] || fail "new job not stopped: $(cat $M/jobs/hello/ctl)"
echo -n start > $M/jobs/hello/ctl || fail "start"
[ "$(cat $M/jobs/hello/ctl)" = "started" ] || fail "ctl after start: $(cat $M/jobs/hello/ctl)"
wait_for '[ "$(grep -c ":hello world$" $M/jobs/hello/log)" -ge 2 ]' || fail "no runs in log: $(cat $M/jobs/hello/log)"
grep -q '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9][.0-9]* [-+][0-9]\{4\} [A-Za-z0-9+-]*:started$' $M/jobs/hello/log \
    || fail "log line shape: $(head -n 2 $M/jobs/hello/log)"
grep -q '^next: ' $M/jobs/hello/schedule || fail "started schedule shows no next run: $(cat $M/jobs/hello/schedule)"
grep -q '^state: started' $M/jobs/hello/status || fail "status: $(cat $M/jobs/hello/status)"
echo stop > $M/jobs/hello/ctl || fail "stop with a trailing newline"
[ "$(cat $M/jobs/hello/ctl)" = "stopped" ] || fail "ctl after stop"
grep -q ':stopped$' $M/jobs/hello/log || fail "log has no stopped entry"
end
""",
    ),
    Scenario(
        "sizes-are-real",
        r"""
begin sizes-are-real
echo -n 'sizes:*/5 * * * *:echo a:b:c' > $M/clone || fail "clone with ':' in the command"
[ "$(cat $M/jobs/sizes/cmd)" = "echo a:b:c" ] || fail "cmd keeps its colons: $(cat $M/jobs/sizes/cmd)"
for f in cmd ctl schedule status log; do
    n=$(cat $M/jobs/sizes/$f | wc -c)
    s=$(stat -c %s $M/jobs/sizes/$f)
    [ "$n" = "$s" ] || fail "$f: stat size $s but $n bytes read"
done
# "echo a:b:c" and the newline a value file ends with
ls -l $M/jobs/sizes/cmd | grep -q ' 11 ' || fail "ls -l cmd size: $(ls -l $M/jobs/sizes/cmd)"
rm -r $M/jobs/sizes || fail "rm -r"
end
""",
    ),
    Scenario(
        "edit-schedule-and-cmd",
        r"""
begin edit-schedule-and-cmd
echo -n 'edit:*/5 * * * *:echo one' > $M/clone || fail clone
echo '0 12 * * MON-FRI' > $M/jobs/edit/schedule || fail "schedule edit"
[ "$(head -n 1 $M/jobs/edit/schedule)" = "0 12 * * MON-FRI" ] || fail "schedule now: $(cat $M/jobs/edit/schedule)"
echo 'echo two' > $M/jobs/edit/cmd || fail "cmd edit"
[ "$(cat $M/jobs/edit/cmd)" = "echo two" ] || fail "cmd now: $(cat $M/jobs/edit/cmd)"
echo 'echo a much longer command than before, to check truncation' > $M/jobs/edit/cmd || fail "longer cmd"
echo 'echo 3' > $M/jobs/edit/cmd || fail "shorter cmd"
[ "$(cat $M/jobs/edit/cmd)" = "echo 3" ] || fail "shorter cmd left a tail: $(cat $M/jobs/edit/cmd)"
must_fail_with 'Invalid argument' "echo '*/0 * * * *' > $M/jobs/edit/schedule"
[ "$(head -n 1 $M/jobs/edit/schedule)" = "0 12 * * MON-FRI" ] || fail "bad schedule changed it"
echo run > $M/jobs/edit/ctl || fail "run verb"
wait_for 'grep -q ":3$" $M/jobs/edit/log' || fail "run once: $(cat $M/jobs/edit/log)"
rm -r $M/jobs/edit
end
""",
    ),
    Scenario(
        "tail-follows-log",
        r"""
begin tail-follows-log
echo -n 'tailed:0 0 1 1 *:echo tick' > $M/clone || fail clone
tail -f $M/jobs/tailed/log > /tmp/jobd-tail 2>&1 &
TAILPID=$!
sleep 1
echo run > $M/jobs/tailed/ctl
wait_for 'grep -q ":tick$" /tmp/jobd-tail' || fail "tail -f saw no new line: $(cat /tmp/jobd-tail)"
kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null
rm -r $M/jobs/tailed
end
""",
    ),
    Scenario(
        "follow-full-log",
        r"""
begin follow-full-log
# A log at its bound: each run's lines push the oldest out. Followers must still see every run
# once, in order: `tail -f` (which compares the size with its offset: the size never shrinks) and
# a reader that holds the log open and reads on from its offset (as jobctl log -f does).
echo -n 'full:0 0 1 1 *:echo tick $(date +%s%N)' > $M/clone || fail clone
echo 'history 200' > $M/jobs/full/ctl || fail "history setting"
tail -f $M/jobs/full/log > /tmp/jobd-tail-full 2>&1 &
TAILPID=$!
exec 3< $M/jobs/full/log
: > /tmp/jobd-follow
sleep 1
n=0
while [ $n -lt 6 ]; do
    echo run > $M/jobs/full/ctl || fail "run $n"
    n=$((n+1))
    wait_for "cat <&3 >> /tmp/jobd-follow; [ \$(grep -c ':tick ' /tmp/jobd-follow) -ge $n ]" \
        || { fail "the reader missed run $n: $(cat /tmp/jobd-follow)"; break; }
    wait_for "[ \$(grep -c ':tick ' /tmp/jobd-tail-full) -ge $n ]" \
        || { fail "tail -f missed run $n: $(cat /tmp/jobd-tail-full)"; break; }
done
exec 3<&-
kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null
for out in /tmp/jobd-follow /tmp/jobd-tail-full; do
    ticks=$(grep ':tick ' $out)
    [ "$(echo "$ticks" | wc -l)" = 6 ] && [ "$(echo "$ticks" | sort -u | wc -l)" = 6 ] \
        && [ "$(echo "$ticks" | sort)" = "$ticks" ] || fail "$out: repeats, gaps or disorder: $(cat $out)"
done
[ "$(cat $M/jobs/full/log | wc -c)" -le 200 ] || fail "log over its history bound: $(cat $M/jobs/full/log)"
[ "$(cat $M/jobs/full/log | tail -n 1)" = "$(tail -n 1 /tmp/jobd-follow)" ] || fail "the log ends elsewhere"
rm -r $M/jobs/full
end
""",
    ),
    Scenario(
        "delete-three-ways",
        r"""
begin delete-three-ways
echo -n 'd1:* * * * *:true' > $M/clone && echo -n 'd2:* * * * *:true' > $M/clone \
    && echo -n 'd3:* * * * *:true' > $M/clone || fail "clones"
echo start > $M/jobs/d1/ctl
rm -r $M/jobs/d1 || fail "rm -r"
rmdir $M/jobs/d2 || fail "rmdir"
echo delete > $M/jobs/d3/ctl || fail "delete verb"
for d in d1 d2 d3; do [ -e $M/jobs/$d ] && fail "$d still there"; done
echo -n 'd1:* * * * *:true' > $M/clone || fail "name reusable after delete"
[ "$(cat $M/jobs/d1/log | wc -c)" = 0 ] || fail "history of the deleted job came back"
rm -r $M/jobs/d1
end
""",
    ),
    Scenario(
        "bad-input",
        r"""
begin bad-input
before=$(ls $M/jobs | sort | tr '\n' ' ')
must_fail_with 'Invalid argument' "echo -n bad > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'a:* * * * *' > $M/clone"
must_fail_with 'Invalid argument' "echo -n ':* * * * *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'a/b:* * * * *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n '..:* * * * *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'a b:* * * * *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'x:*/0 * * * *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'x:5-1 * * * *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'x:0 0 30 2 *:true' > $M/clone"
must_fail_with 'Invalid argument' "echo -n 'x:* * * * *:' > $M/clone"
[ "$(ls $M/jobs | sort | tr '\n' ' ')" = "$before" ] || fail "bad clones created something: $(ls $M/jobs)"
echo -n 'dup:* * * * *:true' > $M/clone || fail "first dup"
must_fail_with 'File exists' "echo -n 'dup:* * * * *:false' > $M/clone"
[ "$(cat $M/jobs/dup/cmd)" = "true" ] || fail "duplicate changed the job"
must_fail_with 'Invalid argument' "echo bogus > $M/jobs/dup/ctl"
[ "$(cat $M/jobs/dup/ctl)" = "stopped" ] || fail "bad verb changed state"
must_fail "echo x > $M/jobs/dup/log"
must_fail "echo x > $M/jobs/dup/status"
must_fail_with 'No such file' "cat $M/jobs/nope/cmd"
must_fail "mkdir $M/jobs/newdir"
must_fail "touch $M/jobs/dup/newfile"
must_fail "rm $M/clone"
rm -r $M/jobs/dup
end
""",
    ),
]


def full_script(mountpoint: str, *, errtext: bool = True) -> str:
    """The whole list as one script for ``sh``; ``errtext`` is False where the client cannot show our
    error text (a legacy 9P2000 mount prints "Unknown error 526" for strings it does not know)."""
    parts = [f"M={mountpoint}", f"ERRTEXT={1 if errtext else 0}", PRELUDE]
    parts += [s.script for s in SCENARIOS]
    return "\n".join(parts) + "\necho DONE\n"


@dataclass(frozen=True)
class Report:
    passed: list[str]
    failed: dict[str, list[str]]
    done: bool

    def problems(self) -> list[str]:
        out = [f"{name}: {msg}" for name, msgs in self.failed.items() for msg in msgs]
        missing = [s.name for s in SCENARIOS if s.name not in self.passed and s.name not in self.failed]
        out += [f"{name}: did not report" for name in missing]
        if not self.done:
            out.append("the script did not finish")
        return out


def parse_report(stdout: str) -> Report:
    passed: list[str] = []
    failed: dict[str, list[str]] = {}
    done = False
    for line in stdout.splitlines():
        if line.startswith("PASS "):
            passed.append(line[5:].strip())
        elif line.startswith("FAIL "):
            name, _, msg = line[5:].partition(": ")
            failed.setdefault(name.strip(), []).append(msg)
        elif line.strip() == "DONE":
            done = True
    return Report(passed, failed, done)
