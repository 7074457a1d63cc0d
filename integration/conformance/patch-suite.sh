#!/bin/bash
# Adapts the unpacked runtime-tools ($1) to a shared machine, without changing what any
# test checks:
# - the container IDs it makes (uuid.NewString) start with $CONFORMANCE_PREFIX, so every
#   container and default cgroup (/<id>) of the suite is recognisable;
# - its fixed cgroup paths (/cgrouptest, testdir/cgrouptest/container) carry the prefix
#   and the test process's PID, so test files running side by side never share a cgroup
#   (delete_only_create_resources makes its own pids/cgrouptest: prefixed too).
set -euo pipefail
rt=$1

uuid=$rt/vendor/github.com/google/uuid/version4.go
grep -q '^	return Must(NewRandom()).String()$' "$uuid" ||
    { echo "patch-suite: $uuid changed; update the patch" >&2; exit 1; }
sed -i 's|^	return Must(NewRandom()).String()$|	return os.Getenv("CONFORMANCE_PREFIX") + Must(NewRandom()).String()|' "$uuid"
grep -q '^import "io"$' "$uuid" || { echo "patch-suite: $uuid imports changed" >&2; exit 1; }
sed -i 's|^import "io"$|import (\n\t"io"\n\t"os"\n)|' "$uuid"

cg=$rt/cgroups/cgroups.go
grep -q '^	AbsCgroupPath = "/cgrouptest"$' "$cg" && grep -q '^	RelCgroupPath = "testdir/cgrouptest/container"$' "$cg" ||
    { echo "patch-suite: $cg changed; update the patch" >&2; exit 1; }
sed -i 's|^	AbsCgroupPath = "/cgrouptest"$|	AbsCgroupPath = fmt.Sprintf("/%scgrouptest-%d", os.Getenv("CONFORMANCE_PREFIX"), os.Getpid())|' "$cg"
sed -i 's|^	RelCgroupPath = "testdir/cgrouptest/container"$|	RelCgroupPath = fmt.Sprintf("%stestdir-%d/cgrouptest/container", os.Getenv("CONFORMANCE_PREFIX"), os.Getpid())|' "$cg"

own=$rt/validation/delete_only_create_resources/delete_only_create_resources.go
grep -q '"pids", "cgrouptest")' "$own" ||
    { echo "patch-suite: $own changed; update the patch" >&2; exit 1; }
sed -i 's|"pids", "cgrouptest")|"pids", os.Getenv("CONFORMANCE_PREFIX")+"cgrouptest")|' "$own"

# A suite bug: since runtime-spec 1.3 made pids.limit a pointer, the check compares the
# two pointers (always different) instead of the limits. Compare the values.
pids=$rt/validation/util/linux_resources_pids.go
grep -q '^	t.Ok(lpd.Limit == config.Linux.Resources.Pids.Limit, "pids limit is set correctly")$' "$pids" ||
    { echo "patch-suite: $pids changed; update the patch" >&2; exit 1; }
sed -i 's|^	t.Ok(lpd.Limit == config.Linux.Resources.Pids.Limit, "pids limit is set correctly")$|	t.Ok(lpd.Limit != nil \&\& config.Linux.Resources.Pids.Limit != nil \&\& *lpd.Limit == *config.Linux.Resources.Pids.Limit, "pids limit is set correctly")|' "$pids"
sed -i 's|^	t.Diagnosticf("expect: %d, actual: %d", config.Linux.Resources.Pids.Limit, lpd.Limit)$|	t.Diagnosticf("expect: %v, actual: %v", *config.Linux.Resources.Pids.Limit, *lpd.Limit)|' "$pids"
