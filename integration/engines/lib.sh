# Shared by the engine scripts: the runtime under test, a private temp dir, a busybox
# image built locally, one line per check, and cleanup of exactly what the script started.
# Sourced; the caller sets ENGINE (a word used in IDs and paths, prefixed skeng).

set -u -o pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SKIFF_BUILT=$REPO/target/x86_64-unknown-linux-gnu/release/skiff
RUNTIME=${RUNTIME:-$SKIFF_BUILT}
export PATH=$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin
PASSED=0
FAILED=0
CLEANUPS=()
START_TIME=$(date +%s)

say() { echo "[$ENGINE] $*"; }
pass() { PASSED=$((PASSED + 1)); echo "ok   - $ENGINE: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $ENGINE: $1${2:+: $2}"; }
# check NAME COMMAND...: passes when COMMAND succeeds; its output is shown on failure.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -5 | tr '\n' ' ')"; fi
}
# The engine cannot run here: say exactly why, count it as a failure, stop.
cannot_run() {
  fail "cannot run $ENGINE here" "$*"
  finish
}

on_exit() { CLEANUPS+=("$*"); }
cleanup() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" >/dev/null 2>&1 || true; done
  CLEANUPS=()
}
finish() {
  cleanup
  echo "$ENGINE: $PASSED passed, $FAILED failed ($(( $(date +%s) - START_TIME )) s, runtime $RUNTIME)"
  [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
  exit $?
}
trap 'cleanup' EXIT

# Kills a process this script started, and waits for it to go.
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

# PIDs whose command line contains $1 (a path unique to this run, e.g. our temp dir):
# the shims a private daemon started, which outlive a plain stop of the daemon.
pids_mentioning() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "${p#/proc/}"
  done
}

# apt-get install of the packages whose probe file is missing ("pkg:/path pkg:command").
apt_ensure() {
  local missing=() pair pkg what
  for pair in "$@"; do
    pkg=${pair%%:*}; what=${pair#*:}
    case $what in
      /*) [ -e "$what" ] || missing+=("$pkg") ;;
      *) command -v "$what" >/dev/null || missing+=("$pkg") ;;
    esac
  done
  [ ${#missing[@]} = 0 ] && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null &&
      apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

# A daemon a package's postinst started system-wide (found by its pidfile) is stopped.
stop_packaged_daemon() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { say "stopping the $pidfile daemon the package started"; stop_pid "$pid"; }
  return 0
}

ensure_runtime() {
  if [ "$RUNTIME" = "$SKIFF_BUILT" ] && [ ! -x "$RUNTIME" ]; then
    (cd "$REPO" && cargo build --release -q) || cannot_run "skiff does not build"
  fi
  [ -x "$RUNTIME" ] || cannot_run "RUNTIME=$RUNTIME is not an executable"
}

# make_temp: $TMP, a private directory removed at exit (after everything else stops).
make_temp() {
  TMP=$(mktemp -d "/tmp/skeng-$ENGINE.XXXXXX")
  chmod 755 "$TMP"
  CLEANUPS=("umount -R $TMP/mnt-dummy; rm -rf --one-file-system $TMP" "${CLEANUPS[@]}")
}

# busybox_rootfs DIR: a busybox-static rootfs with /etc/passwd and /etc/group.
busybox_rootfs() {
  local dir=$1 applet
  apt_ensure busybox-static:/bin/busybox
  mkdir -p "$dir"/{bin,proc,sys,dev,tmp,etc,root,run,var/tmp}
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  echo "from the image" >"$dir/tmp/image-file"
  chmod 1777 "$dir/tmp"
}

# rootfs_tar DIR TAR: the rootfs as a plain tar (docker import, podman import).
rootfs_tar() { tar -C "$1" --numeric-owner -cf "$2" .; }

# oci_archive DIR TAR NAME: an OCI image layout tarball (one layer) for ctr import and
# buildah, built here since no registry is reachable.
oci_archive() {
  python3 - "$@" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
rootfs, out, name = sys.argv[1:4]
layout = {}
def blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    layout["blobs/sha256/" + digest[7:]] = data
    return digest, len(data)
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for entry in sorted(os.listdir(rootfs)):
        t.add(os.path.join(rootfs, entry), arcname=entry)
raw = raw.getvalue()
diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
layer, layer_size = blob(gzip.compress(raw, mtime=0))
config = {"architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                     "Cmd": ["sh"], "WorkingDir": "/"},
          "rootfs": {"type": "layers", "diff_ids": [diff_id]},
          "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "busybox-static rootfs (skiff integration/engines)"}]}
cfg, cfg_size = blob(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}]}
man, man_size = blob(json.dumps(manifest).encode())
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": man, "size": man_size, "annotations": {"org.opencontainers.image.ref.name": name,
         "io.containerd.image.name": name}}]}
layout["oci-layout"] = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
layout["index.json"] = json.dumps(index).encode()
with tarfile.open(out, "w") as t:
    for path, data in layout.items():
        info = tarfile.TarInfo(path); info.size = len(data); info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
PY
}

# with_tty COMMAND...: runs COMMAND on a new pseudo-terminal (for -t), output on stdout.
with_tty() { script -qec "$(printf '%q ' "$@")" /dev/null </dev/null; }

# The cgroup v1 directories named $1 (relative to each hierarchy) that are left over.
cgroup_leftovers() {
  local c
  for c in /sys/fs/cgroup/*/; do [ -d "$c$1" ] && echo "$c$1"; done
  return 0
}
