# skiff: build, install, demo, test and benchmark. GNU make; run as root on Debian.
#
#   make demo     build skiff and run a busybox container that says who and where it is
#   make test     fmt + clippy + cargo test + the demo + the cgroup v2 VM, as CI does (.ci/run)
#   make bench    skiff vs crun vs runc: every latency, cold and back to back (bench/bench.sh,
#                 writes bench/RESULTS.md), then the costs at scale (bench/scale.sh, SCALE.md)
#   make test-engines  containerd, docker, podman and buildah on skiff (integration/engines)
#   make test-vm  skiff (and runc, for reference) on a pure cgroup v2 kernel in qemu
#   make conformance  the OCI conformance suite (runtime-tools) against skiff, counts per file
#                 in target/conformance/skiff/results.txt (RUNTIME=/usr/sbin/runc to compare)
#   make layout   re-record the hot functions the linker places first (bench/layout)
#   make bench-scale  only the part at scale: 1,000 containers in one root, 50 in parallel
#                 (bench/scale.sh, writes bench/SCALE.md)
#   make install  PREFIX=/usr/local DESTDIR= : the binary and the man pages

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

# rustup installs cargo in ~/.cargo/bin, which a non-login root shell may not have on PATH.
export PATH := $(PATH):$(HOME)/.cargo/bin
CARGO ?= cargo

# .cargo/config.toml builds for an explicit target (static linking), hence the triple.
SKIFF := target/x86_64-unknown-linux-gnu/release/skiff
DEMO := target/demo

# For the recursive `make demo` inside `make test`: spelled without $(MAKE) so that
# `make -n test` prints the recipe instead of running it.
SUBMAKE = $(MAKE) --no-print-directory

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

.PHONY: build build-deps layout install demo test test-deps demo-deps criu test-vm test-engines bench bench-scale clippy fmt clean \
	conformance test-conformance

build: build-deps
	$(CARGO) build --release
	@cat $(dir $(SKIFF))hot-layout.txt 2>/dev/null || true

# ld.lld links skiff with its hot functions first (bench/layout/cc-hot-first); without it
# the build still works, with a warning and a larger peak RSS.
build-deps:
	@$(call apt_ensure,lld:ld.lld)

# Re-records the functions the everyday commands run (bench/layout/hot-functions.txt),
# after changes on those paths; the next build links them first.
layout: build-deps
	bash bench/layout/record.sh

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(SKIFF) $(DESTDIR)$(BINDIR)/skiff
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

# Installs Debian packages ($(1): "package:file-or-command ...") that are missing, running
# `apt-get update` once first (waiting for another apt's lock rather than failing). busybox must be the static build (the rootfs has no libc).
define apt_ensure
	missing=(); \
	for pair in $(1); do \
	  pkg=$${pair%%:*}; what=$${pair#*:}; \
	  case $$what in \
	    /bin/busybox) if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=("$$pkg"); fi ;; \
	    /*) [ -e "$$what" ] || missing+=("$$pkg") ;; \
	    *) command -v "$$what" >/dev/null || missing+=("$$pkg") ;; \
	  esac; \
	done; \
	if [ $${#missing[@]} -gt 0 ]; then \
	  echo "installing $${missing[*]}"; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$${missing[@]}"; \
	fi
endef

demo-deps:
	@$(call apt_ensure,busybox-static:/bin/busybox python3:python3)

# Debian 12 ships podman's seccomp profile in golang-github-containers-common (later
# releases in containers-common); gcc-multilib builds the i386 probe of tests/seccomp.rs.
test-deps: build-deps
	@$(call apt_ensure,busybox-static:/bin/busybox python3:python3 golang-github-containers-common:/usr/share/containers/seccomp.json gcc-multilib:/usr/lib32/libc.a iproute2:ip)

# CRIU >= 4.1 for checkpoint/restore (tests/checkpoint.rs): the one on PATH, or CRIU 4.2
# built from ../shared/vendor into target/criu/criu with its Debian build dependencies
# (about 80 s the first time on 2 cores, nothing after).
criu:
	@bash integration/criu/build.sh >/dev/null

# The demo container's process: prints its hostname, PID, UID, working directory and
# cgroups. ($$ is make's escape for $.)
define DEMO_EDIT_PY
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["args"] = [
    "sh", "-c",
    'echo "hello from $$(hostname), pid $$$$, uid $$(id -u), in $$(pwd)"; '
    'echo "my cgroups:"; head -3 /proc/self/cgroup',
]
config["process"]["terminal"] = False
config["hostname"] = "skiff-demo"
config.setdefault("linux", {})["cgroupsPath"] = "/skiff-demo"
json.dump(config, open(path, "w"), indent=2)
endef
export DEMO_EDIT_PY

demo: demo-deps build
	@# A container left over from an interrupted demo would keep its state dir busy.
	@if [ -d $(DEMO)/state ]; then \
	  for id in $$($(SKIFF) --root $(DEMO)/state list -q 2>/dev/null); do \
	    $(SKIFF) --root $(DEMO)/state delete -f "$$id" || true; \
	  done; \
	fi
	rm -rf --one-file-system $(DEMO)
	mkdir -p $(DEMO)/rootfs/bin $(DEMO)/rootfs/proc $(DEMO)/rootfs/sys $(DEMO)/rootfs/dev \
	  $(DEMO)/rootfs/tmp $(DEMO)/rootfs/etc $(DEMO)/rootfs/root
	cp /bin/busybox $(DEMO)/rootfs/bin/busybox
	@for applet in $$(/bin/busybox --list); do \
	  [ "$$applet" = busybox ] || ln -s busybox $(DEMO)/rootfs/bin/$$applet; \
	done
	rm -f $(DEMO)/config.json
	$(SKIFF) spec --bundle $(DEMO)
	python3 -c "$$DEMO_EDIT_PY" $(DEMO)/config.json
	@echo '--- skiff run (output of the container follows) ---'
	$(SKIFF) --root $(DEMO)/state run --bundle $(DEMO) skiff-demo-$$$$
	@echo '--- the container exited 0 and was deleted ---'

# fmt and clippy first (fast failures); then the tests and the demo. The check that the
# host's /dev/null is still root:root runs even when a test failed, since a runtime bug
# that chowns it breaks the whole machine.
test: test-deps
	$(SUBMAKE) criu
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	@status=0; \
	echo "$(CARGO) test"; $(CARGO) test || status=1; \
	echo "make demo"; $(SUBMAKE) demo || status=1; \
	echo "make test-vm"; $(SUBMAKE) test-vm || status=1; \
	echo "make test-engines"; $(SUBMAKE) test-engines || status=1; \
	echo "make test-conformance"; $(SUBMAKE) test-conformance || status=1; \
	owner=$$(stat -c %U:%G /dev/null); \
	if [ "$$owner" != root:root ]; then \
	  echo "FAIL: /dev/null is owned by $$owner, not root:root"; status=1; \
	else \
	  echo "ok: /dev/null is owned by root:root"; \
	fi; \
	if [ $$status != 0 ]; then echo "make test: FAILED"; exit 1; fi; \
	echo "make test: all passed"

# Boots Debian's kernel with cgroup_no_v1=all under qemu (TCG) and runs the cgroup v2
# scenarios of integration/vm there; installs qemu-system-x86, cpio and busybox-static when
# missing and caches the kernel in target/vm. About 2 minutes on 2 cores; part of `make test`.
test-vm: build
	bash integration/vm/run.sh

# containerd, docker, podman and buildah run their containers on the freshly built skiff
# (integration/engines; each installs its engine from Debian). About 1 minute.
test-engines: build
	bash integration/engines/run.sh

# runtime-tools' validation suite from ../shared/vendor (Go 1.23 from bookworm-backports is
# installed when missing); about 1.5 minutes on 2 cores once built. test-conformance also
# fails on any not ok that integration/conformance/known-limits does not explain.
conformance: build
	bash integration/conformance/run.sh

test-conformance: build
	bash integration/conformance/run.sh --check

bench:
	bash bench/bench.sh
	BENCH_NO_BUILD=1 bash bench/scale.sh

bench-scale:
	bash bench/scale.sh

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean
