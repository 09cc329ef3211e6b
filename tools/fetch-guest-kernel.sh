#!/usr/bin/env bash
# Fetches Debian's stock kernel for the qemu guest harness (tests/e2e/guest) into a cache dir — never /boot.
#
#   tools/fetch-guest-kernel.sh        prints the unpacked kernel dir (it holds boot/vmlinuz-* and lib/modules/)
#
# The cache is $JOBD_GUEST_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/jobd-guest. `linux-image-amd64` is a
# metapackage, so this downloads the real `linux-image-<version>-amd64` it depends on (or
# $JOBD_GUEST_KERNEL_PKG) with `apt-get download` and unpacks it with `dpkg-deb -x`. Idempotent; concurrent
# runs serialise on a lock. Exits non-zero with the reason on stderr when it cannot fetch.
set -euo pipefail

cache="${JOBD_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jobd-guest}"
dest="$cache/kernel"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

if [ -e "$dest/.complete" ]; then
    echo "$dest"
    exit 0
fi

die() { echo "fetch-guest-kernel: $*" >&2; exit 1; }
for tool in apt-cache apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || die "needs $tool (a Debian/Ubuntu host) to fetch the guest kernel"
done

real_package() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '/^ *Depends: linux-image-[0-9]/ { print $2; exit }'
}

pkg="${JOBD_GUEST_KERNEL_PKG:-}"
if [ -z "$pkg" ]; then
    pkg="$(real_package || true)"
    if [ -z "$pkg" ]; then
        echo "fetch-guest-kernel: linux-image-amd64 unknown to apt; running apt-get update" >&2
        apt-get update -qq >&2 || die "apt-get update failed"
        pkg="$(real_package || true)"
    fi
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a real kernel package (apt-cache depends)"
fi

work="$(mktemp -d "$cache/fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt-get download drops privileges to _apt and needs to write here
echo "fetch-guest-kernel: apt-get download $pkg" >&2
(cd "$work" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
deb="$(ls "$work"/*.deb 2>/dev/null | head -n1)"
[ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
ls "$work"/root/boot/vmlinuz-* >/dev/null 2>&1 || die "$pkg holds no boot/vmlinuz-*"

rm -rf "$dest"
mv "$work/root" "$dest"
dpkg-deb -f "$deb" Package Version > "$dest/.complete"
echo "fetch-guest-kernel: unpacked $(basename "$deb") into $dest" >&2
echo "$dest"
