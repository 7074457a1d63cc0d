# Sourced by integration scripts that install from Debian's bookworm-backports: adds that
# suite to apt's sources, on the Debian mirror the machine's sources already use, unless
# it is there. A fresh machine may carry packages from backports (qemu-utils) without the
# suite in its sources. Prints what it does; returns 1 when no mirror is found.
ensure_backports_source() {
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    local mirror
    mirror=$(grep -hs -A3 '^Types: deb' /etc/apt/sources.list.d/*.sources |
        sed -n 's|^URIs: *\(\S*/debian\)/\?$|\1|p' | head -1)
    if [ -z "$mirror" ]; then
        mirror=$(sed -n 's|^deb \(\[[^]]*\] \)\?\(\S*/debian\)/\? bookworm .*|\2|p' \
            /etc/apt/sources.list 2>/dev/null | head -1)
    fi
    if [ -z "$mirror" ]; then
        echo "no Debian mirror found in /etc/apt/sources.list*" >&2
        return 1
    fi
    echo "adding bookworm-backports from $mirror to apt's sources"
    cat >/etc/apt/sources.list.d/bookworm-backports.sources <<EOF
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}
