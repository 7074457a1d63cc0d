# Sourced by bench.sh and scale.sh: what both do around their timed steps.

# Waits for the machine to be idle before a timed section, so that the kernel's deferred
# work of what ran before (writeback of a fresh build, namespace teardown of containers
# just deleted) is not measured with whoever comes next.
settle() { # waits (60 s at most) until the CPUs were idle for 90% of a whole second
    local i k idle total
    local -a a b
    for i in $(seq 60); do
        read -ra a </proc/stat
        sleep 1
        read -ra b </proc/stat
        total=0
        for k in 1 2 3 4 5 6 7 8; do total=$((total + b[k] - a[k])); done
        idle=$((b[4] - a[4]))
        if [ "$total" -gt 0 ] && [ $((idle * 100 / total)) -ge 90 ]; then
            echo "settle: the machine settled after $i s"
            return 0
        fi
    done
    echo "settle: the machine did not settle (idle below 90%) within 60 s" >&2
}

# Makes the cgroup PATH (e.g. /skiff-bench) in every hierarchy mounted under
# /sys/fs/cgroup, for the runtimes to place their containers below: engines give a
# runtime a parent that exists (kubelet's pod cgroups, podman's libpod_parent), and a
# runtime that had to make it would be measured for how it treats a level it made (skiff
# removes it with its last container; crun and runc leave it, so whoever ran first paid
# for everyone). The scripts' cleanups remove it with their other cgroups.
make_parent_cgroups() {
    local mount
    for mount in /sys/fs/cgroup/*; do
        mountpoint -q "$mount" || continue
        mkdir -p "$mount$1"
    done
}
