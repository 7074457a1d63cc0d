#!/usr/bin/env bash
# skiff vs crun vs runc at scale: the cost of one more container's create / state / delete
# beside 1,000 created containers in the same --root (against the same in an empty root),
# `list` of the 1,000, how long creating (and deleting) the 1,000 took, 50 `run`s started in
# parallel, peak RSS of one `run` and the binary size. Writes bench/SCALE.md.
#
# Environment:
#   RUNTIMES        runtimes to compare, default "skiff crun runc"
#   SCALE_N         containers created in one --root (default 1000)
#   SCALE_PAR       `run`s started in parallel (default 50)
#   SCALE_RUNS      timed runs per step and root (default 20; the parallel scenario uses 10)
#   SCALE_ROUNDS    rounds the runs are split in, alternating the empty and the full root
#                   (default 4)
#   SCALE_IDLE_GAP  seconds of idle before each timed command (default 0.05)
#   SCALE_MIN_AVAIL_MIB  stop filling a root when MemAvailable falls below this (default 4096)
#   SCALE_RESULTS   where to write the report (default bench/SCALE.md)
#   SCALE_KEEP=1    keep the scratch dir (hyperfine JSON exports)
#   SKIFF_BIN       the skiff binary (default the release build; setting it skips the build)
#   BENCH_NO_BUILD=1  use the existing release binary without running cargo build
#
# Every runtime runs inside ONE private mount namespace in which /sys/fs/cgroup/unified is
# unmounted (crun 1.8.1 refuses hybrid hosts otherwise). Runtimes are measured one after
# the other, so at most SCALE_N waiting inits exist at a time. Every container's cgroup is
# below /skiff-scale/<runtime>/; nothing outside /skiff-scale is ever removed or signalled.
# Interrupted (INT/TERM) or not, the exit path deletes every container, kills whatever is
# left in a /skiff-scale cgroup, removes those cgroups and the scratch dir, within a bound.
set -euo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CG=skiff-scale

bin_of() {
    case $1 in
        skiff) echo "${SKIFF_BIN:-$REPO/target/x86_64-unknown-linux-gnu/release/skiff}" ;;
        *) readlink -f "$(command -v "$1")" ;;
    esac
}

# ctl RT ROOT ACTION [ID]: the unmeasured steps run by hyperfine's --prepare/--cleanup.
# ROOT is "empty" or "full" (the root holding SCALE_N containers). ACTION+idle: then idle.
ctl() {
    local rt=$1 which=$2 action=$3 id=${4:-one}
    if [[ $action == *+idle ]]; then
        ctl "$rt" "$which" "${action%+idle}" "$id"
        sleep "$IDLE_GAP"
        return
    fi
    local bin state
    bin=$(bin_of "$rt")
    state=$W/state/$rt-$which
    rm_c() { timeout 60 "$bin" --root "$state" delete -f "$1" >/dev/null 2>&1 || true; }
    case $action in
        clean) rm_c "$id" ;;
        idle) ;;
        create)
            rm_c "$id"
            timeout 60 "$bin" --root "$state" create --bundle "$W/bundles/$rt-one" "$id" \
                </dev/null >/dev/null 2>&1 ;;
        exists) # create it unless it is there already (state is measured many times)
            timeout 60 "$bin" --root "$state" state "$id" >/dev/null 2>&1 ||
                timeout 60 "$bin" --root "$state" create --bundle "$W/bundles/$rt-one" "$id" \
                    </dev/null >/dev/null 2>&1 ;;
        clean-par)
            local i
            for i in $(seq 0 $((PAR - 1))); do rm_c "par-$i"; done ;;
        par) # the measured command of the parallel scenario; failures are counted
            local i pids=() failed=0
            for i in $(seq 0 $((PAR - 1))); do
                "$bin" --root "$state" run --bundle "$W/bundles/$rt-p$i" "par-$i" \
                    </dev/null >/dev/null 2>>"$W/par-errors-$rt" &
                pids+=($!)
            done
            for i in "${pids[@]}"; do wait "$i" || failed=$((failed + 1)); done
            echo "$failed" >>"$W/par-failed-$rt"
            [ "$failed" = 0 ] ;;
        *) echo "ctl: unknown action $action" >&2; return 2 ;;
    esac
}

# --- inside the private mount namespace ---------------------------------------------------

hf() { # hf NAME [hyperfine options...] -- COMMAND...
    local name=$1
    shift
    local opts=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    echo
    echo "### $name"
    if ! hyperfine -N --style basic --warmup 1 --runs "$RUNS" \
        --export-json "$W/json/$name.json" --command-name "$name" "${opts[@]}" "$*"; then
        echo "$name FAILED" >&2
        rm -f "$W/json/$name.json"
        echo failed >"$W/json/$name.status"
    fi
}

mem_available_mib() { awk '/^MemAvailable/ {print int($2 / 1024)}' /proc/meminfo; }

# Deletes every container of RT's roots, within a bound; what is left is killed through
# the /skiff-scale cgroups by the outer cleanup.
delete_all() {
    local rt=$1 deadline=$2 bin which id
    bin=$(bin_of "$rt")
    [ -x "$bin" ] || return 0
    for which in empty full; do
        [ -d "$W/state/$rt-$which" ] || continue
        for id in $(timeout 60 "$bin" --root "$W/state/$rt-$which" list -q 2>/dev/null); do
            [ "$(date +%s)" -lt "$deadline" ] || return 0
            timeout 20 "$bin" --root "$W/state/$rt-$which" delete -f "$id" >/dev/null 2>&1 || true
        done
    done
}

inner_cleanup() {
    local rt deadline=$(($(date +%s) + 240))
    trap '' INT TERM
    for rt in $RUNTIMES; do delete_all "$rt" "$deadline"; done
}

fill() { # fill RT: SCALE_N created containers in RT's full root, timed
    local rt=$1 bin state i t0 t
    bin=$(bin_of "$rt")
    state=$W/state/$rt-full
    : >"$W/fill-$rt"
    t0=$(date +%s.%N)
    for ((i = 0; i < N; i++)); do
        if ((i % 100 == 0)); then
            t=$(date +%s.%N)
            echo "$i $t" >>"$W/fill-$rt"
        fi
        if ((i % 50 == 0)); then
            if [ "$(mem_available_mib)" -lt "$MIN_AVAIL" ]; then
                echo "$rt: MemAvailable below $MIN_AVAIL MiB after $i containers: stopping there" >&2
                break
            fi
        fi
        if ! timeout 60 "$bin" --root "$state" create --bundle "$W/bundles/$rt-c$i" "c$i" \
            </dev/null >/dev/null 2>>"$W/fill-errors-$rt"; then
            echo "$rt: create of c$i failed" >&2
            break
        fi
    done
    t=$(date +%s.%N)
    echo "$i $t" >>"$W/fill-$rt"
    echo "$rt: created $i containers in $(echo "$t - $t0" | bc) s"
    echo "$i" >"$W/count-$rt"
}

drain() { # drain RT: delete the full root's containers one by one (plain delete), timed
    local rt=$1 bin state id n=0 t0 t
    bin=$(bin_of "$rt")
    state=$W/state/$rt-full
    t0=$(date +%s.%N)
    for id in $(timeout 60 "$bin" --root "$state" list -q 2>/dev/null); do
        timeout 60 "$bin" --root "$state" delete -f "$id" >/dev/null 2>>"$W/drain-errors-$rt" || true
        n=$((n + 1))
    done
    t=$(date +%s.%N)
    echo "$n $(echo "$t - $t0" | bc)" >"$W/drain-$rt"
    echo "$rt: deleted $n containers in $(echo "$t - $t0" | bc) s"
}

measure() { # measure RT ROOT STEP ROUND: one hyperfine round of STEP in that root
    local rt=$1 which=$2 step=$3 round=$4 cmd name
    local self="bash $SELF __ctl"
    cmd="$(bin_of "$rt") --root $W/state/$rt-$which"
    name="$step-$rt-$which.r$round"
    local runs=$(((RUNS + ROUNDS - 1) / ROUNDS))
    case $step in
        create) RUNS=$runs hf "$name" --prepare "$self $rt $which clean+idle" \
            --cleanup "$self $rt $which clean" -- "$cmd" create --bundle "$W/bundles/$rt-one" one ;;
        state) RUNS=$runs hf "$name" --prepare "$self $rt $which exists+idle" \
            --cleanup "$self $rt $which clean" -- "$cmd" state one ;;
        delete) RUNS=$runs hf "$name" --prepare "$self $rt $which create+idle" \
            --cleanup "$self $rt $which clean" -- "$cmd" delete one ;;
        deletef) RUNS=$runs hf "$name" --prepare "$self $rt $which create+idle" \
            --cleanup "$self $rt $which clean" -- "$cmd" delete --force one ;;
        list) RUNS=$runs hf "$name" --prepare "$self $rt $which idle+idle" -- "$cmd" list ;;
    esac
}

inner() {
    if mountpoint -q /sys/fs/cgroup/unified; then
        umount /sys/fs/cgroup/unified
    fi
    trap inner_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    local rt self="bash $SELF __ctl" which
    for rt in $RUNTIMES; do
        mkdir -p "$W/state/$rt-empty" "$W/state/$rt-full"
        echo
        echo "=== $rt: filling its root with $N created containers"
        fill "$rt"
        # The same steps of one more container, in the full root and in an empty one, while
        # the N containers exist either way (only the root differs). The machine's load
        # drifts: the two are measured in alternating rounds (ROUNDS of RUNS/ROUNDS runs
        # each), the report takes the median of all of a step's runs.
        local step round
        for step in create state delete deletef list; do
            for round in $(seq "$ROUNDS"); do
                local order="empty full"
                ((round % 2)) || order="full empty"
                for which in $order; do
                    measure "$rt" "$which" "$step" "$round"
                done
            done
        done
        echo
        echo "=== $rt: deleting its $N containers"
        drain "$rt"
    done

    # The parallel runs: after the machine has settled, and in rounds that rotate the
    # runtimes' order. The kernel's workers tear the network namespaces of the containers
    # drained just before down for seconds after the last delete, and whichever runtime
    # came first ran beside that (skiff's 50 took 0.81 of crun's time that way, 0.71 with
    # runc, whose 1,000 are drained last, left out).
    for rt in $RUNTIMES; do make_parent_cgroups "/$CG/$rt/par"; done
    settle
    local round
    local -a order=($RUNTIMES)
    for round in 1 2 3 4 5; do
        for rt in "${order[@]}"; do
            RUNS=2 hf "par-$rt.r$round" --prepare "$self $rt empty clean-par+idle" \
                --cleanup "$self $rt empty clean-par" -i -- "$self" "$rt" empty par
        done
        order=("${order[@]:1}" "${order[0]}")
    done

    # Peak RSS of one `run`, median of 5 (GNU time's %M: max RSS in KiB).
    for rt in $RUNTIMES; do
        local i bin
        bin=$(bin_of "$rt")
        : >"$W/rss-$rt"
        for i in 1 2 3 4 5; do
            "$bin" --root "$W/state/$rt-empty" delete -f rss >/dev/null 2>&1 || true
            if timeout 60 /usr/bin/time -f %M -o "$W/rss.tmp" "$bin" --root "$W/state/$rt-empty" run \
                --bundle "$W/bundles/$rt-true" rss </dev/null >/dev/null 2>&1; then
                cat "$W/rss.tmp" >>"$W/rss-$rt"
            else
                echo failed >>"$W/rss-$rt"
            fi
        done
    done
}

# --- outside: dependencies, build, bundles, report, cleanup -------------------------------

install_deps() {
    local missing=()
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    command -v ld.lld >/dev/null || missing+=(lld) # links skiff with its hot code first
    command -v runc >/dev/null || missing+=(runc)
    command -v crun >/dev/null || missing+=(crun)
    command -v python3 >/dev/null || missing+=(python3)
    command -v bc >/dev/null || missing+=(bc)
    [ -x /usr/bin/time ] || missing+=(time)
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
        missing+=(busybox-static)
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "scale: installing ${missing[*]} with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

write_bundles() {
    mkdir -p "$W/rootfs/bin" "$W/bundles" "$W/state" "$W/json"
    cp /bin/busybox "$W/rootfs/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -sf busybox "$W/rootfs/bin/$a"
    done
    mkdir -p "$W/rootfs/"{proc,sys,dev,tmp,etc,root}
    (cd "$W" && runc spec && mv config.json base.json)
    python3 - "$W" "$RUNTIMES" "$N" "$PAR" "$CG" <<'EOF'
import json, os, sys
w, runtimes, n, par, cg = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
base = json.load(open(os.path.join(w, "base.json")))
base["ociVersion"] = "1.0.2"
base["root"] = {"path": os.path.join(w, "rootfs"), "readonly": True}
base["process"]["terminal"] = False
def write(name, args, cgroup):
    c = json.loads(json.dumps(base))
    c["process"]["args"] = args
    c["linux"]["cgroupsPath"] = cgroup
    d = os.path.join(w, "bundles", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f)
for rt in runtimes:
    # A container that is only created never runs its process; sleep if it were started.
    for i in range(n):
        write(f"{rt}-c{i}", ["/bin/sleep", "1000"], f"/{cg}/{rt}/fill/c{i}")
    write(f"{rt}-one", ["/bin/sleep", "1000"], f"/{cg}/{rt}/one")
    write(f"{rt}-true", ["/bin/true"], f"/{cg}/{rt}/rss")
    for i in range(par):
        write(f"{rt}-p{i}", ["/bin/true"], f"/{cg}/{rt}/par/p{i}")
EOF
}

cgroup_dirs() { # every /skiff-scale cgroup directory, deepest first
    local d
    for d in /sys/fs/cgroup/*/$CG; do
        [ -d "$d" ] && find "$d" -depth -type d
    done
    return 0
}

# PIDs of processes in a /skiff-scale cgroup (any hierarchy).
scale_pids() {
    local d
    while read -r d; do
        [ -n "$d" ] && cat "$d/cgroup.procs" 2>/dev/null
    done < <(cgroup_dirs) | sort -un
}

# Kills what is left in /skiff-scale cgroups and removes them, for at most ~30 s.
remove_cgroups() {
    local d pid try left
    for try in $(seq 60); do
        left=0
        for pid in $(scale_pids); do kill -9 "$pid" 2>/dev/null || true; done
        while read -r d; do
            [ -n "$d" ] || continue
            rmdir "$d" 2>/dev/null || left=1
        done < <(cgroup_dirs)
        [ $left = 0 ] && return 0
        sleep 0.5
    done
    return 1
}

cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM
    if ! remove_cgroups; then
        echo "scale: WARNING: could not remove every /$CG cgroup:" >&2
        cgroup_dirs >&2
        rc=1
    fi
    if [ -n "${W:-}" ] && [ -d "$W" ]; then
        if [ "${SCALE_KEEP:-0}" = 1 ]; then
            echo "scale: scratch dir kept: $W"
        else
            rm -rf --one-file-system "$W"
        fi
    fi
    # The checks the brief asks for: no cgroup, no process of ours left.
    local dirs survivors
    dirs=$(ls -d /sys/fs/cgroup/*/$CG 2>/dev/null)
    survivors=$(grep -l "/$CG/" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | paste -sd' ' -)
    if [ -n "$dirs" ] || [ -n "$survivors" ]; then
        echo "scale: WARNING: left behind: cgroups [$dirs] processes [$survivors]" >&2
        rc=1
    else
        echo "scale: cleanup complete: no /$CG cgroup and no process in one"
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

on_signal() {
    trap '' INT TERM
    echo "scale: interrupted, cleaning up" >&2
    if [ -n "${INNER:-}" ]; then
        # shellcheck disable=SC2046
        kill -TERM $(descendants "$INNER") "$INNER" 2>/dev/null
        # The namespace's exit trap deletes its containers; give it a bounded time, then
        # the cgroup sweep in cleanup() kills what is left.
        local i
        for i in $(seq 300); do
            kill -0 "$INNER" 2>/dev/null || break
            sleep 1
        done
        # shellcheck disable=SC2046
        kill -KILL $(descendants "$INNER") "$INNER" 2>/dev/null
    fi
    exit 130
}

report() {
    local rt f
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "nproc=$(nproc)"
        echo "kernel=$(uname -r)"
        echo "memory=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
        echo "hyperfine=$(hyperfine --version)"
        echo "load_start=$LOAD_AT_START"
        echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "n=$N"
        echo "par=$PAR"
        echo "runs=$RUNS"
        echo "rounds=$ROUNDS"
        echo "idle_gap=$IDLE_GAP"
        for rt in $RUNTIMES; do
            f=$(bin_of "$rt")
            echo "version_$rt=$("$f" --version 2>/dev/null | head -2 | paste -sd, - | sed 's/,/, /')"
            echo "size_$rt=$(stat -c %s "$f")"
        done
    } >"$W/meta"
    python3 - "$W" "$RUNTIMES" "$RESULTS" <<'EOF'
import json, os, statistics, sys
w, runtimes, out = sys.argv[1], sys.argv[2].split(), sys.argv[3]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(w, "meta")))
n = meta["n"]

import glob

def res(name):
    """hyperfine's result for NAME, the runs of all its rounds (NAME.r<k>) merged"""
    files = sorted(glob.glob(os.path.join(w, "json", name + ".r*.json")))
    single = os.path.join(w, "json", name + ".json")
    if os.path.exists(single):
        files.append(single)
    failed = glob.glob(os.path.join(w, "json", name + ".r*.status"))
    if not files or failed or os.path.exists(os.path.join(w, "json", name + ".status")):
        return None
    times = [t for f in files for t in json.load(open(f))["results"][0]["times"]]
    return {"times": times, "median": statistics.median(times), "min": min(times), "max": max(times)}

def med(name):
    r = res(name)
    return None if r is None else r["median"] * 1000

def spread(name):
    """interquartile range relative to the median, as the noise figure"""
    r = res(name)
    if r is None or len(r["times"]) < 4:
        return None
    q = statistics.quantiles(r["times"], n=4)
    return (q[2] - q[0]) / r["median"]

def f2(v):
    return "failed" if v is None else "%.2f" % v

def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"

def count(rt):
    p = os.path.join(w, f"count-{rt}")
    return open(p).read().strip() if os.path.exists(p) else "?"

steps = [("create", "`create` of one more"), ("state", "`state` of it"),
         ("delete", "`delete` of it (created)"), ("deletef", "`delete --force` of it (created)")]
lines = ["| step | runtime | empty root ms | root with %s ms | full/empty | IQR/median (full) | runtime/crun (full) |" % n,
         "|---|---|---:|---:|---:|---:|---:|"]
for s, label in steps:
    for rt in runtimes:
        e, f = med(f"{s}-{rt}-empty"), med(f"{s}-{rt}-full")
        sp = spread(f"{s}-{rt}-full")
        lines.append(f"| {label} | {rt} | {f2(e)} | {f2(f)} | {ratio(f, e)} | "
                     + ("-" if sp is None else "%.2f" % sp)
                     + f" | {ratio(f, med(f'{s}-crun-full'))} |")
steps_table = "\n".join(lines)

lines = [f"| runtime | containers | `list` of them ms | `list` of an empty root ms | ms per container | runtime/crun |",
         "|---|---:|---:|---:|---:|---:|"]
for rt in runtimes:
    f, e = med(f"list-{rt}-full"), med(f"list-{rt}-empty")
    c = count(rt)
    per = "%.3f" % ((f - e) / int(c)) if f is not None and e is not None and c.isdigit() and int(c) else "-"
    lines.append(f"| {rt} | {c} | {f2(f)} | {f2(e)} | {per} | {ratio(f, med('list-crun-full'))} |")
list_table = "\n".join(lines)

def fill(rt):
    p = os.path.join(w, f"fill-{rt}")
    if not os.path.exists(p):
        return None
    marks = [(int(a), float(b)) for a, b in (l.split() for l in open(p))]
    return marks

lines = ["| runtime | containers | total s | ms per create | first 100 ms each | last 100 ms each | runtime/crun | delete of all, s |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
totals = {}
for rt in runtimes:
    marks = fill(rt)
    if not marks or marks[-1][0] == 0:
        lines.append(f"| {rt} | 0 | failed | | | | | |")
        continue
    total = marks[-1][1] - marks[0][1]
    totals[rt] = total
    cnt = marks[-1][0]
    first = (marks[1][1] - marks[0][1]) / (marks[1][0] - marks[0][0]) * 1000
    last = (marks[-1][1] - marks[-2][1]) / (marks[-1][0] - marks[-2][0]) * 1000
    dp = os.path.join(w, f"drain-{rt}")
    drain = "%.2f" % float(open(dp).read().split()[1]) if os.path.exists(dp) else "-"
    lines.append(f"| {rt} | {cnt} | {total:.2f} | {total / cnt * 1000:.2f} | {first:.2f} | {last:.2f} | "
                 f"{ratio(total, totals.get('crun')) if rt != 'crun' else '1.00'} | {drain} |")
fill_table = "\n".join(lines)
if "crun" in totals:
    # crun's total may come after skiff's in the loop above: recompute the ratios.
    fixed = []
    for l in fill_table.split("\n"):
        cells = l.split(" | ")
        rt = cells[0].lstrip("| ")
        if rt in totals and rt != "crun":
            cells[6] = ratio(totals[rt], totals["crun"])
        fixed.append(" | ".join(cells))
    fill_table = "\n".join(fixed)

def failures(rt):
    p = os.path.join(w, f"par-failed-{rt}")
    if not os.path.exists(p):
        return "?"
    vals = [int(v) for v in open(p).read().split()]
    return f"{sum(vals)} of {len(vals) * int(meta['par'])}"

lines = [f"| runtime | {meta['par']} `run` in parallel, wall ms (median of 10) | min ms | max ms | failed runs | runtime/crun |",
         "|---|---:|---:|---:|---:|---:|"]
for rt in runtimes:
    r = res(f"par-{rt}")
    m = med(f"par-{rt}")
    lines.append(f"| {rt} | {f2(m)} | " + ("-" if r is None else "%.1f" % (r["min"] * 1000)) + " | "
                 + ("-" if r is None else "%.1f" % (r["max"] * 1000)) + f" | {failures(rt)} | {ratio(m, med('par-crun'))} |")
par_table = "\n".join(lines)

def rss(rt):
    vals = open(os.path.join(w, f"rss-{rt}")).read().split()
    nums = [int(v) for v in vals if v.isdigit()]
    if len(nums) != len(vals) or not nums:
        return None
    return statistics.median(nums)

lines = ["| runtime | version | peak RSS of one `run` (KiB, median of 5) | binary size (bytes) | RSS/crun | size/crun |",
         "|---|---|---:|---:|---:|---:|"]
for rt in runtimes:
    sz = int(meta[f"size_{rt}"])
    r = rss(rt)
    lines.append(f"| {rt} | {meta['version_' + rt]} | {'failed' if r is None else '%d' % r} | "
                 f"{sz:,} ({sz / 1048576:.1f} MiB) | {ratio(r, rss('crun') if 'crun' in runtimes else None)} | "
                 f"{ratio(sz, int(meta['size_crun']) if 'size_crun' in meta else None)} |")
mem_table = "\n".join(lines)

doc = f"""# skiff at scale

Generated by `make bench` or `make bench-scale` (`bench/scale.sh`) on {meta['date']}.

- Machine: {meta['nproc']} CPUs, {meta['memory']} RAM, kernel {meta['kernel']}; {meta['hyperfine']}
- Load average (1, 5, 15 min): {meta['load_start']} at the start, {meta['load_end']} at the end
  (the machine is shared: other builds and tests ran at the same time)
- Every runtime runs in one private mount namespace where `/sys/fs/cgroup/unified` is
  unmounted (crun 1.8.1 refuses hybrid cgroup hosts), one runtime after the other, each
  with its own `--root` and its cgroups under `/skiff-scale/<runtime>/`. The same config
  for every runtime (runc's `spec` template, busybox rootfs), one bundle per container.
- Times are medians of {meta['runs']} hyperfine runs per step and root, "cold": `--prepare`
  ends with {meta['idle_gap']} s of idle before each timed command. The empty and the full
  root are measured in {meta['rounds']} alternating rounds, so that a change in the
  machine's load hits both alike. The IQR/median column (interquartile range over the
  median) is the noise.

## One more container beside {n}

{n} containers are created (not started: {n} waiting inits) in one `--root`, each with its
own cgroup `/skiff-scale/<runtime>/fill/c<i>`. Then `create`, `state` and `delete` of one
more container (cgroup `/skiff-scale/<runtime>/one`) are measured in that root and in an
empty root, both while the {n} exist: only the root differs. Target: full/empty at 1.00
(within noise): nothing on these paths reads the rest of the root.

{steps_table}

## `list`

{list_table}

## Creating and deleting {n}

One `create` after another (not timed by hyperfine: wall clock of the loop, including a
`timeout` wrapper per command); "first/last 100" is the cost per create at the start and at
the end of the fill, which shows any growth with the root. "delete of all" is `list -q`
then one `delete --force` per container.

{fill_table}

## {meta['par']} containers started in parallel

`run` of `/bin/true`, each with its own bundle and cgroup (below `/skiff-scale/<runtime>/par`,
made first), all started at once and waited
for (hyperfine, 10 runs: 5 rounds of 2 that rotate the runtimes' order, after waiting for
the machine to settle from the drains above; {meta['idle_gap']} s idle before each). Target:
skiff at most 0.7× crun.

{par_table}

## Memory and size

{mem_table}

Peak RSS is GNU time's `%M` for one `run` of `/bin/true` (the largest RSS among the
runtime process and the helper processes it waited for).

## Cleanup

The script's exit path (also on INT/TERM: trap, bounded waits) deletes every container with
the runtime that made it, then kills anything still in a `/skiff-scale` cgroup, removes those
cgroups (only those: nothing else is touched) and the scratch dir, and checks that
`ls /sys/fs/cgroup/*/skiff-scale` finds nothing and that no process is left in such a cgroup.
"""
open(out, "w").write(doc)
print(doc)
print(f"written to {out}")
EOF
}

main() {
    if [ "$(id -u)" != 0 ]; then
        echo "scale: must run as root" >&2
        exit 1
    fi
    REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    SELF=$REPO/bench/$(basename "${BASH_SOURCE[0]}")
    RUNTIMES=${RUNTIMES:-"skiff crun runc"}
    N=${SCALE_N:-1000}
    PAR=${SCALE_PAR:-50}
    RUNS=${SCALE_RUNS:-20}
    ROUNDS=${SCALE_ROUNDS:-4}
    IDLE_GAP=${SCALE_IDLE_GAP:-0.05}
    MIN_AVAIL=${SCALE_MIN_AVAIL_MIB:-4096}
    RESULTS=${SCALE_RESULTS:-$REPO/bench/SCALE.md}
    local rt
    for rt in $RUNTIMES; do
        case $rt in skiff | crun | runc) ;; *) echo "scale: unknown runtime $rt" >&2; exit 1 ;; esac
    done
    if [[ " $RUNTIMES " != *" crun "* ]]; then
        echo "scale: crun is the reference: RUNTIMES must include it" >&2
        exit 1
    fi
    # Another run's cgroups would be swept by this one's cleanup: refuse to share them.
    if [ -n "$(ls -d /sys/fs/cgroup/*/$CG 2>/dev/null)" ]; then
        if [ -n "$(scale_pids)" ]; then
            echo "scale: /sys/fs/cgroup/*/$CG holds processes (another run?): not starting" >&2
            exit 1
        fi
        echo "scale: removing empty /$CG cgroups left by an earlier run"
        remove_cgroups || { echo "scale: could not remove them" >&2; exit 1; }
    fi

    install_deps
    if [[ " $RUNTIMES " == *" skiff "* ]] && [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${SKIFF_BIN:-}" ]; then
        (cd "$REPO" && cargo build --release)
    fi
    [ -x "$(bin_of skiff)" ] || [[ " $RUNTIMES " != *" skiff "* ]] || {
        echo "scale: $(bin_of skiff) is missing" >&2
        exit 1
    }

    LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
    W=$(mktemp -d "$REPO/bench/.scale.XXXXXX")
    trap cleanup EXIT
    trap on_signal INT TERM
    case $W in *[[:space:]]*) echo "scale: the repo path must not contain spaces" >&2; exit 1 ;; esac
    export REPO SELF RUNTIMES RUNS ROUNDS IDLE_GAP W N PAR MIN_AVAIL CG
    echo "scale: writing $N bundles per runtime in $W"
    write_bundles

    unshare -m --propagation private bash "$SELF" __inner &
    INNER=$!
    wait "$INNER"
    INNER=
    report
}

case ${1:-} in
    __report) # __report DIR: the report of a run kept with SCALE_KEEP=1 (same environment)
        REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
        W=$2 RUNTIMES=${RUNTIMES:-"skiff crun runc"} N=${SCALE_N:-1000} PAR=${SCALE_PAR:-50}
        RUNS=${SCALE_RUNS:-20} ROUNDS=${SCALE_ROUNDS:-4} IDLE_GAP=${SCALE_IDLE_GAP:-0.05}
        RESULTS=${SCALE_RESULTS:-$REPO/bench/SCALE.md} LOAD_AT_START="(not recorded)"
        report ;;
    __inner) inner ;;
    __ctl) shift; ctl "$@" ;;
    *) main "$@" ;;
esac
