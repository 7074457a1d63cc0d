#!/bin/sh
# The guest's /init: first moves itself from the initramfs into a tmpfs (pivot_root
# cannot leave an initramfs, whose root cannot be unmounted), then sets up a pure cgroup v2
# machine, runs the scenarios for each runtime and powers off. Results go to the serial
# console as `VMTEST ...` lines, which integration/vm/run.sh reads.
export PATH=/bin

if [ ! -e /.in-tmpfs ]; then
    mkdir -p /newroot
    mount -t tmpfs -o size=700m,mode=0755 tmpfs /newroot
    for entry in /*; do
        case $entry in
            /newroot | /proc | /sys | /dev) ;;
            *) cp -a "$entry" /newroot/ ;;
        esac
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/run /newroot/tmp
    touch /newroot/.in-tmpfs
    exec switch_root /newroot /init
    echo "VMTEST FAIL vm switch_root: could not switch into the tmpfs"
    poweroff -f
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for controller in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$controller" >/sys/fs/cgroup/cgroup.subtree_control ||
        echo "VMTEST note could not enable $controller"
done
echo "VMTEST note kernel $(uname -r); controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
grep -q cgroup /proc/mounts && echo "VMTEST note mounts: $(grep cgroup /proc/mounts | tr '\n' ';')"

# The containers' rootfs: busybox and its applets.
mkdir -p /vm/rootfs/bin /vm/rootfs/proc /vm/rootfs/sys /vm/rootfs/dev /vm/rootfs/tmp \
    /vm/rootfs/etc /vm/rootfs/root
cp /bin/busybox /vm/rootfs/bin/busybox
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "/vm/rootfs/bin/$applet"
done

start=$(date +%s)
sh /vm/scenarios.sh /vm/skiff skiff
if [ -x /usr/sbin/runc ]; then
    sh /vm/scenarios.sh /usr/sbin/runc runc
else
    echo "VMTEST note runc not in the image: skipped"
fi
echo "VMTEST note scenarios took $(($(date +%s) - start)) s in the guest"
echo "VMTEST DONE"
sync
poweroff -f
