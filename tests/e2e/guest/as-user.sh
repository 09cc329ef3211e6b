#!/bin/sh
# as-user USER COMMAND...: run COMMAND (one shell command line, like su -c) as USER from /etc/passwd,
# keeping the environment ($SERVER, $PORT, ...). The kernel's 9P client then attaches again with USER's uid.
[ $# -ge 2 ] || { echo "usage: as-user USER COMMAND..." >&2; exit 2; }
user=$1
shift
grep -q "^$user:" /etc/passwd || { echo "as-user: no user $user" >&2; exit 2; }
cd /tmp
exec su -s /bin/sh "$user" -c "$*"
