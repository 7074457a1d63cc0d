#!/bin/bash
# buildah 1.28 (Debian) runs its RUN steps through skiff: private storage under a temp
# dir, `buildah from` a locally built OCI archive of busybox, `buildah run`, and a
# `buildah build` of a two-step Containerfile. RUNTIME=/usr/sbin/runc for comparison.
ENGINE=buildah
source "$(dirname "$0")/lib.sh"

apt_ensure buildah:buildah golang-github-containers-common:/usr/share/containers/seccomp.json python3:python3 ||
  cannot_run "apt-get could not install buildah"
ensure_runtime
make_temp
D=$TMP
cat >"$D/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$D/containers.conf
mkdir -p "$D/runtime-root" "$D/tmp"
export TMPDIR=$D/tmp
# Each call is recorded, to show the engine really went through the runtime under test.
printf '#!/bin/sh\necho "$*" >>%s\nexec %s --root %s "$@"\n' "$D/calls" "$RUNTIME" "$D/runtime-root" >"$D/runtime"
chmod +x "$D/runtime"
printf '#!/bin/sh\nexec /usr/bin/buildah --root %s --runroot %s --storage-driver overlay "$@"\n' \
  "$D/storage" "$D/runroot" >"$D/buildah"
chmod +x "$D/buildah"
PATH=$D:$PATH
on_exit "umount $D/storage/overlay; umount -R $D/runroot"
on_exit 'for p in $(pids_mentioning "$D/"); do stop_pid $p; done'
on_exit 'buildah rm --all; buildah rmi --all --force'
say "runtime: $RUNTIME"

busybox_rootfs "$D/rootfs"
oci_archive "$D/rootfs" "$D/busybox.tar" localhost/skeng/busybox:latest
ctr=$(buildah from --pull-never "oci-archive:$D/busybox.tar" 2>"$D/from.err")
[ -n "$ctr" ] && pass "from a local OCI archive" || cannot_run "buildah from failed: $(tail -2 "$D/from.err")"
out=$(buildah run --runtime "$D/runtime" --isolation oci "$ctr" sh -c 'echo ran-in-$(cat /proc/1/comm 2>/dev/null || echo x); id -u' 2>&1)
echo "$out" | grep -q '^0$' && echo "$out" | grep -q 'ran-in' && pass "run a command" || fail "run" "$out"
buildah run --runtime "$D/runtime" --isolation oci "$ctr" sh -c 'exit 6' 2>/dev/null
status=$?
[ $status = 6 ] && pass "run: exit status 6" || fail "run exit status" "$status"
check "commit" buildah commit -q "$ctr" localhost/skeng/base:latest

mkdir -p "$D/context"
cat >"$D/context/Containerfile" <<'CF'
FROM localhost/skeng/base:latest
RUN echo step-one > /one && grep Seccomp: /proc/self/status > /seccomp
RUN cat /one > /two && echo step-two >> /two
CMD ["cat", "/two"]
CF
out=$(buildah build --runtime "$D/runtime" --isolation oci --pull-never -t localhost/skeng/built:latest "$D/context" 2>&1)
[ $? = 0 ] && pass "build of a two-step Containerfile" || fail "build" "$(echo "$out" | tail -3)"
built=$(buildah from --pull-never localhost/skeng/built:latest 2>/dev/null)
out=$(buildah run --runtime "$D/runtime" --isolation oci "$built" cat /two 2>&1)
[ "$out" = "step-one
step-two" ] && pass "both RUN steps' files are in the image" || fail "RUN steps" "$out"
left=$(ls "$D/runtime-root")
[ -z "$left" ] && pass "no runtime state left" || fail "runtime state left" "$left"

check "the engine's calls went to $RUNTIME" grep -qE '^(run|create) ' "$D/calls"

finish
