#!/bin/bash
# Runs every engine script (containerd, docker, podman, buildah) one after the other and
# fails when any fails. RUNTIME=/usr/sbin/runc runs them all against runc.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
start=$(date +%s)
status=0
for engine in containerd docker podman buildah; do
  bash "$dir/$engine.sh" || status=1
done
echo "engines: $( [ $status = 0 ] && echo all passed || echo FAILED ) in $(( $(date +%s) - start )) s"
exit $status
