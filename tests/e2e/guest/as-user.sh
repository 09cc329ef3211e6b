#!/bin/sh
# as-user USER COMMAND...: run COMMAND (one shell command line, like su -c) as USER from /etc/passwd,
# keeping the environment ($SERVER, $PORT, ...). The kernel's 9P client then attaches again with USER's uid.
[ $# -ge 2 ] || { echo "usage: as-user USER COMMAND..." >&2; exit 2; }
user=$1
shift
entry=$(grep "^$user:" /etc/passwd) || { echo "as-user: no user $user" >&2; exit 2; }
uid=$(echo "$entry" | cut -d: -f3)
gid=$(echo "$entry" | cut -d: -f4)
export HOME=/tmp USER="$user" LOGNAME="$user"
cd /tmp
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups sh -c "$*"
