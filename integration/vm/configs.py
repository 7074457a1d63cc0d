#!/usr/bin/env python3
"""Writes one config.json per VM scenario, from `skiff spec`'s template (argv[1]) into
directory argv[2]/<scenario>/. `@RT@` in a cgroupsPath is replaced in the guest by the
runtime's name, so skiff's and runc's containers never share a cgroup."""
import copy
import json
import os
import sys

template = json.load(open(sys.argv[1]))
out = sys.argv[2]
template["process"]["terminal"] = False
# One read-only busybox rootfs, built in the guest, serves every bundle.
template["root"] = {"path": "/vm/rootfs", "readonly": True}


def scenario(name, args, resources=None, cgroupns=False, mounts=(), mknod=False, nested=""):
    config = copy.deepcopy(template)
    if mknod:
        for kind in ("bounding", "effective", "permitted"):
            config["process"]["capabilities"][kind].append("CAP_MKNOD")
    config["process"]["args"] = ["sh", "-c", args]
    config["linux"]["cgroupsPath"] = f"/vmtest-@RT@-{name}{nested}"
    if resources:
        config["linux"].setdefault("resources", {}).update(resources)
    if cgroupns:
        config["linux"]["namespaces"].append({"type": "cgroup"})
    config["mounts"].extend(mounts)
    os.makedirs(os.path.join(out, name), exist_ok=True)
    with open(os.path.join(out, name, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


CG = "/sys/fs/cgroup"
scenario("standard", "echo hello-from-container; exit 0")
scenario("lifecycle", "cat /proc/self/cgroup")
scenario("clone-into-cgroup", "cat /proc/self/cgroup")
scenario("cgroupns", "cat /proc/self/cgroup", cgroupns=True)
scenario("exec", "sleep 600")
scenario(
    "memory",
    f"echo max=$(cat {CG}/memory.max); echo swap=$(cat {CG}/memory.swap.max); "
    f"echo high=$(cat {CG}/memory.high)",
    {"memory": {"limit": 67108864, "swap": 100663296}, "unified": {"memory.high": "50331648"}},
    cgroupns=True,
)
scenario(
    "pids",
    # A fork bomb: every shell starts two more in the background until pids.max stops it.
    "b() { b | b & }; b; sleep 600",
    {"pids": {"limit": 16}},
)
scenario(
    "cpu",
    f"echo max=$(cat {CG}/cpu.max); echo weight=$(cat {CG}/cpu.weight)",
    {"cpu": {"quota": 50000, "period": 100000, "shares": 512}},
    cgroupns=True,
    # Two levels the runtime makes, each needing the controllers enabled above it.
    nested="/nested/leaf",
)
scenario(
    "io",
    f"if [ -e {CG}/io.bfq.weight ]; then echo bfq=$(cat {CG}/io.bfq.weight); "
    f"else echo weight=$(cat {CG}/io.weight); fi",
    {"blockIO": {"weight": 500}},
    cgroupns=True,
)
scenario(
    "hugetlb",
    f"echo max=$(cat {CG}/hugetlb.2MB.max)",
    {"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]},
    cgroupns=True,
)
# The resource scenarios read their files through a cgroup namespace, which both runtimes
# mount as the container's own cgroup (runc 1.1 shows the whole tree without one).
# /dev/vcs (c 7:0) needs no capability to open and is not in the default device rules.
# The shell's error messages go to /dev/null: busybox writes them in pieces, which would
# interleave with the results on the shared output.
probe = (
    "if mknod /dev/probe c 7 0 2>/dev/null; then echo mknod=ok; else echo mknod=failed; fi; "
    "if { true < /dev/probe; } 2>/dev/null; then echo open=ok; else echo open=denied; fi; "
    "if { true < /dev/vcs-bind; } 2>/dev/null; then echo bind=ok; else echo bind=denied; fi; "
    "if { echo x > /dev/null; } 2>/dev/null; then echo null=ok; else echo null=denied; fi"
)
vcs_bind = [{"destination": "/dev/vcs-bind", "type": "bind", "source": "/dev/vcs",
             "options": ["bind"]}]
scenario("devices-default", probe, mounts=vcs_bind, mknod=True)
scenario(
    "devices-allowed",
    probe,
    {"devices": [{"allow": False, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 7, "minor": 0, "access": "rw"}]},
    mounts=vcs_bind,
    mknod=True,
)
# Hostile values skiff refuses on v2, naming the field (before the init exists).
scenario("bad-weight", "true", {"blockIO": {"weight": 5}})
scenario(
    "bad-major",
    "true",
    {"devices": [{"allow": False, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 8589934592, "minor": 1, "access": "r"}]},
)
# Commands on a running container: pause/resume, update, events.
scenario("pause", "sleep 600")
scenario("update", "sleep 600", {"memory": {"limit": 67108864}, "pids": {"limit": 100}})
scenario("events", "sleep 600", {"memory": {"limit": 67108864}, "pids": {"limit": 100}})
# The shell survives the OOM kill of the pipeline (tail keeps all of a newline-free input).
scenario(
    "oom",
    "sleep 2; head -c 200m /dev/zero | tail; sleep 600",
    {"memory": {"limit": 16777216, "swap": 16777216}},
)
# kill --all and delete --force reach a process that left the init's tree: without a pid
# namespace the orphaned sleep goes to the guest's init, not the container's.
config = copy.deepcopy(template)
config["process"]["args"] = ["sh", "-c", "(sleep 601 &); exec sleep 600"]
config["linux"]["cgroupsPath"] = "/vmtest-@RT@-kill-all"
config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "pid"]
os.makedirs(os.path.join(out, "kill-all"), exist_ok=True)
with open(os.path.join(out, "kill-all", "config.json"), "w") as f:
    json.dump(config, f, indent=2)
