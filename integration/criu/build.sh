#!/bin/bash
# Makes sure a CRIU that works on this kernel is available for skiff's checkpoint/restore
# tests, and prints its path on the last line of stdout.
#
# - A criu >= 4.1 on PATH is used as it is (Debian's 3.17 aborts on kernels >= 6.13,
#   whose vDSO has a split vvar area; 4.1 fixed that).
# - Otherwise CRIU 4.2 is built from ../shared/vendor/criu-4.2.tar.gz (checked against
#   SHA256SUMS) into target/criu/criu, after installing its Debian build dependencies.
#   The system's criu is never replaced.
#
# Idempotent: a second run finds target/criu/criu and only prints it. About 20 s of
# compiling on 2 cores, plus the packages the first time.
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT=target/criu
VENDOR=${CRIU_VENDOR:-../shared/vendor}
TARBALL=criu-4.2.tar.gz

say() { echo "criu: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# "criu --version" prints "Version: 4.2"; true when that is at least 4.1.
good_version() {
    local version
    version=$("$1" --version 2>/dev/null | sed -n 's/^Version: *\([0-9][0-9.]*\).*/\1/p' | head -1)
    [ -n "$version" ] || return 1
    local major=${version%%.*} rest=${version#*.}
    local minor=${rest%%.*}
    [ "$major" -gt 4 ] || { [ "$major" -eq 4 ] && [ "${minor:-0}" -ge 1 ]; }
}

if system=$(command -v criu) && good_version "$system"; then
    say "using $system ($("$system" --version | head -1))"
    echo "$system"
    exit 0
fi
# One build at a time (make criu and a test run may both ask); a second caller waits and
# then finds the binary.
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if [ -x "$OUT/criu" ] && good_version "$OUT/criu"; then
    echo "$PWD/$OUT/criu"
    exit 0
fi

# Debian packages: name:file-that-shows-it-is-installed.
deps=(
    libprotobuf-dev:/usr/include/google/protobuf/descriptor.proto
    libprotobuf-c-dev:/usr/include/protobuf-c/protobuf-c.h
    protobuf-c-compiler:protoc-c
    protobuf-compiler:protoc
    python3-protobuf:/usr/lib/python3/dist-packages/google/protobuf
    libnl-3-dev:/usr/include/libnl3/netlink/netlink.h
    libnet1-dev:/usr/include/libnet.h
    libcap-dev:/usr/include/sys/capability.h
    libbsd-dev:/usr/include/bsd/string.h
    libaio-dev:/usr/include/libaio.h
    libgnutls28-dev:/usr/include/gnutls/gnutls.h
    libnftables-dev:/usr/include/nftables/libnftables.h
    pkg-config:pkg-config
    gcc:gcc
    make:make
)
missing=()
for pair in "${deps[@]}"; do
    pkg=${pair%%:*} what=${pair#*:}
    case $what in
    /*) [ -e "$what" ] || missing+=("$pkg") ;;
    *) command -v "$what" >/dev/null || missing+=("$pkg") ;;
    esac
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}" >&2
fi

[ -f "$VENDOR/$TARBALL" ] || die "$VENDOR/$TARBALL is missing (the CRIU 4.2 source)"
(cd "$VENDOR" && grep " $TARBALL\$" SHA256SUMS | sha256sum -c --quiet -) >&2 ||
    die "$VENDOR/$TARBALL does not match $VENDOR/SHA256SUMS"

# Build in a scratch dir and move only the finished binary into place, so an interrupted
# build never leaves a target/criu/criu that looks complete.
src=$OUT/src
rm -rf "$src"
mkdir -p "$src"
trap 'rm -rf "$src"' EXIT
tar -xzf "$VENDOR/$TARBALL" -C "$src" --strip-components=1
say "building CRIU 4.2 in $src"
start=$(date +%s)
# Output to stderr: the last line of stdout is the path callers read.
make -C "$src" -j"$(nproc)" criu >&2 || die "make criu failed (output above)"
install -m 0755 "$src/criu/criu" "$OUT/criu.tmp"
mv "$OUT/criu.tmp" "$OUT/criu"
say "built $OUT/criu in $(($(date +%s) - start)) s"
good_version "$OUT/criu" || die "$OUT/criu --version does not say 4.1 or later"
echo "$PWD/$OUT/criu"
