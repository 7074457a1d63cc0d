#!/bin/bash
# Runs skiff (and, as a reference, Debian's runc) on a pure cgroup v2 kernel: Debian's
# kernel booted under qemu (TCG: nested KVM hangs on these machines) with
# cgroup_no_v1=all, from an initramfs of busybox-static, the static skiff binary and the
# scenarios in integration/vm. Prints a line per check and "N passed, M failed" for skiff
# (runc's results are printed for comparison and do not change the status). Exits 0 only
# if every skiff check passed and the VM finished. Everything it keeps is under target/vm.
set -euo pipefail

cd "$(dirname "$0")/../.."
VM=target/vm
SKIFF=target/x86_64-unknown-linux-gnu/release/skiff
# The whole boot, both runtimes' scenarios and the power-off; about 2 minutes on 2 cores.
VM_TIMEOUT=${VM_TIMEOUT:-480}

die() {
    echo "vm: $*" >&2
    exit 1
}

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v cpio >/dev/null || missing+=(cpio)
command -v python3 >/dev/null || missing+=(python3)
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
# Some machines carry qemu-utils from the backports suite, which breaks the stable
# qemu-system-x86's dependencies: take qemu from the suite qemu-utils came from.
suite=()
if dpkg-query -W -f '${Version}' qemu-utils 2>/dev/null | grep -q '~bpo'; then
    suite=(-t "$(. /etc/os-release && echo "$VERSION_CODENAME")-backports")
    # shellcheck source=integration/apt-backports.sh
    . "$(dirname "${BASH_SOURCE[0]}")/../apt-backports.sh"
    [ ${#missing[@]} -eq 0 ] || ensure_backports_source || die "cannot add bookworm-backports"
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "vm: installing ${missing[*]} ${suite[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
        "${suite[@]}" "${missing[@]}"
fi

mkdir -p "$VM"
# The kernel: the version Debian's linux-image-amd64 depends on, downloaded once.
version=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\([0-9].*\)-amd64$/\1/p' | head -1)
[ -n "$version" ] || die "apt-cache depends linux-image-amd64 names no kernel version"
kdir=$VM/kernel-$version
if ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
    echo "vm: downloading linux-image-$version-amd64"
    rm -rf "$kdir" "$VM"/download
    mkdir -p "$VM"/download
    # apt's sandbox user cannot write here; the download is still checked against the archive.
    (cd "$VM"/download && apt-get download -q "linux-image-$version-amd64")
    dpkg -x "$VM"/download/linux-image-"$version"-amd64_*.deb "$kdir.tmp"
    mv "$kdir.tmp" "$kdir"
    rm -rf "$VM"/download
fi
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)

[ -x "$SKIFF" ] || cargo build --release
file -L "$SKIFF" 2>/dev/null | grep -q 'dynamically linked' && die "$SKIFF is not static"

# The initramfs, rebuilt every time from the current binary and scenarios.
stage=$VM/initramfs.d
trap 'rm -rf "$stage"' EXIT
rm -rf "$stage"
mkdir -p "$stage"/{bin,dev,vm,proc,sys,run,tmp}
cp /bin/busybox "$stage"/bin/busybox
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
done
mknod -m 600 "$stage"/dev/console c 5 1
mknod -m 666 "$stage"/dev/null c 1 3
cp integration/vm/init.sh "$stage"/init
chmod 755 "$stage"/init
cp integration/vm/scenarios.sh "$stage"/vm/scenarios.sh
cp "$SKIFF" "$stage"/vm/skiff
"$SKIFF" spec --bundle "$stage"/vm
python3 integration/vm/configs.py "$stage"/vm/config.json "$stage"/vm/configs
rm "$stage"/vm/config.json
# runc is dynamically linked: it comes with the libraries it names.
if [ -x /usr/sbin/runc ]; then
    mkdir -p "$stage"/usr/sbin
    cp /usr/sbin/runc "$stage"/usr/sbin/runc
    for lib in $(ldd /usr/sbin/runc | grep -o '/[^ ]*'); do
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
else
    echo "vm: /usr/sbin/runc is not installed: only skiff runs in the VM"
fi
(cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 >"$VM"/initramfs.cpio.gz
rm -rf "$stage"

echo "vm: booting $(basename "$vmlinuz") with cgroup_no_v1=all (limit ${VM_TIMEOUT} s)"
log=$VM/console.log
began=$(date +%s)
set +e
timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 \
    -display none -monitor none -serial stdio -no-reboot \
    -kernel "$vmlinuz" -initrd "$VM"/initramfs.cpio.gz \
    -append "console=ttyS0 panic=-1 cgroup_no_v1=all quiet" </dev/null | tr -d '\r' >"$log"
qemu_status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - began))

grep '^VMTEST \(note\|log\)' "$log" | sed 's/^VMTEST /  /' || true
for runtime in runc skiff; do
    grep -q "^VMTEST [a-zA-Z]* $runtime " "$log" || continue
    echo "--- $runtime on cgroup v2"
    grep "^VMTEST \(ok\|FAIL\|skip\) $runtime " "$log" | sed "s/^VMTEST \([a-zA-Z]*\) $runtime /\1 /"
done
passed=$(grep -c '^VMTEST ok skiff ' "$log" || true)
failed=$(grep -c '^VMTEST FAIL skiff ' "$log" || true)
runc_passed=$(grep -c '^VMTEST ok runc ' "$log" || true)
runc_failed=$(grep -c '^VMTEST FAIL runc ' "$log" || true)
echo "vm: the VM stage took ${elapsed} s (console log: $log)"
if [ "$runc_passed$runc_failed" != 00 ]; then
    echo "runc (reference): $runc_passed passed, $runc_failed failed" \
        "(runc 1.1.5 fails clone-into-cgroup and exec by design: it forks in its own cgroup, then moves the process; and it leaves the levels above a nested cgroup: all-cgroups-removed)"
fi
echo "$passed passed, $failed failed"
if ! grep -q '^VMTEST DONE' "$log"; then
    if [ "$qemu_status" = 124 ]; then
        echo "FAIL: the VM did not finish within ${VM_TIMEOUT} s; last console lines:"
    else
        echo "FAIL: the VM stopped (qemu status $qemu_status) before the scenarios finished; last console lines:"
    fi
    tail -20 "$log"
    exit 1
fi
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
