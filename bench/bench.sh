#!/usr/bin/env bash
# skiff vs crun vs runc: latency of each lifecycle step and of parallel starts, peak RSS,
# binary size. Writes bench/RESULTS.md and prints the table.
#
# Environment:
#   RUNTIMES      runtimes to compare, default "skiff crun runc" (e.g. RUNTIMES="crun runc")
#   BENCH_RUNS    hyperfine --runs per measurement (default 30: fewer leave the back-to-back rows
#                 swinging by more than the gaps being measured)
#   BENCH_WARMUP  hyperfine --warmup per measurement (default 3)
#   BENCH_IDLE_GAP  seconds of idle before each timed command of the "cold" rows (default 0.05)
#   BENCH_RESULTS where to write the report (default bench/RESULTS.md)
#   BENCH_KEEP=1  keep the scratch dir (hyperfine JSON exports) instead of removing it
#   BENCH_NO_BUILD=1  use the existing target/x86_64-unknown-linux-gnu/release/skiff instead of running cargo build
#   SKIFF_BIN     the skiff binary to measure (default target/x86_64-unknown-linux-gnu/release/skiff; setting it
#                 skips the build), e.g. SKIFF_BIN=/usr/local/bin/skiff
#
# Every runtime runs inside ONE private mount namespace in which the cgroup2 mount at
# /sys/fs/cgroup/unified is unmounted (crun 1.8.1 refuses hybrid hosts otherwise), with
# its own --root state dir and its own fixed absolute cgroupsPath (/skiff-bench/<rt>...).
# A runtime that fails a scenario gets "failed" in that cell; the run carries on.
set -euo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# --- helpers shared by the outer script, the namespace and hyperfine's --prepare ----------

bin_of() { # runtime name -> absolute binary path
    case $1 in
        skiff) echo "${SKIFF_BIN:-$REPO/target/x86_64-unknown-linux-gnu/release/skiff}" ;;
        *) readlink -f "$(command -v "$1")" ;;
    esac
}

# Container IDs and bundles used by the scenarios.
PAR=10
rt_cmd() { # rt -> "BIN --root STATE"
    echo "$(bin_of "$1") --root $W/state/$1"
}

ctl() { # ctl RT ACTION [ID]: the unmeasured steps (hyperfine --prepare/--cleanup)
    local rt=$1 action=$2 id=${3:-}
    # ACTION+idle: then leave the machine idle before the timed command, as containers
    # start in real use (the kernel's deferred work, RCU grace periods above all, is then
    # paid by the command instead of hidden by the previous one).
    if [[ $action == *+idle ]]; then
        ctl "$rt" "${action%+idle}" "$id"
        sleep "$IDLE_GAP"
        return
    fi
    local bin state
    bin=$(bin_of "$rt")
    state=$W/state/$rt
    rm_c() { timeout 60 "$bin" --root "$state" delete -f "$1" >/dev/null 2>&1 || true; }
    case $action in
        clean) rm_c "$id" ;;
        idle) ;;
        create) # delete any old one, then create
            rm_c "$id"
            timeout 60 "$bin" --root "$state" create --bundle "$W/bundles/$rt" "$id" </dev/null >/dev/null 2>&1 ;;
        started) # delete, create, start, and wait until /bin/true has exited
            rm_c "$id"
            timeout 60 "$bin" --root "$state" create --bundle "$W/bundles/$rt" "$id" </dev/null >/dev/null 2>&1
            timeout 60 "$bin" --root "$state" start "$id" </dev/null >/dev/null 2>&1
            local i
            for i in $(seq 500); do
                if timeout 60 "$bin" --root "$state" state "$id" 2>/dev/null | grep -q '"status": *"stopped"'; then
                    return 0
                fi
                sleep 0.01
            done
            echo "$rt: container $id did not stop after start" >&2
            return 1 ;;
        clean-par)
            local i
            for i in $(seq 0 $((PAR - 1))); do rm_c "bench-par-$i"; done ;;
        par) # the measured command of the parallel scenario
            local i pids=() rc=0
            for i in $(seq 0 $((PAR - 1))); do
                "$bin" --root "$state" run --bundle "$W/bundles/$rt-p$i" "bench-par-$i" </dev/null >/dev/null &
                pids+=($!)
            done
            for i in "${pids[@]}"; do wait "$i" || rc=1; done
            return $rc ;;
        *) echo "ctl: unknown action $action" >&2; return 2 ;;
    esac
}

# --- inside the private mount namespace ---------------------------------------------------

hf() { # hf SCENARIO RT [hyperfine options...] -- COMMAND
    local scenario=$1 rt=$2
    shift 2
    local opts=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    echo
    echo "### $scenario: $rt"
    if hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$W/json/$scenario-$rt.json" --command-name "$rt $scenario" \
        "${opts[@]}" "$*"; then
        return 0
    fi
    echo "$rt: $scenario FAILED" >&2
    rm -f "$W/json/$scenario-$rt.json"
    echo failed >"$W/json/$scenario-$rt.status"
    return 0
}

inner_cleanup() {
    local rt id
    for rt in $RUNTIMES; do
        local bin
        bin=$(bin_of "$rt")
        [ -x "$bin" ] || continue
        for id in $("$bin" --root "$W/state/$rt" list -q 2>/dev/null); do
            timeout 60 "$bin" --root "$W/state/$rt" delete -f "$id" >/dev/null 2>&1 || true
        done
    done
}

inner() {
    if mountpoint -q /sys/fs/cgroup/unified; then
        umount /sys/fs/cgroup/unified
    fi
    trap inner_cleanup EXIT
    trap 'exit 143' TERM
    local self="bash $SELF __ctl" rt cmd
    make_parent_cgroups /skiff-bench

    # Each step back to back, then "cold": with an idle gap before each timed command.
    # Each after the machine has settled (the build's writeback, first of all).
    local mode idle sfx
    for mode in warm cold; do
        sync
        settle
        idle= sfx=
        [ $mode = warm ] || { idle=+idle; sfx=-cold; }
        for rt in $RUNTIMES; do
            cmd=$(rt_cmd "$rt")
            hf "run$sfx" "$rt" --prepare "$self $rt clean$idle bench-run" --cleanup "$self $rt clean bench-run" \
                -- "$cmd" run --bundle "$W/bundles/$rt" bench-run
        done
        for rt in $RUNTIMES; do
            cmd=$(rt_cmd "$rt")
            hf "create$sfx" "$rt" --prepare "$self $rt clean$idle bench-create" --cleanup "$self $rt clean bench-create" \
                -- "$cmd" create --bundle "$W/bundles/$rt" bench-create
        done
        for rt in $RUNTIMES; do
            cmd=$(rt_cmd "$rt")
            hf "create-seccomp$sfx" "$rt" --prepare "$self $rt clean$idle bench-seccomp" \
                --cleanup "$self $rt clean bench-seccomp" \
                -- "$cmd" create --bundle "$W/bundles/$rt-seccomp" bench-seccomp
        done
        for rt in $RUNTIMES; do
            cmd=$(rt_cmd "$rt")
            hf "start$sfx" "$rt" --prepare "$self $rt create$idle bench-start" --cleanup "$self $rt clean bench-start" \
                -- "$cmd" start bench-start
        done
        for rt in $RUNTIMES; do
            cmd=$(rt_cmd "$rt")
            hf "delete$sfx" "$rt" --prepare "$self $rt started$idle bench-delete" --cleanup "$self $rt clean bench-delete" \
                -- "$cmd" delete bench-delete
        done
        for rt in $RUNTIMES; do
            local bin state
            bin=$(bin_of "$rt")
            state=$W/state/$rt
            if ! "$bin" exec --help >/dev/null 2>&1; then
                echo
                echo "$rt: exec not implemented yet"
                echo "not implemented" >"$W/json/exec$sfx-$rt.status"
                continue
            fi
            "$bin" --root "$state" delete -f bench-exec >/dev/null 2>&1 || true
            if ! { timeout 60 "$bin" --root "$state" create --bundle "$W/bundles/$rt-sleep" bench-exec &&
                timeout 60 "$bin" --root "$state" start bench-exec; } </dev/null >/dev/null 2>&1; then
                echo "$rt: could not start the sleeping container for exec" >&2
                echo failed >"$W/json/exec$sfx-$rt.status"
            else
                cmd=$(rt_cmd "$rt")
                hf "exec$sfx" "$rt" --prepare "$self $rt idle$idle" -- "$cmd" exec bench-exec /bin/true
            fi
            "$bin" --root "$state" delete -f bench-exec >/dev/null 2>&1 || true
        done
    done
    for rt in $RUNTIMES; do
        hf "parallel" "$rt" --prepare "$self $rt clean-par" --cleanup "$self $rt clean-par" \
            -- "$self" "$rt" par
    done

    # Peak RSS of one `run`, median of 5 (GNU time's %M: max RSS in KiB).
    for rt in $RUNTIMES; do
        local bin i
        bin=$(bin_of "$rt")
        : >"$W/rss-$rt"
        for i in 1 2 3 4 5; do
            "$bin" --root "$W/state/$rt" delete -f bench-rss >/dev/null 2>&1 || true
            if timeout 60 /usr/bin/time -f %M -o "$W/rss.tmp" "$bin" --root "$W/state/$rt" run \
                --bundle "$W/bundles/$rt" bench-rss </dev/null >/dev/null 2>&1; then
                cat "$W/rss.tmp" >>"$W/rss-$rt"
            else
                echo failed >>"$W/rss-$rt"
            fi
        done
    done
}

# --- outside: dependencies, build, bundles, report, cleanup -------------------------------

apt_updated=
apt_install() {
    [ $# -gt 0 ] || return 0
    echo "bench: installing $* with apt-get"
    if [ -z "$apt_updated" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

install_deps() {
    local missing=()
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    command -v ld.lld >/dev/null || missing+=(lld) # links skiff with its hot code first
    command -v runc >/dev/null || missing+=(runc)
    command -v crun >/dev/null || missing+=(crun)
    command -v python3 >/dev/null || missing+=(python3)
    [ -x /usr/bin/time ] || missing+=(time)
    [ -e /usr/share/containers/seccomp.json ] || missing+=(containers-common)
    # A static busybox: the dynamic one would need its libraries in the rootfs.
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
        missing+=(busybox-static)
    fi
    apt_install "${missing[@]}"
}

write_bundles() {
    mkdir -p "$W/rootfs/bin" "$W/bundles" "$W/state" "$W/json"
    cp /bin/busybox "$W/rootfs/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -sf busybox "$W/rootfs/bin/$a"
    done
    mkdir -p "$W/rootfs/"{proc,sys,dev,tmp,etc,root}
    # One base config for every runtime (runc's template), so they all do the same work.
    (cd "$W" && runc spec && mv config.json base.json)
    python3 - "$W" "$RUNTIMES" "$PAR" <<'EOF'
import json, os, sys
w, runtimes, par = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
base = json.load(open(os.path.join(w, "base.json")))
base["ociVersion"] = "1.0.2"  # runc writes "1.0.2-dev"
base["root"] = {"path": os.path.join(w, "rootfs"), "readonly": True}
base["process"]["terminal"] = False
def write(name, args, cgroup, seccomp=None):
    c = json.loads(json.dumps(base))
    c["process"]["args"] = args
    c["linux"]["cgroupsPath"] = cgroup
    if seccomp is not None:
        c["linux"]["seccomp"] = seccomp
    d = os.path.join(w, "bundles", name)
    os.makedirs(d, exist_ok=True)
    json.dump(c, open(os.path.join(d, "config.json"), "w"), indent=2)
# The profile podman sends with every container (Debian's containers-common).
seccomp = json.load(open("/usr/share/containers/seccomp.json"))
for rt in runtimes:
    write(rt, ["/bin/true"], f"/skiff-bench/{rt}")
    write(f"{rt}-seccomp", ["/bin/true"], f"/skiff-bench/{rt}-seccomp", seccomp)
    write(f"{rt}-sleep", ["/bin/sleep", "1000"], f"/skiff-bench/{rt}-exec")
    for i in range(par):
        write(f"{rt}-p{i}", ["/bin/true"], f"/skiff-bench/{rt}-p{i}")
EOF
}

cgroup_dirs() { # every skiff-bench cgroup directory, deepest first
    local d
    for d in /sys/fs/cgroup/*/skiff-bench*; do
        [ -d "$d" ] && find "$d" -depth -type d
    done
    return 0
}

cleanup() {
    local rc=$?
    set +e
    # Anything still in a cgroup we created is ours: kill it, then remove the cgroups
    # (only those that did not exist before this run).
    local d pid _
    for _ in 1 2 3 4 5; do
        local left=0
        while read -r d; do
            [ -n "$d" ] || continue
            if [ -n "${PRE_EXISTING:-}" ] && grep -qxF "$d" <<<"$PRE_EXISTING"; then
                continue
            fi
            while read -r pid; do kill -9 "$pid" 2>/dev/null; done 2>/dev/null <"$d/cgroup.procs"
            rmdir "$d" 2>/dev/null || left=1
        done < <(cgroup_dirs)
        [ $left = 0 ] && break
        sleep 0.2
    done
    if [ -n "${W:-}" ] && [ -d "$W" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            echo "bench: scratch dir kept: $W"
        else
            rm -rf --one-file-system "$W"
        fi
    fi
    exit $rc
}

descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

# Interrupted: stop the benchmark in the namespace (hyperfine and the runtime commands
# under it); the namespace's own exit trap then deletes its containers.
on_signal() {
    trap '' INT TERM
    echo "bench: interrupted, cleaning up" >&2
    if [ -n "${INNER:-}" ]; then
        # shellcheck disable=SC2046
        kill -TERM $(descendants "$INNER") "$INNER" 2>/dev/null
        wait "$INNER" 2>/dev/null
    fi
    exit 130
}

report() {
    local rt f
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "nproc=$(nproc)"
        echo "kernel=$(uname -r)"
        echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
        echo "memory=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
        echo "hyperfine=$(hyperfine --version)"
        echo "load=$LOAD_AT_START"
        [ -z "$SKIPPED" ] || echo "skipped_$SKIPPED"
        echo "runs=$RUNS"
        echo "warmup=$WARMUP"
        echo "idle_gap=$IDLE_GAP"
        for rt in skiff crun runc; do
            if [[ " $RUNTIMES " == *" $rt "* ]]; then
                f=$(bin_of "$rt")
                echo "version_$rt=$("$f" --version 2>/dev/null | head -2 | paste -sd, - | sed 's/,/, /')"
                echo "size_$rt=$(stat -c %s "$f")"
                echo "path_$rt=$f"
            fi
        done
        # What bench/layout/cc-hot-first wrote when it linked the measured skiff.
        local layout
        layout=$(dirname "$(bin_of skiff)")/hot-layout.txt
        if [ -f "$layout" ]; then echo "layout=$(sed "s/^hot-first layout: //" "$layout")"; fi
    } >"$W/meta"
    python3 - "$W" "$RUNTIMES" "$RESULTS" <<'EOF'
import json, os, statistics, sys
w, runtimes, out = sys.argv[1], sys.argv[2].split(), sys.argv[3]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(w, "meta")))
cols = ["skiff", "crun", "runc"]
base_scen = [
    ("run", "`run` /bin/true (create+start+wait+delete)"),
    ("create", "`create` alone"),
    ("create-seccomp", "`create` with podman's seccomp profile"),
    ("start", "`start` alone"),
    ("delete", "`delete` of a stopped container"),
    ("exec", "`exec /bin/true` into a running container"),
]
# Cold first: what containers see in real use.
scen = [(s + "-cold", l + ", cold") for s, l in base_scen] + base_scen + [
    ("parallel", "10 `run` in parallel (wall time)"),
]

def cell(s, rt):
    """(median ms or None, text)"""
    if rt not in runtimes:
        return None, meta.get(f"skipped_{rt}", "not run")
    st = os.path.join(w, "json", f"{s}-{rt}.status")
    if os.path.exists(st):
        return None, open(st).read().strip()
    js = os.path.join(w, "json", f"{s}-{rt}.json")
    if not os.path.exists(js):
        return None, "failed"
    r = json.load(open(js))["results"][0]
    return r["median"] * 1000, "%.2f" % (r["median"] * 1000)

def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"

rows = []
for s, label in scen:
    vals = {rt: cell(s, rt) for rt in cols}
    rows.append([label] + [vals[rt][1] for rt in cols]
                + [ratio(vals["skiff"][0], vals["crun"][0]), ratio(vals["runc"][0], vals["crun"][0])])
table = ["| scenario | skiff ms | crun ms | runc ms | skiff/crun | runc/crun |",
         "|---|---:|---:|---:|---:|---:|"]
table += ["| " + " | ".join(r) + " |" for r in rows]

def rss(rt):
    if rt not in runtimes:
        return meta.get(f"skipped_{rt}", "not run")
    vals = open(os.path.join(w, f"rss-{rt}")).read().split()
    nums = [int(v) for v in vals if v.isdigit()]
    if len(nums) != len(vals) or not nums:
        return "failed"
    return "%d" % statistics.median(nums)

def size(rt):
    return meta.get(f"size_{rt}")

res = ["| runtime | version | peak RSS of one `run` (KiB, median of 5) | binary size (bytes) |",
       "|---|---|---:|---:|"]
for rt in cols:
    sz = size(rt)
    res.append(f"| {rt} | {meta.get('version_' + rt, meta.get('skipped_' + rt, 'not run'))} | {rss(rt)} | "
               + (f"{int(sz):,} ({int(sz) / 1048576:.1f} MiB)" if sz else "not run") + " |")

doc = f"""# skiff benchmark results

Generated by `make bench` (`bench/bench.sh`) on {meta['date']}.

- Machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['memory']} RAM, kernel {meta['kernel']}
- {meta['hyperfine']}, `--warmup {meta['warmup']} --runs {meta['runs']}`, `-N` (no shell); times are medians
- Load average (1, 5, 15 min) when the run started: {meta['load']}
- Runtimes compared: {' '.join(runtimes)}
- skiff's hot-first code layout (bench/layout): {meta.get('layout', 'no report (not linked by bench/layout/cc-hot-first)')}
- Workload: a static busybox rootfs, process `/bin/true`, `terminal: false`, the same
  config for every runtime (runc's `spec` template), a fixed absolute `cgroupsPath` per
  runtime (`/skiff-bench/<runtime>`, below a `/skiff-bench` the script makes first in
  every hierarchy, as engines give a runtime a parent that exists), each runtime with its
  own `--root`. All runtimes run
  in one private mount namespace where `/sys/fs/cgroup/unified` is unmounted (crun 1.8.1
  refuses hybrid cgroup hosts).
- `create`, `start` and `delete` are measured alone, the other steps done in hyperfine's
  `--prepare` (containerd's split pattern: `delete` is of a container whose `/bin/true`
  has exited). `exec` runs `/bin/true` in a container running `sleep 1000`.
- "cold" rows: hyperfine's `--prepare` ends with {meta['idle_gap']} s of idle before each
  timed command, as containers start in real use; the other rows run back to back. The
  seccomp rows use podman's profile (`/usr/share/containers/seccomp.json`) for every runtime.

## Latency

{chr(10).join(table)}

Ratios are to crun's median (below 1.00 is faster than crun).

## Memory and size

{chr(10).join(res)}

Peak RSS is GNU time's `%M` for the `run` command (the largest RSS among the runtime
process and the helper processes it waited for).
"""
# The log of optimisations and their measured effects is kept by hand beside this
# script and carried into every report.
log_path = os.path.join(os.path.dirname(out), "optimisations.md")
if os.path.exists(log_path):
    doc += "\n" + open(log_path).read()
open(out, "w").write(doc)
print()
print("\n".join(table))
print()
print("\n".join(res))
print(f"\nwritten to {out}")
EOF
}

main() {
    if [ "$(id -u)" != 0 ]; then
        echo "bench: must run as root" >&2
        exit 1
    fi
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    SELF=$REPO/bench/$(basename "${BASH_SOURCE[0]}")
    RUNTIMES=${RUNTIMES:-"skiff crun runc"}
    RUNS=${BENCH_RUNS:-30}
    IDLE_GAP=${BENCH_IDLE_GAP:-0.05}
    WARMUP=${BENCH_WARMUP:-3}
    RESULTS=${BENCH_RESULTS:-$REPO/bench/RESULTS.md}
    local rt
    for rt in $RUNTIMES; do
        case $rt in skiff | crun | runc) ;; *) echo "bench: unknown runtime $rt" >&2; exit 1 ;; esac
    done

    install_deps
    SKIPPED=
    if [[ " $RUNTIMES " == *" skiff "* ]] && [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${SKIFF_BIN:-}" ]; then
        if ! (cd "$REPO" && cargo build --release); then
            echo "bench: cargo build --release FAILED: measuring without skiff" >&2
            SKIPPED="skiff=build failed"
        fi
    fi
    if [[ " $RUNTIMES " == *" skiff "* ]] && [ -z "$SKIPPED" ] && [ ! -x "$(bin_of skiff)" ]; then
        echo "bench: $(bin_of skiff) is missing: measuring without skiff" >&2
        SKIPPED="skiff=missing"
    fi
    if [ -n "$SKIPPED" ]; then
        RUNTIMES=$(tr ' ' '\n' <<<"$RUNTIMES" | grep -vx skiff | paste -sd' ' -)
    fi

    LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
    PRE_EXISTING=$(cgroup_dirs)
    if [ -n "$PRE_EXISTING" ]; then
        echo "bench: note: these skiff-bench cgroups existed before and are left alone:" >&2
        echo "$PRE_EXISTING" >&2
    fi
    W=$(mktemp -d "$REPO/bench/.scratch.XXXXXX")
    trap cleanup EXIT
    trap on_signal INT TERM
    case $W in *[[:space:]]*) echo "bench: the repo path must not contain spaces" >&2; exit 1 ;; esac
    export REPO SELF RUNTIMES RUNS WARMUP W IDLE_GAP
    write_bundles

    # In the background so that a signal to this script is handled at once (on_signal).
    unshare -m --propagation private bash "$SELF" __inner &
    INNER=$!
    wait "$INNER"
    INNER=
    report
}

case ${1:-} in
    __inner) inner ;;
    __ctl) shift; ctl "$@" ;;
    *) main "$@" ;;
esac
