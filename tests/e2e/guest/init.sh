#!/bin/sh
# /init of the throwaway test guest (busybox sh as PID 1). Its contract with the host (see _run.py):
#   ttyS0 kernel console   ttyS1 the script's stdout   ttyS2 its stderr   ttyS3 control:
#   "jobd-guest: started UPTIME", then "jobd-guest: exit CODE UPTIME", then the kernel log (dmesg).
# Anything else on ttyS3 before "exit" is a setup complaint (a module or the network failed).
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
chmod 1777 /tmp
ctl=/dev/ttyS3
for tty in /dev/ttyS1 /dev/ttyS2 /dev/ttyS3; do stty -F "$tty" raw -echo; done
say() { echo "jobd-guest: $*" > "$ctl"; }
uptime_s() { read -r up _ < /proc/uptime; echo "$up"; }

while read -r mod; do
    insmod "/lib/modules/guest/$mod.ko" || say "setup: insmod $mod failed"
done < /etc/guest-modules

. /run/jobd/env
ip link set lo up
ip link set eth0 up || say "setup: no eth0"
ip addr add "$GUEST_ADDR/24" dev eth0
ip route add default via "$GUEST_GATEWAY"

say "started $(uptime_s)"
cd /root
sh /run/jobd/script.sh < /dev/null > /dev/ttyS1 2> /dev/ttyS2
rc=$?
cd /
say "exit $rc $(uptime_s)"
dmesg > "$ctl"
sync
poweroff -f
