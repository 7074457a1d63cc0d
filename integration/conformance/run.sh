#!/bin/bash
# The OCI runtime conformance suite (opencontainers/runtime-tools' validation/*.t) against
# a runtime: skiff's release build by default, or the runtime given as $RUNTIME (e.g.
# /usr/sbin/runc, to compare). Every test file runs under a time limit, $CONFORMANCE_JOBS
# at a time, and prints TAP; this script counts ok / not ok / skip per file and writes
#   target/conformance/<runtime>/results.txt  one line per file: counts and how it ended
#   target/conformance/<runtime>/not-ok.txt   every failure as "<file> | <description>"
#   target/conformance/<runtime>/summary.txt  the totals and the wall time
# with the TAP and stderr of each file under logs/.
#
#   run.sh           run it and report; exits 1 only if the suite could not be run
#   run.sh --check   also fail on any not ok (or a file that did not finish) that is not
#                    listed, with its reason, in integration/conformance/known-limits
#
# Installs what it needs: Go >= 1.21 (golang-1.23-go from Debian's bookworm-backports,
# whose suite it adds to apt's sources when missing) and builds runtime-tools from
# ../shared/vendor once (kept under target/conformance/runtime-tools).
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
CONF=$REPO/target/conformance
HERE=$REPO/integration/conformance
VENDOR_TARBALL=${RUNTIME_TOOLS_TARBALL:-$REPO/../shared/vendor/runtime-tools.tar.gz}
GO=/usr/lib/go-1.23/bin/go
SKIFF=$REPO/target/x86_64-unknown-linux-gnu/release/skiff
RUNTIME=${RUNTIME:-$SKIFF}
# Seconds one test file may take; the slowest takes about 20 s here.
CONFORMANCE_TIMEOUT=${CONFORMANCE_TIMEOUT:-120}
CONFORMANCE_JOBS=${CONFORMANCE_JOBS:-2}
# Container IDs and cgroup paths the suite makes start with this (the patched suite reads
# it), so leftovers are recognisable and concurrent runs on one machine never collide.
export CONFORMANCE_PREFIX=${CONFORMANCE_PREFIX:-skconf-}

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

say() { echo "conformance: $*"; }
die() {
    echo "conformance: $*" >&2
    exit 1
}

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "$@"
}

# Go 1.23 from bookworm-backports.
# shellcheck source=integration/apt-backports.sh
. "$(dirname "${BASH_SOURCE[0]}")/../apt-backports.sh"
ensure_go() {
    [ -x "$GO" ] && return
    ensure_backports_source || die "cannot add bookworm-backports"
    say "installing golang-1.23-go"
    apt_get update
    apt_get install -y --no-install-recommends golang-1.23-go
    [ -x "$GO" ] || die "golang-1.23-go installed no $GO"
}

ensure_tools() {
    local missing=()
    command -v timeout >/dev/null || missing+=(coreutils)
    command -v make >/dev/null || missing+=(make)
    command -v tar >/dev/null || missing+=(tar)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt_get update
        apt_get install -y --no-install-recommends "${missing[@]}"
    fi
}

# The suite, unpacked and patched once per tarball: runtimetest and every validation/*.t.
RT=$CONF/runtime-tools
build_suite() {
    local sum stamp=$CONF/runtime-tools.built
    [ -f "$VENDOR_TARBALL" ] || die "$VENDOR_TARBALL is missing"
    # Rebuilt when the tarball or the patches change.
    sum=$(cat "$VENDOR_TARBALL" "$HERE/patch-suite.sh" | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -x "$RT/runtimetest" ]; then
        return
    fi
    ensure_go
    say "building runtime-tools (about a minute)"
    rm -rf "$RT" "$stamp"
    mkdir -p "$CONF"
    tar -xzf "$VENDOR_TARBALL" -C "$CONF"
    [ -d "$RT/validation" ] || die "$VENDOR_TARBALL holds no runtime-tools/validation"
    bash "$HERE/patch-suite.sh" "$RT"
    (cd "$RT" && PATH=$(dirname "$GO"):$PATH GOFLAGS=-mod=vendor GOPROXY=off \
        GOTOOLCHAIN=local CGO_ENABLED=0 GOCACHE=$CONF/go-cache COMMIT=vendored \
        make -j"$CONFORMANCE_JOBS" runtimetest validation-executables) >"$CONF/build.log" 2>&1 ||
        {
            tail -20 "$CONF/build.log" >&2
            die "building runtime-tools failed (log: $CONF/build.log)"
        }
    echo "$sum" >"$stamp"
}

# One test file, run from the suite's directory (it finds runtimetest and the rootfs
# tarball there) with its own temporary directory. Writes logs/<name>.{tap,err,rc,time}.
run_one() {
    local t=$1 name tmp start rc
    name=$(basename "$t" .t)
    tmp=$OUT/tmp/$name
    mkdir -p "$tmp"
    start=$EPOCHREALTIME
    rc=0
    (cd "$RT" && TMPDIR=$tmp RUNTIME=$WRAPPER timeout -k 10 "$CONFORMANCE_TIMEOUT" "$t" \
        >"$OUT/logs/$name.tap" 2>"$OUT/logs/$name.err" </dev/null) || rc=$?
    echo "$rc" >"$OUT/logs/$name.rc"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' \
        >"$OUT/logs/$name.time"
    rm -rf --one-file-system "$tmp"
    echo "  $name: exit $rc, $(cat "$OUT/logs/$name.time") s"
}

# Counts one file's top-level TAP lines: "ok notok skip".
count_tap() {
    awk '
        /^ok [0-9]+/ { if (tolower($0) ~ /# skip/) skip++; else ok++; next }
        /^not ok [0-9]+/ { if (tolower($0) ~ /# (skip|todo)/) skip++; else notok++; next }
        END { printf "%d %d %d\n", ok, notok, skip }
    ' "$1"
}

# Leftovers of the run: containers in the state root, cgroups named with the prefix.
clean_up() {
    local left=0 id dir
    if [ -d "$STATE" ]; then
        for id in $("$RUNTIME" --root "$STATE" list -q 2>/dev/null); do
            echo "conformance: leftover container $id" >&2
            left=1
            "$RUNTIME" --root "$STATE" delete -f "$id" >/dev/null 2>&1 || true
        done
    fi
    # Mounts under this run's directory: a runtime that runs a container without a mount
    # namespace of its own (runc does, for linux_ns_itype) mounts in the host's.
    while IFS= read -r dir; do
        echo "conformance: leftover mount $dir" >&2
        left=1
        umount -l "$dir" || true
    done < <(awk -v out="$OUT/" 'index($5, out) == 1 { print $5 }' /proc/self/mountinfo |
        sort -r)
    # Deepest first, so parents are empty when their turn comes; only directories this
    # run's prefix names (made by the suite's configs), never one with a process in it.
    while IFS= read -r dir; do
        [ -d "$dir" ] || continue
        if [ -s "$dir/cgroup.procs" ]; then
            echo "conformance: leftover cgroup $dir still has processes; not touched" >&2
            left=1
            continue
        fi
        echo "conformance: leftover cgroup $dir" >&2
        left=1
        rmdir "$dir" 2>/dev/null || true
    done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d \
        -path "*/$CONFORMANCE_PREFIX*" 2>/dev/null | awk '{ print length, $0 }' |
        sort -rn | cut -d' ' -f2-)
    return $left
}

ensure_tools
build_suite
[ -x "$RUNTIME" ] || die "$RUNTIME is not an executable (make build?)"

name=$(basename "$RUNTIME")
OUT=$CONF/$name
STATE=$OUT/state
WRAPPER=$OUT/bin/$name
rm -rf --one-file-system "$OUT"
mkdir -p "$OUT/logs" "$OUT/tmp" "$OUT/bin" "$STATE"
# The suite calls "$RUNTIME <command> ..."; the wrapper adds a state root of this run's
# own, so its containers never mix with any other.
cat >"$WRAPPER" <<EOF
#!/bin/sh
exec "$RUNTIME" --root "$STATE" "\$@"
EOF
chmod +x "$WRAPPER"

tests=()
for t in "$RT"/validation/*/*.t; do
    tests+=("validation/$(basename "$(dirname "$t")")/$(basename "$t")")
done
[ ${#tests[@]} -gt 0 ] || die "no validation/*/*.t in $RT"

say "$name: ${#tests[@]} test files, $CONFORMANCE_JOBS at a time, ${CONFORMANCE_TIMEOUT}s each"
started=$(date +%s)
export -f run_one
export RT OUT WRAPPER CONFORMANCE_TIMEOUT
printf '%s\n' "${tests[@]}" | xargs -P "$CONFORMANCE_JOBS" -I{} bash -c 'run_one "$1"' _ {}
wall=$(($(date +%s) - started))

leftovers=0
clean_up || leftovers=1
rm -rf --one-file-system "$OUT/tmp"

# Per file: counts and how it ended. A file that exited non-zero or timed out also counts
# as a failure, named "(exit N)" / "(timeout)" in not-ok.txt. (Plans are not checked: some
# files print none when all went well, or two.)
results=$OUT/results.txt
notok=$OUT/not-ok.txt
: >"$notok"
printf '%-40s %5s %6s %5s  %s\n' file ok not_ok skip ended >"$results"
tot_ok=0 tot_notok=0 tot_skip=0 bad_files=0
for t in "${tests[@]}"; do
    n=$(basename "$t" .t)
    read -r ok nok skip < <(count_tap "$OUT/logs/$n.tap")
    rc=$(cat "$OUT/logs/$n.rc")
    ended="exit $rc"
    problem=
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        ended="timeout"
        problem="(timeout)"
    elif [ "$rc" != 0 ]; then
        problem="(exit $rc)"
    fi
    if [ -n "$problem" ]; then
        bad_files=$((bad_files + 1))
        echo "$n | $problem" >>"$notok"
    fi
    sed -n 's/^not ok [0-9]* *-\? *//p' "$OUT/logs/$n.tap" | grep -viE '# (skip|todo)' |
        sed "s/^/$n | /" >>"$notok" || true
    printf '%-40s %5d %6d %5d  %s\n' "$n" "$ok" "$nok" "$skip" "$ended" >>"$results"
    tot_ok=$((tot_ok + ok))
    tot_notok=$((tot_notok + nok))
    tot_skip=$((tot_skip + skip))
done
printf '%-40s %5d %6d %5d\n' TOTAL "$tot_ok" "$tot_notok" "$tot_skip" >>"$results"

summary="$name: $tot_ok ok, $tot_notok not ok, $tot_skip skip in ${#tests[@]} files"
summary+=" ($bad_files did not finish cleanly); ${wall}s wall, $CONFORMANCE_JOBS jobs"
{
    echo "$summary"
    version=$("$RUNTIME" --version 2>/dev/null || true)
    echo "${version%%$'\n'*}"
    echo "results: $results"
} >"$OUT/summary.txt"
say "$summary"
say "per file: $results; failures: $notok"

[ $check = 1 ] || exit 0

trim() { sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$1"; }

# Every failure must match a "<file> | <description glob> | <reason>" line of known-limits.
status=0
unexpected=$OUT/unexpected.txt
: >"$unexpected"
while IFS= read -r line; do
    file=${line%% | *}
    desc=${line#* | }
    listed=0
    while IFS='|' read -r kfile kdesc kreason; do
        kfile=$(trim "$kfile")
        kdesc=$(trim "$kdesc")
        [ -n "$kfile" ] && [ -n "$(trim "$kreason")" ] || continue
        # shellcheck disable=SC2053 # the description is a glob on purpose
        if [ "$file" = "$kfile" ] && [[ $desc == $kdesc ]]; then
            listed=1
            break
        fi
    done < <(grep -v '^\s*\(#\|$\)' "$HERE/known-limits")
    [ $listed = 1 ] || echo "$line" >>"$unexpected"
done <"$notok"
if [ -s "$unexpected" ]; then
    echo "conformance: not ok outside integration/conformance/known-limits:" >&2
    sed 's/^/  /' "$unexpected" >&2
    status=1
fi
if [ $leftovers = 1 ]; then
    echo "conformance: the run left containers or cgroups behind (removed now)" >&2
    status=1
fi
[ $status = 0 ] && say "every not ok is a known limit"
exit $status
