#!/bin/sh
# mount9p [OPTIONS [MOUNTPOINT]]: mount the 9P server at $SERVER:$PORT over TCP on MOUNTPOINT (/mnt).
# OPTIONS are appended to trans=tcp,port=$PORT, e.g. mount9p version=9p2000.L,msize=8192,cache=none
exec mount -t 9p -o "trans=tcp,port=$PORT${1:+,$1}" "$SERVER" "${2:-/mnt}"
