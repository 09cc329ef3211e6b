#!/bin/sh
# Manage jobd jobs with nothing but echo, cat and ls, through a mounted jobd tree
# (a 9P mount or a jobd-fuse mount; both look the same).
#
#   examples/jobs.sh MNT list
#   examples/jobs.sh MNT add NAME 'SCHEDULE' 'COMMAND'     # created stopped
#   examples/jobs.sh MNT start|stop|run|kill NAME
#   examples/jobs.sh MNT show NAME                         # cmd, schedule, status, last log lines
#   examples/jobs.sh MNT edit NAME schedule|cmd 'VALUE'
#   examples/jobs.sh MNT delete NAME
set -eu
mnt=${1:?mountpoint}; verb=${2:?verb}; shift 2

case $verb in
list)
    for dir in "$mnt"/jobs/*/; do
        [ -d "$dir" ] || continue
        printf '%-24s %s\n' "$(basename "$dir")" "$(cat "$dir/ctl")"
    done ;;
add)
    echo -n "$1:$2:$3" > "$mnt/clone" ;;
start|stop|run|kill)
    echo "$verb" > "$mnt/jobs/$1/ctl" ;;
show)
    echo "cmd:      $(cat "$mnt/jobs/$1/cmd")"
    echo "schedule:"; cat "$mnt/jobs/$1/schedule"
    echo "status:"; cat "$mnt/jobs/$1/status"
    echo "log (last 10 lines):"; tail -n 10 "$mnt/jobs/$1/log" ;;
edit)
    echo "$3" > "$mnt/jobs/$1/$2" ;;
delete)
    rm -r "$mnt/jobs/$1" ;;
*)
    echo "unknown verb: $verb" >&2; exit 2 ;;
esac
