#!/bin/bash
# docker 20.10 (Debian's docker.io) drives skiff: a private dockerd (and the containerd it
# starts) under a temp dir, skiff registered with --add-runtime, an image from
# `docker import` of a busybox rootfs. /usr/bin/docker is Debian's client (another one
# may sit in /usr/local/bin). RUNTIME=/usr/sbin/runc runs the same checks against runc.
ENGINE=docker
source "$(dirname "$0")/lib.sh"

apt_ensure docker.io:/usr/sbin/dockerd docker.io:/usr/bin/docker containerd:containerd python3:python3 ||
  cannot_run "apt-get could not install docker.io"
stop_packaged_daemon /var/run/docker.pid
ensure_runtime
make_temp
D=$TMP
IMG=skeng/busybox:latest
DOCKER=/usr/bin/docker
echo "{\"deprecated-key-path\": \"$D/key.json\"}" >"$D/daemon.json"
/usr/sbin/dockerd --config-file "$D/daemon.json" --data-root "$D/root" --exec-root "$D/exec" \
  --pidfile "$D/docker.pid" -H "unix://$D/docker.sock" --bridge=none --iptables=false \
  --ip6tables=false --ip-forward=false --ip-masq=false --storage-driver overlay2 \
  --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent /skeng-docker \
  --add-runtime "skiff=$RUNTIME" >"$D/dockerd.log" 2>&1 &
DOCKERD_PID=$!
# dockerd's containerd and shims name our exec root; each is stopped by its PID.
on_exit 'for p in $(pids_mentioning "$D/exec"); do [ "$p" = "$DOCKERD_PID" ] || stop_pid $p; done'
on_exit "stop_pid $DOCKERD_PID"
on_exit 'for c in $(cgroup_leftovers skeng-docker); do find $c -depth -type d -exec rmdir {} \; ; done'
on_exit "umount $D/root/overlay2/*/merged; umount $D/exec/*/*/*/rootfs"
docker() { "$DOCKER" -H "unix://$D/docker.sock" "$@"; }
for i in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker version >/dev/null 2>&1 || cannot_run "dockerd did not start: $(tail -3 "$D/dockerd.log")"
say "runtime: $RUNTIME"

busybox_rootfs "$D/rootfs"
rootfs_tar "$D/rootfs" "$D/rootfs.tar"
check "import a local busybox image" docker import -c 'CMD ["sh"]' "$D/rootfs.tar" $IMG
RUN=(--runtime skiff --ulimit nofile=4096:4096)
on_exit 'docker rm -f $(docker ps -aq) '

# 1. run with docker's default seccomp profile; exit status.
docker run --rm "${RUN[@]}" $IMG sh -c 'exit 3'
status=$?
[ $status = 3 ] && pass "run: exit status 3" || fail "run exit status" "$status"
out=$(docker run --rm "${RUN[@]}" $IMG grep Seccomp: /proc/self/status 2>&1)
echo "$out" | grep -q 'Seccomp:.*2' && pass "default seccomp profile applied" || fail "seccomp" "$out"
# 2. -t
out=$(with_tty $DOCKER -H "unix://$D/docker.sock" run --rm -t "${RUN[@]}" $IMG tty 2>&1)
echo "$out" | grep -q '/dev/pts/[0-9]' && pass "run -t gets a terminal" || fail "run -t" "$out"
# 3. detached + exec, stats, pause, update.
cid=$(docker run -d "${RUN[@]}" --name skeng-det $IMG sleep 600 2>/dev/null)
check "run -d" sh -c "$DOCKER -H unix://$D/docker.sock inspect -f '{{.State.Running}}' skeng-det | grep -q true"
out=$(docker exec skeng-det sh -c 'echo in-$(cat /proc/1/comm)' 2>&1)
[ "$out" = in-sleep ] && pass "exec" || fail "exec" "$out"
out=$(with_tty $DOCKER -H "unix://$D/docker.sock" exec -t skeng-det tty 2>&1)
echo "$out" | grep -q '/dev/pts/[0-9]' && pass "exec -t gets a terminal" || fail "exec -t" "$out"
out=$(docker stats --no-stream --format '{{.MemUsage}}' skeng-det 2>&1)
echo "$out" | grep -q 'B' && pass "stats" || fail "stats" "$out"
out=$(docker top skeng-det 2>&1)
echo "$out" | grep -q 'sleep 600' && pass "top (runtime ps)" || fail "top" "$out"
check "pause" docker pause skeng-det
check "paused" sh -c "$DOCKER -H unix://$D/docker.sock inspect -f '{{.State.Status}}' skeng-det | grep -q paused"
check "unpause" docker unpause skeng-det
check "update --memory" docker update --memory 48m --memory-swap 96m skeng-det
cg=/sys/fs/cgroup/memory/skeng-docker/$cid
limit=$(cat $cg/memory.limit_in_bytes 2>&1)
[ "$limit" = $((48 * 1024 * 1024)) ] && pass "update --memory reaches the cgroup" || fail "update --memory" "$limit"
# 4. stop, then rm -f of a running container leaves no cgroup.
check "stop" docker stop -t 1 skeng-det
check "rm" docker rm skeng-det
cid=$(docker run -d "${RUN[@]}" $IMG sleep 600 2>/dev/null)
check "rm -f of a running container" docker rm -f "$cid"
[ -n "$cid" ] || fail "rm -f: no container id"
left=$(cgroup_leftovers skeng-docker/$cid)
[ -z "$left" ] && pass "rm -f leaves no cgroup" || fail "rm -f leaves no cgroup" "$left"
state=$(ls "$D/exec/runtime-runc/moby" 2>/dev/null)
[ -z "$state" ] && pass "rm leaves no runtime state" || fail "runtime state left" "$state"
# 5. --read-only, --init, --memory.
out=$(docker run --rm "${RUN[@]}" --read-only $IMG sh -c 'touch /x 2>/dev/null && echo writable || echo read-only' 2>/dev/null)
[ "$out" = read-only ] && pass "--read-only" || fail "--read-only" "$out"
out=$(docker run --rm "${RUN[@]}" --init $IMG sh -c 'cat /proc/1/cmdline | tr "\0" " "' 2>&1)
echo "$out" | grep -q 'docker-init' && pass "--init runs docker-init as PID 1" || fail "--init" "$out"
docker run --rm "${RUN[@]}" --memory 32m --memory-swap 32m $IMG sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1' >/dev/null 2>&1
status=$?
[ $status = 137 ] && pass "--memory holds (OOM-killed)" || fail "--memory holds" "exit status $status"
# 6. A failing container's error names the cause.
out=$(docker run --rm "${RUN[@]}" $IMG /no/such/program 2>&1)
status=$?
if [ $status = 127 ] && echo "$out" | grep -qiE 'no such file or directory|executable file not found'; then
  pass "failing container: status 127 and the cause"
else
  fail "failing container" "status $status: $out"
fi

finish
