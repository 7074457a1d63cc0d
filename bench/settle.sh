# Sourced by bench.sh and scale.sh: waiting for the machine to be idle before a timed
# step, so that the kernel's deferred work of what ran before (writeback of a fresh build,
# namespace teardown of containers just deleted) is not measured with whoever comes next.

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
