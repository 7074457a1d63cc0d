#!/bin/bash
# containerd 1.6 (Debian) drives skiff through its runc shim: a private containerd on
# sockets under a temp dir, `ctr` with --runc-binary pointing at skiff (the shim's
# BinaryName option), a busybox image imported from a locally built OCI tarball.
# RUNTIME=/usr/sbin/runc runs the same checks against runc.
ENGINE=containerd
source "$(dirname "$0")/lib.sh"

apt_ensure containerd:containerd containerd:ctr containerd:containerd-shim-runc-v2 util-linux:script python3:python3 ||
  cannot_run "apt-get could not install containerd"
stop_packaged_daemon /run/containerd/containerd.pid
ensure_runtime
make_temp
D=$TMP
NS=skeng
IMG=docker.io/skeng/busybox:latest
RUNC_ROOT=$D/runc-root

cat >"$D/config.toml" <<TOML
version = 2
root = "$D/root"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
[debug]
  address = "$D/debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.runtime.v2.task"]
  platforms = ["linux/amd64"]
TOML
containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 &
CONTAINERD_PID=$!
# Shims outlive containerd: stop each one this containerd started (they name its socket).
on_exit 'for p in $(pids_mentioning "$D/containerd.sock"); do [ "$p" = "$CONTAINERD_PID" ] || stop_pid $p; done'
on_exit "stop_pid $CONTAINERD_PID"
on_exit 'for c in $(cgroup_leftovers $NS); do find $c -depth -type d -exec rmdir {} \; ; done'
for i in $(seq 100); do [ -S "$D/containerd.sock" ] && break; sleep 0.1; done
[ -S "$D/containerd.sock" ] || cannot_run "containerd did not start: $(tail -3 "$D/containerd.log")"

# A wrapper file, so that `sh -c` checks and the pty of with_tty reach the private daemon.
printf '#!/bin/sh\nexec /usr/bin/ctr --address %s --namespace %s "$@"\n' "$D/containerd.sock" $NS >"$D/ctr"
chmod +x "$D/ctr"
PATH=$D:$PATH
RUNOPTS=(--runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" --runc-root "$RUNC_ROOT" --snapshotter native)

busybox_rootfs "$D/rootfs"
oci_archive "$D/rootfs" "$D/busybox.tar" "$IMG"
check "import a local OCI busybox image" ctr image import --snapshotter native "$D/busybox.tar"
on_exit "ctr image rm $IMG"
say "runtime: $RUNTIME"

# Removes a container whatever its state.
gone() { ctr task kill -s SIGKILL "$1" 2>/dev/null; sleep 0.2; ctr task delete -f "$1" 2>/dev/null; ctr container delete "$1" 2>/dev/null; true; }
on_exit 'for c in $(ctr container ls -q 2>/dev/null); do gone $c; done'

# 1. Run to completion with the container's exit status.
ctr run --rm "${RUNOPTS[@]}" $IMG skeng-exit sh -c 'exit 7'
status=$?
[ $status = 7 ] && pass "run to completion: exit status 7" || fail "run to completion" "exit status $status, not 7"
out=$(ctr run --rm "${RUNOPTS[@]}" $IMG skeng-echo echo hello 2>&1)
[ "$out" = hello ] && pass "run prints the container's output" || fail "run output" "$out"

# 2. -t: a terminal from the console socket.
out=$(with_tty ctr run --rm -t "${RUNOPTS[@]}" $IMG skeng-tty tty 2>&1 | tr -d '\r\0')
echo "$out" | grep -q '/dev/pts/[0-9]' && pass "run -t gets a terminal" || fail "run -t" "$out"

# 3. Detached, then exec with and without -t.
ctr run -d "${RUNOPTS[@]}" --memory-limit 67108864 $IMG skeng-det sleep 600 >/dev/null 2>&1
check "run -d" sh -c "ctr task ls | grep -q 'skeng-det .* RUNNING'"
out=$(ctr task exec --exec-id e1 skeng-det sh -c 'echo in-$(cat /proc/1/comm)' 2>&1)
[ "$out" = in-sleep ] && pass "task exec" || fail "task exec" "$out"
out=$(with_tty ctr task exec -t --exec-id e2 skeng-det tty 2>&1 | tr -d '\r')
echo "$out" | grep -q '/dev/pts/[0-9]' && pass "task exec -t gets a terminal" || fail "task exec -t" "$out"
ctr task exec --exec-id e3 skeng-det sh -c 'exit 5'
status=$?
[ $status = 5 ] && pass "task exec exit status" || fail "task exec exit status" "$status"

# 4. ps and metrics.
pid=$(ctr task ls | awk '$1 == "skeng-det" {print $2}')
check "task ps lists the init" sh -c "ctr task ps skeng-det | grep -qw '$pid'"
out=$(ctr task metrics skeng-det 2>&1)
echo "$out" | grep -qi 'memory' && pass "task metrics" || fail "task metrics" "$out"
limit=$(cat /sys/fs/cgroup/memory/$NS/skeng-det/memory.limit_in_bytes 2>/dev/null)
[ "$limit" = 67108864 ] && pass "memory limit in the container's cgroup" || fail "memory limit" "memory.limit_in_bytes=$limit"

# 5. pause / resume.
ctr task pause skeng-det
check "pause" sh -c "ctr task ls | grep -q 'skeng-det .* PAUSED'"
ctr task resume skeng-det
check "resume" sh -c "ctr task ls | grep -q 'skeng-det .* RUNNING'"

# 6. kill, then a kill of the stopped task (the shim must see "container not running").
ctr task kill -s SIGKILL skeng-det
for i in $(seq 50); do ctr task ls | grep -q 'skeng-det .* STOPPED' && break; sleep 0.1; done
check "kill stops the task" sh -c "ctr task ls | grep -q 'skeng-det .* STOPPED'"
out=$(ctr task kill -s SIGKILL skeng-det 2>&1)
echo "$out" | grep -q 'unknown error after kill' && fail "kill of a stopped task" "$out" || pass "kill of a stopped task is not an unknown error"

# 7. Delete leaves nothing: no task, no runtime state, no cgroup.
ctr task delete skeng-det >/dev/null 2>&1
ctr container delete skeng-det
left=""
[ -n "$(ls "$RUNC_ROOT/$NS" 2>/dev/null)" ] && left="$left state:$(ls "$RUNC_ROOT/$NS")"
left="$left $(cgroup_leftovers $NS/skeng-det)"
[ -z "${left// /}" ] && pass "delete leaves no state and no cgroup" || fail "delete leaves nothing" "$left"

# 8. A memory limit that holds: 64 MiB through a 32 MiB limit gets the OOM killer.
ctr run --rm "${RUNOPTS[@]}" --memory-limit 33554432 $IMG skeng-oom sh -c 'echo 0 > /proc/self/oom_score_adj; dd if=/dev/zero of=/dev/null bs=64M count=1' >/dev/null 2>&1
status=$?
[ $status = 137 ] && pass "memory limit holds (OOM-killed, status 137)" || fail "memory limit holds" "exit status $status"

# 9. A failing container: the error names the cause (from skiff's --log JSON).
out=$(ctr run --rm "${RUNOPTS[@]}" $IMG skeng-fail /no/such/program 2>&1)
if echo "$out" | grep -q 'unable to retrieve OCI runtime error'; then
  fail "failing container's error" "$out"
elif echo "$out" | grep -qiE 'no such file or directory|executable file not found'; then
  pass "failing container's error names the cause"
else
  fail "failing container's error" "$out"
fi
gone skeng-fail

finish
