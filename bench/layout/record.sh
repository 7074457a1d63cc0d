#!/usr/bin/env bash
# Regenerates bench/layout/hot-functions.txt: the functions skiff runs in its everyday
# commands, in the order they first run, for bench/layout/cc-hot-first to link first.
#
#   bash bench/layout/record.sh      (as root; `make layout` runs it)
#
# Builds skiff with its symbols into target/layout, then runs, under the tracer
# (trace.py), the commands engines and users run most: `run` of /bin/true (with and
# without podman's seccomp profile), then create/start/state/exec/ps/events/pause/resume/
# kill/delete/list of a sleeping container. Rare commands (checkpoint, update, spec) stay
# out of the list and so out of the hot part of the text. Rerun after changes that add or
# rename functions on those paths; bench/optimisations.md has the peak RSS it buys.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/bench/layout/hot-functions.txt
export PATH=$PATH:$HOME/.cargo/bin

[ "$(id -u)" = 0 ] || { echo "record.sh: run as root (it starts containers)" >&2; exit 1; }
for tool in nm python3 busybox; do
    command -v "$tool" >/dev/null || { echo "record.sh: $tool is missing" >&2; exit 1; }
done

echo "record.sh: building skiff with symbols into target/layout"
(cd "$REPO" && CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --quiet --target-dir target/layout)
BIN=$REPO/target/layout/x86_64-unknown-linux-gnu/release/skiff

W=$(mktemp -d /tmp/skiff-layout.XXXXXX)
STATE=$W/state
CG=/skiff-layout-$$
cleanup() {
    set +e
    for id in $("$BIN" --root "$STATE" list -q 2>/dev/null); do
        "$BIN" --root "$STATE" delete -f "$id" >/dev/null 2>&1
    done
    local d
    for d in /sys/fs/cgroup/*/"${CG#/}" /sys/fs/cgroup/unified/"${CG#/}"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf --one-file-system "$W"
}
trap cleanup EXIT

mkdir -p "$W/rootfs/bin" "$W/rootfs/"{proc,sys,dev,tmp,etc,root}
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for applet in $("$W/rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$W/rootfs/bin/$applet"
done
"$BIN" spec --bundle "$W" >/dev/null
python3 - "$W" "$CG" <<'EOF'
import json, os, sys
w, cg = sys.argv[1], sys.argv[2]
base = json.load(open(os.path.join(w, "config.json")))
base["root"] = {"path": os.path.join(w, "rootfs"), "readonly": True}
base["process"]["terminal"] = False
def write(name, args, seccomp=None):
    c = json.loads(json.dumps(base))
    c["process"]["args"] = args
    c["linux"]["cgroupsPath"] = f"{cg}/{name}"
    if seccomp is not None:
        c["linux"]["seccomp"] = seccomp
    os.makedirs(os.path.join(w, name))
    json.dump(c, open(os.path.join(w, name, "config.json"), "w"))
write("true", ["/bin/true"])
write("sleep", ["/bin/sleep", "1000"])
profile = "/usr/share/containers/seccomp.json"
if os.path.exists(profile):
    write("seccomp", ["/bin/true"], json.load(open(profile)))
EOF

TRACE=$W/trace.txt
traced() { python3 "$REPO/bench/layout/trace.py" "$BIN" "$TRACE" -- "$BIN" --root "$STATE" "$@" </dev/null >/dev/null; }

traced run --bundle "$W/true" layout-run
[ -d "$W/seccomp" ] && traced run --bundle "$W/seccomp" layout-seccomp
traced create --bundle "$W/sleep" layout-sleep
traced start layout-sleep
traced state layout-sleep
traced exec layout-sleep /bin/true
traced ps layout-sleep
traced events --stats layout-sleep
traced pause layout-sleep
traced resume layout-sleep
traced kill layout-sleep KILL
for _ in $(seq 100); do
    "$BIN" --root "$STATE" state layout-sleep 2>/dev/null | grep -q '"stopped"' && break
    sleep 0.05
done
traced list
traced delete layout-sleep

{
    echo "# Functions skiff's everyday commands run, in first-run order; written by"
    echo "# bench/layout/record.sh, read by bench/layout/cc-hot-first. Names without their hash."
    sed -E 's/\.llvm\.[0-9]+$//; s/17h[0-9a-f]+E$//' "$TRACE" | awk '!seen[$0]++'
} >"$OUT"
echo "record.sh: $(grep -vc '^#' "$OUT") functions in ${OUT#"$REPO"/}"
