#!/usr/bin/env bash
# Installs everything jobd and its test suite need on a fresh Debian 12 machine (as root, no venv).
# Idempotent: a second run only checks and returns.
#   tools/install.sh          the daemon and clients (Python packages; libfuse3 for the FUSE front)
#   tools/install.sh --test   plus what the tests use (qemu, busybox, diod, a guest kernel)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

debs=(fuse3 libfuse3-dev pkg-config gcc python3-dev)
[ $want_test = 1 ] && debs+=(qemu-system-x86 busybox-static diod cpio kmod xz-utils zstd procps coreutils)

missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

extras="fuse"
[ $want_test = 1 ] && extras="fuse,test,dev"
stamp=".cache/install-$(sha1sum pyproject.toml | cut -c1-12)-$extras"
if [ ! -e "$stamp" ] || ! python3 -c "import jobd_core, pyfuse3, py9p, trio, croniter" 2>/dev/null; then
    echo "install: pip install -e .[$extras]" >&2
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[$extras]"
    mkdir -p .cache && touch "$stamp"
fi

if [ $want_test = 1 ] && [ -x tools/fetch-guest-kernel.sh ]; then
    tools/fetch-guest-kernel.sh >&2
fi
