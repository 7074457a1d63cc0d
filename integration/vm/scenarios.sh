#!/bin/sh
# The cgroup v2 scenarios, run in the guest for one runtime: scenarios.sh RUNTIME NAME.
# Each prints `VMTEST ok|FAIL|skip NAME SCENARIO[: why]`; every runtime call has a time
# limit, so a hang shows as a failure, never as a stuck VM.
RT=$1
RTN=$2
ROOT=/run/state-$RTN
CG=/sys/fs/cgroup

ok() { echo "VMTEST ok $RTN $1"; }
fail() {
    echo "VMTEST FAIL $RTN $1: $2"
    if [ -s "/tmp/out-$RTN-$1" ]; then sed "s/^/VMTEST log $RTN $1: /" "/tmp/out-$RTN-$1" | head -20; fi
}
skip() { echo "VMTEST skip $RTN $1: $2"; }

# bundle NAME: a bundle directory with the scenario's config (the rootfs is shared).
bundle() {
    dir=/tmp/bundle-$RTN-$1
    mkdir -p "$dir"
    sed "s/@RT@/$RTN/g" "/vm/configs/$1/config.json" >"$dir/config.json"
    echo "$dir"
}

# run_container NAME: `run`s the scenario's container in the foreground; output in
# /tmp/out-RT-NAME, status in $status.
run_container() {
    timeout 60 "$RT" --root "$ROOT" run --bundle "$(bundle "$1")" "c-$1" \
        >"/tmp/out-$RTN-$1" 2>&1 </dev/null
    status=$?
}

# expect NAME LINE...: the container exited 0 and printed each LINE (whole lines).
expect() {
    name=$1
    shift
    if [ "$status" != 0 ]; then
        fail "$name" "exited $status"
        return
    fi
    for line in "$@"; do
        if ! grep -qxF "$line" "/tmp/out-$RTN-$name"; then
            fail "$name" "expected the line '$line', got: $(tr '\n' '|' <"/tmp/out-$RTN-$name")"
            return
        fi
    done
    ok "$name"
}

# no_cgroup_left NAME: after the container is gone, its cgroup must be too.
no_cgroup_left() {
    if [ -e "$CG/vmtest-$RTN-$1" ]; then
        fail "$1-cgroup-removed" "$CG/vmtest-$RTN-$1 is left behind"
    else
        ok "$1-cgroup-removed"
    fi
}

# wait_stopped ID: polls the state until the container stopped (at most 30 s).
wait_stopped() {
    i=0
    while [ $i -lt 150 ]; do
        "$RT" --root "$ROOT" state "$1" 2>/dev/null | grep -q '"status": *"stopped"' && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

state_pid() {
    "$RT" --root "$ROOT" state "$1" | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$'
}

mkdir -p "$ROOT"

# 1. The template's container, with a command that ends.
run_container standard
expect standard hello-from-container
no_cgroup_left standard

# 2. create / start / delete: the init sits in its cgroup from create on; delete removes it.
name=lifecycle
b=$(bundle $name)
if timeout 60 "$RT" --root "$ROOT" create --bundle "$b" c-$name >/tmp/out-$RTN-$name 2>&1 </dev/null; then
    pid=$(state_pid c-$name)
    if [ -n "$pid" ] && grep -qx "$pid" "$CG/vmtest-$RTN-$name/cgroup.procs" 2>/dev/null; then
        ok "$name-create-in-cgroup"
    else
        fail "$name-create-in-cgroup" "init $pid is not in $CG/vmtest-$RTN-$name/cgroup.procs"
    fi
    timeout 60 "$RT" --root "$ROOT" start c-$name >>/tmp/out-$RTN-$name 2>&1 || fail "$name-start" "start failed"
    if wait_stopped c-$name; then
        status=0
        expect "$name" "0::/vmtest-$RTN-$name"
    else
        fail "$name" "did not stop within 30 s"
    fi
    timeout 60 "$RT" --root "$ROOT" delete -f c-$name >>/tmp/out-$RTN-$name 2>&1 || fail "$name-delete" "delete failed"
else
    fail "$name" "create failed"
    timeout 30 "$RT" --root "$ROOT" delete -f c-$name >/dev/null 2>&1
fi
no_cgroup_left $name

# 3. CLONE_INTO_CGROUP: the runtime runs in a cgroup whose pids.max (1) allows no further
# process, so the init can only exist if it is created straight in its own cgroup; and at
# its first instruction it is already there.
name=clone-into-cgroup
runner=$CG/vmtest-runner-$RTN
mkdir -p "$runner"
echo 1 >"$runner/pids.max"
b=$(bundle $name)
timeout 60 sh -c "echo 0 >$runner/cgroup.procs && exec $RT --root $ROOT run --bundle $b c-$name" \
    >/tmp/out-$RTN-$name 2>&1 </dev/null
status=$?
expect $name "0::/vmtest-$RTN-$name"
timeout 30 "$RT" --root "$ROOT" delete -f c-$name >/dev/null 2>&1
rmdir "$runner" 2>/dev/null
no_cgroup_left $name

# 3b. exec: the new process is cloned into the container's cgroup too (the same pids.max
# of 1 on the runtime's own cgroup), and sees it at its first instruction.
name=exec
b=$(bundle $name)
mkdir -p "$runner"
echo 1 >"$runner/pids.max"
if timeout 60 "$RT" --root "$ROOT" create --bundle "$b" c-$name >/tmp/out-$RTN-$name 2>&1 </dev/null &&
    timeout 60 "$RT" --root "$ROOT" start c-$name >>/tmp/out-$RTN-$name 2>&1; then
    timeout 60 sh -c "echo 0 >$runner/cgroup.procs && exec $RT --root $ROOT exec c-$name cat /proc/self/cgroup" \
        >>/tmp/out-$RTN-$name 2>&1 </dev/null
    status=$?
    expect $name "0::/vmtest-$RTN-$name"
else
    fail $name "create or start failed"
fi
timeout 60 "$RT" --root "$ROOT" delete -f c-$name >>/tmp/out-$RTN-$name 2>&1 || fail "$name-delete" "delete -f failed"
rmdir "$runner" 2>/dev/null
no_cgroup_left $name

# 4. A new cgroup namespace sees itself at /.
run_container cgroupns
expect cgroupns "0::/"
no_cgroup_left cgroupns

# 5. memory.max and memory.swap.max (swap in the spec is memory + swap), and memory.high
# from linux.resources.unified.
run_container memory
expect memory max=67108864 swap=33554432 high=50331648

# 6. cpu.max from quota/period, cpu.weight from shares 512: skiff uses the quadratic
# mapping of runc >= 1.3.2 (59); Debian's runc 1.1.5 has the older linear one (20). The
# cgroup is two levels below one the runtime makes.
run_container cpu
if [ "$RTN" = runc ]; then weight=20; else weight=59; fi
expect cpu "max=50000 100000" "weight=$weight"

# 7. io.weight from blkio weight 500: 1 + (500 - 10) * 9999 / 990 = 4950 (io.bfq.weight
# takes the weight as it is).
run_container io
if grep -q '^bfq=' "/tmp/out-$RTN-io"; then
    expect io "bfq=default 500"
else
    expect io "weight=default 4950"
fi

# 8. hugetlb, where the kernel offers it.
if grep -qw hugetlb $CG/cgroup.controllers && [ -d /sys/kernel/mm/hugepages/hugepages-2048kB ]; then
    run_container hugetlb
    expect hugetlb max=4194304
else
    skip hugetlb "the kernel has no hugetlb controller or no 2 MB pages"
fi

# 9. The pids limit stops a fork bomb.
name=pids
b=$(bundle $name)
if timeout 60 "$RT" --root "$ROOT" create --bundle "$b" c-$name >/tmp/out-$RTN-$name 2>&1 </dev/null &&
    timeout 60 "$RT" --root "$ROOT" start c-$name >>/tmp/out-$RTN-$name 2>&1; then
    i=0
    hit=0
    while [ $i -lt 100 ]; do
        hit=$(sed -n 's/^max //p' $CG/vmtest-$RTN-$name/pids.events 2>/dev/null)
        [ "${hit:-0}" -gt 0 ] && break
        sleep 0.2
        i=$((i + 1))
    done
    current=$(cat $CG/vmtest-$RTN-$name/pids.current 2>/dev/null)
    limit=$(cat $CG/vmtest-$RTN-$name/pids.max 2>/dev/null)
    if [ "${hit:-0}" -gt 0 ] && [ "$limit" = 16 ] && [ "${current:-99}" -le 16 ]; then
        ok $name
    else
        fail $name "pids.max $limit, pids.current $current, forks refused: ${hit:-none}"
    fi
else
    fail $name "create or start failed"
fi
timeout 60 "$RT" --root "$ROOT" delete -f c-$name >>/tmp/out-$RTN-$name 2>&1 || fail "$name-delete" "delete -f failed"
no_cgroup_left $name

# 10. Devices: with the default rules a device outside them (/dev/vcs, c 7:0) can be made
# (every default list allows mknod) but neither it nor a bind of the host's node can be
# opened, while /dev/null can; a rule allowing c 7:0 opens both.
if [ -c /dev/vcs ]; then
    run_container devices-default
    expect devices-default mknod=ok open=denied bind=denied null=ok
    run_container devices-allowed
    expect devices-allowed mknod=ok open=ok bind=ok null=ok
else
    skip devices "the guest has no /dev/vcs to probe with"
fi

# 11. skiff refuses values the v2 files or the device program cannot take, naming the
# field, and leaves no cgroup behind (runc's handling differs and is not checked).
if [ "$RTN" = skiff ]; then
    for pair in bad-weight:linux.resources.blockIO.weight bad-major:linux.resources.devices[1].major; do
        name=${pair%%:*}
        field=${pair#*:}
        run_container "$name"
        if [ "$status" = 0 ]; then
            fail "$name" "ran instead of refusing $field"
        elif ! grep -qF "$field" "/tmp/out-$RTN-$name"; then
            fail "$name" "refused without naming $field: $(tr '\n' '|' <"/tmp/out-$RTN-$name")"
        else
            ok "$name"
        fi
        no_cgroup_left "$name"
    done
fi

# start_detached NAME: create + start of the scenario's container; 0 if both worked.
start_detached() {
    timeout 60 "$RT" --root "$ROOT" create --bundle "$(bundle "$1")" "c-$1" >"/tmp/out-$RTN-$1" 2>&1 </dev/null &&
        timeout 60 "$RT" --root "$ROOT" start "c-$1" >>"/tmp/out-$RTN-$1" 2>&1
}

# finish NAME: delete --force of the scenario's container, then the cgroup check.
finish() {
    timeout 60 "$RT" --root "$ROOT" delete -f "c-$1" >>"/tmp/out-$RTN-$1" 2>&1 || fail "$1-delete" "delete -f failed"
    no_cgroup_left "$1"
}

status_is() {
    "$RT" --root "$ROOT" state "$1" 2>/dev/null | grep -q "\"status\": *\"$2\""
}

# 12. pause / resume through cgroup.freeze: frozen in cgroup.events, reported by state.
name=pause
if start_detached $name; then
    dir=$CG/vmtest-$RTN-$name
    if ! timeout 30 "$RT" --root "$ROOT" pause c-$name >>/tmp/out-$RTN-$name 2>&1; then
        fail $name "pause failed"
    elif ! grep -qx 'frozen 1' $dir/cgroup.events || ! status_is c-$name paused; then
        fail $name "after pause: $(grep frozen $dir/cgroup.events), state $("$RT" --root "$ROOT" state c-$name | grep status)"
    elif ! timeout 30 "$RT" --root "$ROOT" resume c-$name >>/tmp/out-$RTN-$name 2>&1; then
        fail $name "resume failed"
    elif ! grep -qx 'frozen 0' $dir/cgroup.events || ! status_is c-$name running; then
        fail $name "after resume: $(grep frozen $dir/cgroup.events), state $("$RT" --root "$ROOT" state c-$name | grep status)"
    else
        ok $name
    fi
else
    fail $name "create or start failed"
fi
finish $name

# 13. update of a running container: flags and a LinuxResources JSON on stdin.
name=update
if start_detached $name; then
    dir=$CG/vmtest-$RTN-$name
    timeout 30 "$RT" --root "$ROOT" update --memory 48M --pids-limit 20 --cpu-quota 20000 \
        --cpu-period 100000 c-$name >>/tmp/out-$RTN-$name 2>&1 || fail $name-flags "update failed"
    got="$(cat $dir/memory.max) $(cat $dir/pids.max) $(cat $dir/cpu.max)"
    if [ "$got" = "50331648 20 20000 100000" ]; then ok $name-flags; else fail $name-flags "memory.max pids.max cpu.max: $got"; fi
    echo '{"pids": {"limit": 30}, "memory": {"limit": 33554432}}' |
        timeout 30 "$RT" --root "$ROOT" update -r - c-$name >>/tmp/out-$RTN-$name 2>&1 || fail $name-json "update -r - failed"
    got="$(cat $dir/memory.max) $(cat $dir/pids.max)"
    if [ "$got" = "33554432 30" ]; then ok $name-json; else fail $name-json "memory.max pids.max: $got"; fi
else
    fail $name "create or start failed"
fi
finish $name

# 14. events --stats: one stats event with the v2 files' memory and pids figures.
name=events
if start_detached $name; then
    timeout 30 "$RT" --root "$ROOT" events --stats c-$name >/tmp/events-$RTN 2>>/tmp/out-$RTN-$name
    if grep -q '"type": *"stats"' /tmp/events-$RTN && grep -q '"pids": *{ *"current": *[1-9]' /tmp/events-$RTN &&
        grep -q '"limit": *100' /tmp/events-$RTN && grep -q '"usage": *{[^}]*"limit": *67108864' /tmp/events-$RTN; then
        ok $name
    else
        fail $name "$(head -c 600 /tmp/events-$RTN)"
    fi
else
    fail $name "create or start failed"
fi
finish $name

# 15. An OOM kill inside the container's memory.max is reported as an oom event.
name=oom
if start_detached $name; then
    timeout 20 "$RT" --root "$ROOT" events --interval 30s c-$name >/tmp/events-$RTN 2>>/tmp/out-$RTN-$name &
    watcher=$!
    i=0
    while [ $i -lt 75 ] && ! grep -q '"type": *"oom"' /tmp/events-$RTN; do
        sleep 0.2
        i=$((i + 1))
    done
    kill $watcher 2>/dev/null
    wait $watcher 2>/dev/null
    kills=$(sed -n 's/^oom_kill //p' $CG/vmtest-$RTN-$name/memory.events)
    if grep -q '"type": *"oom"' /tmp/events-$RTN; then
        ok $name
    else
        fail $name "no oom event (memory.events oom_kill ${kills:-?}): $(head -c 300 /tmp/events-$RTN)"
    fi
else
    fail $name "create or start failed"
fi
finish $name

# 16. kill --all reaches a process that left the init's tree (no pid namespace), and
# delete --force removes the emptied cgroup.
name=kill-all
if start_detached $name; then
    dir=$CG/vmtest-$RTN-$name
    i=0
    while [ $i -lt 50 ] && [ "$(wc -l <$dir/cgroup.procs)" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done
    before=$(wc -l <$dir/cgroup.procs)
    timeout 30 "$RT" --root "$ROOT" kill --all c-$name KILL >>/tmp/out-$RTN-$name 2>&1 || fail $name "kill --all failed"
    i=0
    while [ $i -lt 50 ] && [ -s $dir/cgroup.procs ]; do sleep 0.1; i=$((i + 1)); done
    if [ "$before" -ge 2 ] && [ ! -s $dir/cgroup.procs ]; then
        ok $name
    else
        fail $name "$before processes before, left after kill --all: $(tr '\n' ' ' <$dir/cgroup.procs)"
    fi
else
    fail $name "create or start failed"
fi
finish $name

# Nothing of this runtime's is left in the cgroup tree.
left=$(ls -d $CG/vmtest-$RTN-* 2>/dev/null | tr '\n' ' ')
if [ -n "$left" ]; then fail all-cgroups-removed "left behind: $left"; else ok all-cgroups-removed; fi
