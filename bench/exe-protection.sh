#!/usr/bin/env bash
# The cost of skiff's /proc/self/exe protection (bench/exe-protection.md): `run` of a
# busybox /bin/true bundle, back to back and cold (50 ms idle before each run), for two
# skiff binaries and crun, in one private mount namespace without the cgroup2 mount
# (crun refuses this hybrid host otherwise).
#
#   bash bench/exe-protection.sh SKIFF_WITHOUT SKIFF_WITH
#
# Environment: ROUNDS (default 4) x RUNS (default 15) runs per cell, WARMUP (default 5).
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 SKIFF_WITHOUT SKIFF_WITH" >&2; exit 2; }
RUNS=${RUNS:-15}
ROUNDS=${ROUNDS:-4}
WARMUP=${WARMUP:-5}
W=$(mktemp -d /tmp/skiff-exe-bench.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT
declare -A BIN=([without]=$(readlink -f "$1") [with]=$(readlink -f "$2") [crun]=$(readlink -f "$(command -v crun)"))

mkdir -p "$W/rootfs/bin" "$W/rootfs/"{proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$W/rootfs/bin/busybox"
ln -s busybox "$W/rootfs/bin/true"
(cd "$W" && "${BIN[with]}" spec && mv config.json base.json)
for rt in "${!BIN[@]}"; do
    mkdir -p "$W/bundles/$rt" "$W/state/$rt"
    python3 - "$W" "$rt" <<'PY'
import json, os, sys
w, rt = sys.argv[1:]
c = json.load(open(os.path.join(w, "base.json")))
c["ociVersion"] = "1.0.2"  # crun 1.8 refuses newer versions
c["root"] = {"path": os.path.join(w, "rootfs"), "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["linux"]["cgroupsPath"] = f"/skiff-exe-bench/{rt}"
json.dump(c, open(os.path.join(w, "bundles", rt, "config.json"), "w"))
PY
done

inner() {
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    local rt mode prepare round
    # Rounds alternate the runtimes, so a burst of load from elsewhere on this shared
    # machine falls on all of them alike; each cell pools its rounds.
    for round in $(seq "$ROUNDS"); do
        for mode in back-to-back cold; do
            for rt in without with crun; do
                prepare="${BIN[$rt]} --root $W/state/$rt delete -f bench"
                [ $mode = cold ] && prepare="$prepare; sleep 0.05"
                hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
                    --prepare "sh -c '$prepare >/dev/null 2>&1 || true'" \
                    --export-json "$W/$mode-$rt-$round.json" \
                    "${BIN[$rt]} --root $W/state/$rt run --bundle $W/bundles/$rt bench" >/dev/null
            done
        done
        # The re-exec alone: a command that names `create` but only prints its help.
        for rt in without with; do
            hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
                --export-json "$W/reexec-$rt-$round.json" "${BIN[$rt]} create --help" >/dev/null
        done
    done
    for rt in without with crun; do "${BIN[$rt]}" --root "$W/state/$rt" delete -f bench >/dev/null 2>&1 || true; done
}
export -f inner
export W RUNS WARMUP ROUNDS
BIN_DECL=$(declare -p BIN)
unshare -m bash -c "$BIN_DECL; $(declare -f inner); inner"
for d in /sys/fs/cgroup/*/skiff-exe-bench; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

python3 - "$W" "$ROUNDS" <<'PY'
import json, os, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
def cell(name, cols):
    out = []
    for rt in cols:
        t = []
        for r in range(1, rounds + 1):
            t += json.load(open(os.path.join(w, f"{name}-{rt}-{r}.json")))["results"][0]["times"]
        t = sorted(x * 1000 for x in t)
        out.append("%.2f ms (p10 %.2f, p90 %.2f)" % (statistics.median(t), t[len(t) // 10], t[(len(t) * 9) // 10]))
    return out
print("| median of %d runs | skiff without | skiff with | crun |" % (rounds * int(os.environ.get("RUNS", 15))))
print("|---|---|---|---|")
for mode in ("back-to-back", "cold"):
    print(f"| `run` /bin/true, {mode} | " + " | ".join(cell(mode, ("without", "with", "crun"))) + " |")
print("| `create --help` (the re-exec alone) | " + " | ".join(cell("reexec", ("without", "with"))) + " | |")
PY
