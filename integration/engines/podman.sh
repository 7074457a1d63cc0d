#!/bin/bash
# podman 4.3 (Debian) drives skiff through conmon: private storage, run and tmp dirs under
# a temp dir, the cgroupfs manager and file events logger (no systemd here), an image
# from `podman import` of a busybox rootfs. RUNTIME=/usr/sbin/runc for comparison.
ENGINE=podman
source "$(dirname "$0")/lib.sh"

apt_ensure podman:podman conmon:conmon golang-github-containers-common:/usr/share/containers/seccomp.json util-linux:script ||
  cannot_run "apt-get could not install podman"
ensure_runtime
make_temp
D=$TMP
IMG=localhost/skeng/busybox:latest
cat >"$D/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
tmp_dir = "$D/tmp"
CONF
export CONTAINERS_CONF=$D/containers.conf
# The runtime's own state goes under the temp dir too (podman passes no --root).
mkdir -p "$D/runtime-root"
# Each call is recorded, to show the engine really went through the runtime under test.
printf '#!/bin/sh\necho "$*" >>%s\nexec %s --root %s "$@"\n' "$D/calls" "$RUNTIME" "$D/runtime-root" >"$D/runtime"
chmod +x "$D/runtime"
printf '#!/bin/sh\nexec /usr/bin/podman --root %s --runroot %s --storage-driver overlay --runtime %s --cgroup-manager cgroupfs --events-backend file "$@"\n' \
  "$D/storage" "$D/runroot" "$D/runtime" >"$D/podman"
chmod +x "$D/podman"
PATH=$D:$PATH
on_exit 'for c in $(cgroup_leftovers skeng-podman); do find $c -depth -type d -exec rmdir {} \; ; done'
on_exit "podman system reset -f; umount $D/storage/overlay; umount -R $D/runroot"
on_exit 'for p in $(pids_mentioning "$D/"); do stop_pid $p; done'
on_exit 'podman rm -af -t 0'
say "runtime: $RUNTIME"

busybox_rootfs "$D/rootfs"
rootfs_tar "$D/rootfs" "$D/rootfs.tar"
check "import a local busybox image" podman import -c 'CMD ["sh"]' "$D/rootfs.tar" $IMG
RUN=(--cgroup-parent /skeng-podman)

podman run --rm "${RUN[@]}" $IMG sh -c 'exit 4'
status=$?
[ $status = 4 ] && pass "run --rm: exit status 4" || fail "run --rm exit status" "$status"
out=$(podman run --rm "${RUN[@]}" $IMG grep Seccomp: /proc/self/status 2>&1)
echo "$out" | grep -q 'Seccomp:.*2' && pass "podman's default seccomp profile applied" || fail "seccomp" "$out"
out=$(with_tty /usr/bin/env PATH="$PATH" CONTAINERS_CONF="$CONTAINERS_CONF" podman run --rm -t "${RUN[@]}" $IMG tty 2>&1)
echo "$out" | grep -q '/dev/pts/[0-9]' && pass "run -t gets a terminal" || fail "run -t" "$out"

podman run -d --name skeng-det "${RUN[@]}" --memory 64m --pids-limit 50 $IMG sleep 600 >/dev/null 2>&1
out=$(podman exec skeng-det sh -c 'echo in-$(cat /proc/1/comm)' 2>&1)
[ "$out" = in-sleep ] && pass "run -d + exec" || fail "exec" "$out"
out=$(with_tty /usr/bin/env PATH="$PATH" CONTAINERS_CONF="$CONTAINERS_CONF" podman exec -t skeng-det tty 2>&1)
echo "$out" | grep -q '/dev/pts/[0-9]' && pass "exec -t gets a terminal" || fail "exec -t" "$out"
id=$(podman inspect -f '{{.Id}}' skeng-det 2>/dev/null)
mem=$(cat /sys/fs/cgroup/memory/skeng-podman/libpod-$id/memory.limit_in_bytes 2>&1)
[ "$mem" = 67108864 ] && pass "--memory reaches the cgroup" || fail "--memory" "$mem"
pids=$(cat /sys/fs/cgroup/pids/skeng-podman/libpod-$id/pids.max 2>&1)
[ "$pids" = 50 ] && pass "--pids-limit reaches the cgroup" || fail "--pids-limit" "$pids"
out=$(podman stats --no-stream --format '{{.MemUsage}}' skeng-det 2>&1)
echo "$out" | grep -q 'B' && pass "stats --no-stream" || fail "stats" "$out"
out=$(podman top skeng-det 2>&1)
echo "$out" | grep -q 'sleep' && pass "top" || fail "top" "$out"
check "pause" podman pause skeng-det
check "paused" sh -c "podman inspect -f '{{.State.Status}}' skeng-det | grep -q paused"
check "unpause" podman unpause skeng-det
check "stop" podman stop -t 1 skeng-det
check "rm" podman rm skeng-det
left="$(cgroup_leftovers skeng-podman/libpod-$id) $(ls "$D/runtime-root")"
[ -z "${left// /}" ] && pass "rm leaves no cgroup and no runtime state" || fail "rm leaves nothing" "$left"

out=$(podman run --rm "${RUN[@]}" --cap-drop all $IMG grep CapEff /proc/self/status 2>&1)
echo "$out" | grep -q '0000000000000000' && pass "--cap-drop all" || fail "--cap-drop" "$out"
out=$(podman run --rm "${RUN[@]}" --user 1234:5678 $IMG id 2>&1)
echo "$out" | grep -q 'uid=1234.*gid=5678' && pass "--user" || fail "--user" "$out"
out=$(podman run --rm "${RUN[@]}" --read-only $IMG sh -c 'cat /tmp/image-file; touch /tmp/new && echo tmp-writable; touch /x 2>/dev/null || echo root-read-only' 2>&1)
[ "$out" = "from the image
tmp-writable
root-read-only" ] && pass "--read-only (tmpcopyup keeps the image's /tmp)" || fail "--read-only" "$out"
out=$(podman run --rm "${RUN[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 $IMG sh -c 'id -u; cat /proc/self/uid_map' 2>&1)
echo "$out" | grep -q '100000' && pass "--uidmap (a user namespace)" || fail "--uidmap" "$out"
docker_like=$(podman run --rm "${RUN[@]}" --memory 32m --memory-swap 32m $IMG sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1' >/dev/null 2>&1; echo $?)
[ "$docker_like" = 137 ] && pass "--memory holds (OOM-killed)" || fail "--memory holds" "exit status $docker_like"
out=$(podman run --rm "${RUN[@]}" $IMG /no/such/program 2>&1)
status=$?
if [ $status = 127 ] && echo "$out" | grep -qiE 'no such file or directory|executable file not found'; then
  pass "failing container: status 127 and the cause"
else
  fail "failing container" "status $status: $out"
fi

check "the engine's calls went to $RUNTIME" grep -qE '^(run|create) ' "$D/calls"

finish
