"""`--oci-config` (issue 14): an OCI runtime-spec config.json read into the typed OciConfig that a run
applies, every field either applied or refused by name (runtime/ociconfig.py,
docs/formats/oci-config.md). No root needed: nothing here runs a container.

Real input: the default configs `crun spec` and `crun spec --rootless` write, generated here with
/usr/bin/crun (CI installs crun) and kept as committed copies in tests/data/oci/ (NOTE.md)."""

from __future__ import annotations

import copy
import errno
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspectr.errors import UsageError
from inspectr.runtime.ociconfig import (
    CAPABILITIES, OCI_CONFIG_MAX_BYTES, OciCapabilities, OciConfig, OciCpuAffinity, OciDevice, OciDeviceRule,
    OciIoPriority, OciLinux, OciMount, OciProcess, OciResources, OciRlimit, OciScheduler, OciSeccomp,
    OciSyscallArg, OciSyscallRule, OciTimeOffset, OciUser, load_oci_config, parse_oci_config, seccomp_filter_from,
    unknown_syscalls,
)
from inspectr.runtime.seccomp_filter import load_module

DATA = Path(__file__).parent / "data" / "oci"
CRUN = "/usr/bin/crun"

# Capability numbers written out independently of ociconfig's table (linux/capability.h).
CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
       "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29,
       "CAP_SETFCAP": 31, "CAP_SYSLOG": 34, "CAP_CHECKPOINT_RESTORE": 40}
RLIMIT = {"RLIMIT_CPU": 0, "RLIMIT_CORE": 4, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7}  # asm-generic numbering


def _crun_spec(tmp: Path, rootless: bool) -> dict[str, Any]:
    if not os.access(CRUN, os.X_OK):
        pytest.skip("crun is not installed (CI installs it: apt-get install crun)")
    subprocess.run([CRUN, "spec", *(["--rootless"] if rootless else [])], cwd=tmp, check=True,
                   capture_output=True, timeout=30)
    doc: dict[str, Any] = json.loads((tmp / "config.json").read_text())
    return doc


def _committed(rootless: bool) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / ("crun-spec-rootless.json" if rootless else "crun-spec.json")).read_text())
    return doc


def _parse(doc: Any) -> OciConfig:
    return parse_oci_config(doc, "config.json")


# -- crun's defaults -----------------------------------------------------------------------------------


def _assert_every_field_maps(doc: dict[str, Any], cfg: OciConfig) -> None:
    """Walk the raw document and find each of its fields in the typed value."""
    assert cfg.oci_version == doc["ociVersion"]
    p, proc = doc["process"], cfg.process
    assert proc.args == tuple(p["args"])
    assert proc.env == tuple(p["env"])
    assert proc.cwd == p["cwd"]
    assert proc.user is not None and (proc.user.uid, proc.user.gid) == (p["user"]["uid"], p["user"]["gid"])
    caps = p["capabilities"]
    for name in ("bounding", "effective", "inheritable", "permitted"):
        assert getattr(proc.capabilities, name) == tuple(sorted(CAPABILITIES.index(c) for c in caps[name])), name
    raisable = set(caps["ambient"]) & set(caps["permitted"]) & set(caps["inheritable"])
    assert proc.capabilities.ambient == tuple(sorted(CAPABILITIES.index(c) for c in raisable))
    if set(caps["ambient"]) - raisable:
        assert any(n.startswith("process.capabilities.ambient:") for n in cfg.notes)
    infinite = {2 ** 64 - 1: -1}
    assert [(r.name, r.soft, r.hard) for r in proc.rlimits] == \
        [(r["type"], infinite.get(r["soft"], r["soft"]), infinite.get(r["hard"], r["hard"])) for r in p["rlimits"]]
    assert proc.no_new_privileges is p.get("noNewPrivileges", False)
    assert cfg.root_readonly is doc["root"]["readonly"]
    assert cfg.hostname == doc["hostname"]
    assert [(m.destination, m.type, m.source, m.options) for m in cfg.mounts] == \
        [(m["destination"], m["type"], m["source"], tuple(m.get("options", ()))) for m in doc["mounts"]]
    for m in cfg.mounts:
        assert set(m.flags) | set(m.data) <= set(m.options)
        assert "ro" in m.flags or "ro" not in m.options
    linux, lx = doc["linux"], cfg.linux
    names = {"network": "net"}
    assert lx.namespaces == {names.get(n["type"], n["type"]) for n in linux["namespaces"]} | {"cgroup"}
    assert lx.masked_paths == tuple(linux["maskedPaths"])
    assert lx.readonly_paths == tuple(linux["readonlyPaths"])
    assert lx.resources.device_rules == tuple(
        OciDeviceRule(allow=r["allow"], type=r.get("type", "a"), major=r.get("major"), minor=r.get("minor"),
                      access=r["access"]) for r in linux["resources"]["devices"])


@pytest.mark.parametrize("rootless", [False, True], ids=["default", "rootless"])
@pytest.mark.parametrize("source", ["crun", "committed"])
def test_crun_default_config_maps_every_field_once_the_terminal_is_off(tmp_path: Path, source: str,
                                                                        rootless: bool) -> None:
    doc = _crun_spec(tmp_path, rootless) if source == "crun" else _committed(rootless)
    assert doc["process"]["terminal"] is True  # crun's default asks for a terminal, which inspectr refuses
    with pytest.raises(UsageError, match=r"^config\.json: process\.terminal: inspectr runs without a terminal$"):
        _parse(doc)
    doc["process"]["terminal"] = False
    cfg = _parse(doc)
    _assert_every_field_maps(doc, cfg)
    assert ("user" in cfg.linux.namespaces) is rootless


def test_committed_crun_default_config_reads_as_expected() -> None:
    doc = _committed(rootless=False)
    doc["process"]["terminal"] = False
    cfg = _parse(doc)
    web = (CAP["CAP_KILL"], CAP["CAP_NET_BIND_SERVICE"], CAP["CAP_AUDIT_WRITE"])
    assert cfg.process.capabilities == OciCapabilities(bounding=web, effective=web, inheritable=(), permitted=web,
                                                       ambient=())
    assert cfg.process.rlimits == (OciRlimit("RLIMIT_NOFILE", RLIMIT["RLIMIT_NOFILE"], 1024, 1024),)
    assert cfg.process.user == OciUser(uid=0, gid=0, umask=None, additional_gids=())
    assert cfg.linux.namespaces == {"pid", "net", "ipc", "uts", "mount", "cgroup"}
    assert cfg.mounts[1] == OciMount(destination="/dev", type="tmpfs", source="tmpfs",
                                     options=("nosuid", "strictatime", "mode=755", "size=65536k"),
                                     flags=frozenset({"nosuid", "strictatime"}), data=("mode=755", "size=65536k"),
                                     bind=False, recursive=False)
    assert cfg.mounts[6].type == "cgroup" and "ro" in cfg.mounts[6].flags
    assert cfg.linux.seccomp is None and cfg.linux.resources.memory_limit_bytes is None
    assert cfg.notes == (
        "linux.namespaces: no cgroup namespace: inspectr makes one anyway, so the run sees only its own cgroup",
        "process.capabilities.ambient: CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE not raised: an ambient "
        "capability must also be permitted and inheritable (the kernel's rule; runc and crun skip them too)")


def test_load_reads_a_config_file(tmp_path: Path) -> None:
    doc = _committed(rootless=True)
    doc["process"]["terminal"] = False
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    assert load_oci_config(path) == _parse(doc)


# -- every supported field -----------------------------------------------------------------------------


def _full(bind_source: str) -> dict[str, Any]:
    """A config that sets every field inspectr applies."""
    return {
        "ociVersion": "1.2.0",
        "root": {"path": "/some/bundle/rootfs", "readonly": True},
        "hostname": "probe",
        "domainname": "example.test",
        "annotations": {"org.example.key": "value"},
        "hooks": {"prestart": [], "poststop": []},
        "process": {
            "terminal": False,
            "consoleSize": {"height": 25, "width": 80},
            "user": {"uid": 1000, "gid": 1000, "umask": 0o027, "additionalGids": [5, 20]},
            "args": ["/bin/sh", "-c", "id"],
            "env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY="],
            "cwd": "/work",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_NET_RAW"],
                "effective": ["CAP_KILL", "CAP_CHOWN"],
                "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
                "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_KILL"],
                "ambient": ["CAP_NET_RAW"],
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                        {"type": "RLIMIT_CPU", "soft": 60, "hard": 2 ** 64 - 1}],
            "noNewPrivileges": True,
            "oomScoreAdj": 500,
            "apparmorProfile": "",
            "selinuxLabel": "",
            "scheduler": {"policy": "SCHED_BATCH", "nice": 5},
            "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 7},
            "execCPUAffinity": {"initial": "0", "final": "0-1,3"},
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["hidepid=2"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup", "options": ["rw", "ro"]},
            {"destination": "/evidence", "type": "bind", "source": bind_source,
             "options": ["rbind", "ro", "rw", "ro", "nosuid", "nodev", "noexec", "rprivate"]},
            {"destination": "/scratch", "source": bind_source, "options": ["bind", "noexec", "exec", "private"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup", "time", "user")],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "timeOffsets": {"monotonic": {"secs": 1000, "nanosecs": 5}, "boottime": {"secs": -5}},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600,
                         "uid": 0, "gid": 0},
                        {"path": "/dev/loop-ish", "type": "u", "major": 7, "minor": 0},
                        {"path": "/dev/vda9", "type": "b", "major": 254, "minor": 9},
                        {"path": "/dev/pipe", "type": "p"}],
            "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", "fs.mqueue.msg_max": "20",
                       "kernel.sem": "250 32000 32 128"},
            "resources": {
                "devices": [{"allow": False, "access": "rwm"},
                            {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                            {"allow": True, "type": "b", "major": -1, "access": "m"}],
                "memory": {"limit": 256 << 20, "swap": 256 << 20, "disableOOMKiller": False},
                "pids": {"limit": 64},
                "cpu": {},
            },
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 38,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [
                    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 0xFF, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                    {"names": ["reboot"], "action": "SCMP_ACT_KILL"},
                ],
            },
            "rootfsPropagation": "rprivate",
            "maskedPaths": ["/proc/kcore", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys"],
            "personality": {"domain": "LINUX32"},
            "cgroupsPath": "",
            "mountLabel": "",
        },
    }


def test_every_supported_field_is_applied(tmp_path: Path) -> None:
    cfg = _parse(_full(str(tmp_path)))
    c = CAP
    assert cfg.process == OciProcess(
        args=("/bin/sh", "-c", "id"),
        env=("PATH=/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY="),
        cwd="/work",
        user=OciUser(uid=1000, gid=1000, umask=0o027, additional_gids=(5, 20)),
        capabilities=OciCapabilities(
            bounding=(c["CAP_CHOWN"], c["CAP_KILL"], c["CAP_SETGID"], c["CAP_SETUID"], c["CAP_NET_RAW"]),
            effective=(c["CAP_CHOWN"], c["CAP_KILL"]),
            inheritable=(c["CAP_KILL"], c["CAP_NET_RAW"]),
            permitted=(c["CAP_CHOWN"], c["CAP_KILL"], c["CAP_NET_RAW"]),
            ambient=(c["CAP_NET_RAW"],)),
        rlimits=(OciRlimit("RLIMIT_NOFILE", RLIMIT["RLIMIT_NOFILE"], 512, 1024),
                 OciRlimit("RLIMIT_CORE", RLIMIT["RLIMIT_CORE"], 0, 0),
                 OciRlimit("RLIMIT_CPU", RLIMIT["RLIMIT_CPU"], 60, -1)),
        no_new_privileges=True,
        oom_score_adj=500,
        scheduler=OciScheduler(policy=os.SCHED_BATCH, nice=5),
        io_priority=OciIoPriority(io_class=3, priority=7),
        exec_cpu_affinity=OciCpuAffinity(initial=frozenset({0}), final=frozenset({0, 1, 3})),
    )
    assert cfg.root_readonly is True and cfg.hostname == "probe" and cfg.domainname == "example.test"
    assert cfg.mounts == (
        OciMount("/proc", "proc", "proc", ("hidepid=2",), frozenset(), ("hidepid=2",), False, False),
        OciMount("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k"),
                 frozenset({"nosuid", "strictatime"}), ("mode=755", "size=65536k"), False, False),
        OciMount("/dev/pts", "devpts", "devpts", ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                                  "gid=5"),
                 frozenset({"nosuid", "noexec"}), ("newinstance", "ptmxmode=0666", "mode=0620", "gid=5"), False, False),
        OciMount("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "nodev"), frozenset({"nosuid", "nodev"}), (), False,
                 False),
        OciMount("/sys", "sysfs", "sysfs", ("nosuid", "ro"), frozenset({"nosuid", "ro"}), (), False, False),
        OciMount("/sys/fs/cgroup", "cgroup2", "cgroup", ("rw", "ro"), frozenset({"ro"}), (), False, False),
        OciMount("/evidence", "bind", str(tmp_path), ("rbind", "ro", "rw", "ro", "nosuid", "nodev", "noexec", "rprivate"),
                 frozenset({"ro", "nosuid", "nodev", "noexec"}), (), True, True),
        OciMount("/scratch", "bind", str(tmp_path), ("bind", "noexec", "exec", "private"), frozenset(), (), True, False),
    )
    assert cfg.linux == OciLinux(
        namespaces=frozenset({"pid", "net", "ipc", "uts", "mount", "cgroup", "time", "user"}),
        devices=(OciDevice("/dev/fuse", "c", 10, 229, 0o600, 0, 0), OciDevice("/dev/loop-ish", "c", 7, 0, 0o666, 0, 0),
                 OciDevice("/dev/vda9", "b", 254, 9, 0o666, 0, 0), OciDevice("/dev/pipe", "p", 0, 0, 0o666, 0, 0)),
        sysctl=(("net.ipv4.ip_forward", "1"), ("kernel.shmmax", "65536"), ("fs.mqueue.msg_max", "20"),
                ("kernel.sem", "250 32000 32 128")),
        seccomp=OciSeccomp(
            default_action="SCMP_ACT_ERRNO", default_errno_ret=38,
            architectures=("SCMP_ARCH_X86_64", "SCMP_ARCH_X86"), flags=("SECCOMP_FILTER_FLAG_LOG",),
            syscalls=(OciSyscallRule(("read", "write"), "SCMP_ACT_ALLOW", None, ()),
                      OciSyscallRule(("personality",), "SCMP_ACT_ALLOW", None,
                                     (OciSyscallArg(0, 0xFF, 8, "SCMP_CMP_MASKED_EQ"),)),
                      OciSyscallRule(("mkdir",), "SCMP_ACT_ERRNO", errno.EPERM, ()),
                      OciSyscallRule(("reboot",), "SCMP_ACT_KILL_THREAD", None, ()))),
        masked_paths=("/proc/kcore", "/sys/firmware"),
        readonly_paths=("/proc/sys",),
        resources=OciResources(memory_limit_bytes=256 << 20, pids_limit=64, device_rules=(
            OciDeviceRule(False, "a", None, None, "rwm"), OciDeviceRule(True, "c", 10, 229, "rw"),
            OciDeviceRule(True, "b", None, None, "m"))),
        personality=0x0008,
        time_offsets=(OciTimeOffset("monotonic", 1000, 5), OciTimeOffset("boottime", -5, 0)),
    )
    assert cfg.notes == ("linux.uidMappings, linux.gidMappings: the host side of the mapping is inspectr's own id "
                         "range (the image's layers are unpacked for it)",)


def test_left_out_process_fields_mean_the_images_own() -> None:
    cfg = _parse({"ociVersion": "1.1.0", "process": {},
                  "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]}})
    assert cfg.process == OciProcess(args=None, env=None, cwd=None, user=None, capabilities=OciCapabilities(),
                                      rlimits=(), no_new_privileges=False, oom_score_adj=None, scheduler=None,
                                      io_priority=None, exec_cpu_affinity=None)
    assert cfg.hostname is None and cfg.mounts == () and cfg.linux.seccomp is None
    assert cfg.linux.resources == OciResources(None, None, ())


def test_pids_limit_zero_or_below_is_no_limit_and_memory_minus_one_is_no_limit() -> None:
    doc = _minimal()
    doc["linux"]["resources"] = {"pids": {"limit": 0}, "memory": {"limit": -1}}
    assert _parse(doc).linux.resources == OciResources(memory_limit_bytes=-1, pids_limit=-1, device_rules=())


# -- refusals -----------------------------------------------------------------------------------------


def _minimal() -> dict[str, Any]:
    return {"ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
                        "capabilities": {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}]},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}],
            "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
                      "seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO",
                                                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}}}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the minimal config: set the field at a dotted path (numbers index arrays; the
    index just past the end appends)."""
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list) and int(last) == len(node):
            node.append(value)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


def _without_namespace(kind: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != kind]
    return change


REFUSED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("hooks", _set("hooks", {"prestart": [{"path": "/usr/bin/true"}]}), "hooks.prestart: inspectr runs no host hooks"),
    ("terminal", _set("process.terminal", True), "process.terminal: inspectr runs without a terminal"),
    ("apparmor", _set("process.apparmorProfile", "docker-default"),
     "process.apparmorProfile: AppArmor profiles are not supported"),
    ("selinux", _set("process.selinuxLabel", "system_u:system_r:container_t:s0"),
     "process.selinuxLabel: SELinux labels are not supported"),
    ("namespace-path", _set("linux.namespaces.1", {"type": "network", "path": "/proc/1/ns/net"}),
     "linux.namespaces[1].path: joining an existing namespace is not supported"),
    ("notify-default", _set("linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY"),
     "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY: seccomp notification"),
    ("notify-rule", _set("linux.seccomp.syscalls.0.action", "SCMP_ACT_NOTIFY"),
     "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY: seccomp notification"),
    ("listener", _set("linux.seccomp.listenerPath", "/run/agent.sock"), "linux.seccomp.listenerPath: seccomp notification"),
    ("unknown-top", _set("extension", {}), "extension: unknown field"),
    ("unknown-process", _set("process.shell", "bash"), "process.shell: unknown field"),
    ("unknown-user", _set("process.user.home", "/root"), "process.user.home: unknown field"),
    ("unknown-mount", _set("mounts.1.propagation", "private"), "mounts[1].propagation: unknown field"),
    ("unknown-seccomp-arg", _set("linux.seccomp.syscalls.0.args.0.mask", 1),
     "linux.seccomp.syscalls[0].args[0].mask: unknown field"),
    ("unknown-linux-1.3", _set("linux.netDevices", {"eth1": {}}), "linux.netDevices: unknown field"),
    ("unknown-odd-key", _set("process.x\ny", 1), r"process.'x\\ny': unknown field"),
    ("bad-capability", _set("process.capabilities.bounding", ["CAP_KILL", "CAP_FLY"]),
     "process.capabilities.bounding[1]: unknown capability 'CAP_FLY'"),
    ("lowercase-capability", _set("process.capabilities.bounding", ["cap_kill"]),
     "process.capabilities.bounding[0]: unknown capability 'cap_kill'"),
    ("effective-not-permitted", _set("process.capabilities.effective", ["CAP_SYS_ADMIN"]),
     "process.capabilities.effective: CAP_SYS_ADMIN is not in permitted"),
    ("mknod", _set("process.capabilities.bounding", ["CAP_MKNOD"]),
     "mounts[1].options: /dev is writable without nodev while process.capabilities.bounding holds CAP_MKNOD"),
    ("mknod-bind", lambda d: (_set("process.capabilities.bounding", ["CAP_MKNOD"])(d),
                              _set("mounts.1.options", ["nodev"])(d),
                              _set("mounts.2", {"destination": "/x", "source": "/tmp", "options": ["rbind", "rw"]})(d)),
     "mounts[2].options: /x is writable without nodev"),
    ("duplicate-rlimit", _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                                  {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}]),
     "process.rlimits[1].type: RLIMIT_NOFILE is given twice"),
    ("unknown-rlimit", _set("process.rlimits.0.type", "RLIMIT_FUN"), "process.rlimits[0].type: unknown rlimit"),
    ("soft-above-hard", _set("process.rlimits.0.soft", 3), "process.rlimits[0].soft: 3 is above hard 2"),
    ("infinite-soft-finite-hard", _set("process.rlimits.0.soft", 2 ** 64 - 1),
     "process.rlimits[0].soft: 18446744073709551615 is above hard 2"),
    ("host-sysctl", _set("linux.sysctl", {"vm.swappiness": "0"}),
     "linux.sysctl.vm.swappiness: not a namespaced sysctl: it would change the host"),
    ("kernel-sysctl", _set("linux.sysctl", {"kernel.panic": "1"}), "linux.sysctl.kernel.panic: not a namespaced"),
    ("domainname-twice", lambda d: (_set("domainname", "a.test")(d), _set("linux.sysctl", {"kernel.domainname": "b"})(d)),
     "linux.sysctl.kernel.domainname: the domainname field sets it too"),
    ("hostname-sysctl", _set("linux.sysctl", {"kernel.hostname": "x"}),
     "linux.sysctl.kernel.hostname: set the hostname with the hostname field"),
    ("nfs-mount", _set("mounts.1", {"destination": "/data", "type": "nfs", "source": "server:/export"}),
     "mounts[1].type: 'nfs' is not supported"),
    ("overlay-mount", _set("mounts.0.type", "overlay"), "mounts[0].type: 'overlay' is not supported"),
    ("slave-mount", _set("mounts.1.options", ["rslave"]), "mounts[1].options[0]: 'rslave'"),
    ("idmap-mount", _set("mounts.1.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
     "mounts[1].uidMappings: idmapped mounts are not supported"),
    ("unknown-mount-option", _set("mounts.1.options", ["nosuid", "huge_pages"]),
     "mounts[1].options[1]: 'huge_pages' is not a supported option for a tmpfs mount"),
    ("recursive-attr", _set("mounts.1.options", ["rro"]), "mounts[1].options[0]: 'rro': recursive mount attributes"),
    ("writable-cgroup", _set("mounts.1", {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}),
     "mounts[1].options: a writable cgroup mount"),
    ("relative-bind", _set("mounts.1", {"destination": "/x", "type": "bind", "source": "data", "options": ["rbind"]}),
     "mounts[1].source: 'data': a bind mount's source must be an absolute host path"),
    ("missing-bind", _set("mounts.1", {"destination": "/x", "source": "/no/such/dir/anywhere", "options": ["bind"]}),
     "mounts[1].source: '/no/such/dir/anywhere' does not exist"),
    ("mount-over-root", _set("mounts.1.destination", "/"), "mounts[1].destination: the image is the root"),
    ("dotdot-destination", _set("mounts.1.destination", "/dev/../etc"), "mounts[1].destination: '/dev/../etc' is not"),
    ("no-network", _without_namespace("network"),
     "linux.namespaces: no network namespace: inspectr never shares the host network"),
    ("no-pid", _without_namespace("pid"), "linux.namespaces: no pid namespace: inspectr never shares"),
    ("no-mount", _without_namespace("mount"), "linux.namespaces: no mount namespace"),
    ("unknown-namespace", _set("linux.namespaces.0", {"type": "pidfd"}), "linux.namespaces[0].type: unknown namespace"),
    ("duplicate-namespace", _set("linux.namespaces.1", {"type": "pid"}), "linux.namespaces[1].type: pid is given twice"),
    ("mappings-without-userns", _set("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 65536}]),
     "linux.uidMappings: needs a user namespace"),
    ("version-2", _set("ociVersion", "2.0.0"), "ociVersion: '2.0.0' is not supported"),
    ("version-0.5", _set("ociVersion", "0.5.0"), "ociVersion: '0.5.0' is not supported"),
    ("version-1.3", _set("ociVersion", "1.3.0"), "ociVersion: '1.3.0' is not supported"),
    ("windows", _set("windows", {"layerFolders": []}), "windows: not a Linux container"),
    ("username", _set("process.user.username", "ContainerUser"), "process.user.username: a Windows field"),
    ("rt-scheduler", _set("process.scheduler", {"policy": "SCHED_FIFO", "priority": 50}),
     "process.scheduler.policy: SCHED_FIFO: a real-time policy"),
    ("rt-io", _set("process.ioPriority", {"class": "IOPRIO_CLASS_RT", "priority": 0}),
     "process.ioPriority.class: IOPRIO_CLASS_RT"),
    ("cgroups-path", _set("linux.cgroupsPath", "/machine/probe"),
     "linux.cgroupsPath: inspectr makes its own cgroup for each run"),
    ("cpu", _set("linux.resources", {"cpu": {"quota": 50000, "period": 100000}}), "linux.resources.cpu: not supported"),
    ("unified", _set("linux.resources", {"unified": {"io.max": "8:0 rbps=1"}}), "linux.resources.unified: not supported"),
    ("swap", _set("linux.resources", {"memory": {"limit": 1 << 20, "swap": 2 << 20}}),
     "linux.resources.memory.swap: inspectr gives no swap"),
    ("device-allow-all", _set("linux.resources", {"devices": [{"allow": True, "access": "rwm"}]}),
     "linux.resources.devices[0]: inspectr applies only a deny-all rule followed by allow rules"),
    ("device-deny-later", _set("linux.resources", {"devices": [{"allow": False, "access": "rwm"},
                                                               {"allow": False, "type": "c", "access": "r"}]}),
     "linux.resources.devices[1].allow: inspectr applies only a deny-all rule"),
    ("propagation", _set("linux.rootfsPropagation", "shared"), "linux.rootfsPropagation: 'shared'"),
    ("mount-label", _set("linux.mountLabel", "system_u:object_r:container_file_t:s0"), "linux.mountLabel: SELinux"),
    ("intel-rdt", _set("linux.intelRdt", {"closID": "probe"}), "linux.intelRdt: Intel RDT is not supported"),
    ("personality", _set("linux.personality", {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
     "linux.personality.flags: the runtime-spec defines no personality flags"),
    ("time-offsets", _set("linux.timeOffsets", {"monotonic": {"secs": 1}}), "linux.timeOffsets: needs a time namespace"),
    ("device-outside-dev", _set("linux.devices", [{"path": "/etc/disk", "type": "b", "major": 8, "minor": 0}]),
     "linux.devices[0].path: '/etc/disk': device nodes are made under /dev/ only"),
    ("seccomp-same-arg-twice", _set("linux.seccomp.syscalls.0.args", [{"index": 0, "value": 1, "op": "SCMP_CMP_GE"},
                                                                      {"index": 0, "value": 9, "op": "SCMP_CMP_LE"}]),
     "linux.seccomp.syscalls[0].args[1].index: argument 0 is compared twice in one rule"),
    ("seccomp-conflict", _set("linux.seccomp.syscalls", [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                                                         {"names": ["mount"], "action": "SCMP_ACT_KILL"}]),
     "linux.seccomp.syscalls[1]: 'mount' already has action SCMP_ACT_ERRNO in linux.seccomp.syscalls[0]"),
    ("seccomp-errno-on-allow", _set("linux.seccomp.defaultErrnoRet", 1),
     "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one"),
    ("seccomp-op", _set("linux.seccomp.syscalls.0.args.0.op", "SCMP_CMP_REGEX"), "unknown operator 'SCMP_CMP_REGEX'"),
    ("seccomp-arch", _set("linux.seccomp.architectures", ["SCMP_ARCH_Z80"]), "unknown architecture 'SCMP_ARCH_Z80'"),
    ("seccomp-flag", _set("linux.seccomp.flags", ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]),
     "linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: only for seccomp notification"),
    ("docker-profile", _set("linux.seccomp.syscalls.0.comment", "from docker"),
     "linux.seccomp.syscalls[0].comment: a Docker seccomp profile field"),
    ("uid-not-mapped", lambda d: (_set("linux.namespaces.5", {"type": "user"})(d),
                                  _set("process.user.uid", 1 << 24)(d)),
     "process.user.uid: 16777216 is not mapped by the user namespace"),
    ("two-mappings", lambda d: (_set("linux.namespaces.5", {"type": "user"})(d),
                                _set("linux.uidMappings", [{"containerID": 0, "hostID": 1, "size": 65536},
                                                           {"containerID": 65536, "hostID": 0, "size": 1}])(d)),
     "linux.uidMappings: inspectr maps one id range"),
    ("small-mapping", lambda d: (_set("linux.namespaces.5", {"type": "user"})(d),
                                 _set("linux.gidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}])(d)),
     "linux.gidMappings[0].size: 1: inspectr maps at least 65536 ids"),
    ("env-without-equals", _set("process.env", ["PATH=/bin", "JUSTANAME"]),
     "process.env[1]: 'JUSTANAME' is not NAME=VALUE"),
    ("relative-cwd", _set("process.cwd", "work"), "process.cwd: 'work' is not an absolute, normalised path"),
    ("missing-version", lambda d: d.pop("ociVersion"), "ociVersion: missing"),
    ("missing-process", lambda d: d.pop("process"), "process: missing"),
    ("missing-linux", lambda d: d.pop("linux"), "linux: missing"),
]


@pytest.mark.parametrize("change,message", [(c, m) for _, c, m in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_what_inspectr_cannot_apply_is_refused_by_name(change: Callable[[dict[str, Any]], object], message: str) -> None:
    doc = _minimal()
    _parse(copy.deepcopy(doc))  # the unchanged config is fine: the change alone is refused
    change(doc)
    with pytest.raises(UsageError) as info:
        _parse(doc)
    text = str(info.value)
    assert text.startswith("config.json: ") and "\n" not in text
    assert message in text, text
    assert info.value.exit_code == 2


def test_the_domainname_may_come_from_a_sysctl_instead() -> None:
    doc = _minimal()
    doc["linux"]["sysctl"] = {"kernel.domainname": "example.test"}
    cfg = _parse(doc)
    assert cfg.domainname is None and cfg.linux.sysctl == (("kernel.domainname", "example.test"),)


def test_cap_mknod_is_fine_where_no_node_it_makes_can_be_opened() -> None:
    doc = _minimal()
    doc["process"]["capabilities"] = {"bounding": ["CAP_MKNOD"], "permitted": ["CAP_MKNOD"]}
    doc["mounts"][1]["options"] = ["nosuid", "nodev"]
    doc["mounts"].append({"destination": "/ro", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]})
    assert _parse(doc).process.capabilities.bounding == (CAP["CAP_MKNOD"],)
    doc["mounts"][1]["options"] = ["nosuid"]  # a writable /dev without nodev, but in a user namespace
    doc["linux"]["namespaces"].append({"type": "user"})
    assert "user" in _parse(doc).linux.namespaces


def test_empty_values_of_refused_fields_ask_for_nothing() -> None:
    doc = _minimal()
    doc["hooks"] = {"prestart": [], "createRuntime": []}
    doc["process"].update(apparmorProfile="", selinuxLabel="", terminal=False)
    doc["linux"].update(cgroupsPath="", mountLabel="", intelRdt={}, rootfsPropagation="private")
    doc["linux"]["resources"] = {"cpu": {}, "blockIO": {}, "hugepageLimits": [], "memory": {"swappiness": None}}
    _parse(doc)


# -- seccomp ------------------------------------------------------------------------------------------


def _pfc(f: Any) -> str:
    with tempfile.TemporaryFile() as fp:
        f.export_pfc(fp)
        fp.seek(0)
        return fp.read().decode()


SMALL_SECCOMP = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
    "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0xFF, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"}]},
        {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["uname"], "action": "SCMP_ACT_TRAP"},
        {"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
        {"names": ["rmdir"], "action": "SCMP_ACT_LOG"},
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},  # the default action itself: left out
        {"names": ["no_such_syscall_ever"], "action": "SCMP_ACT_ALLOW"},
    ],
}


def _seccomp(doc: dict[str, Any]) -> OciSeccomp:
    config = _minimal()
    config["linux"]["seccomp"] = doc
    seccomp = _parse(config).linux.seccomp
    assert seccomp is not None
    return seccomp


def test_seccomp_filter_has_the_configs_rules() -> None:
    module = load_module()
    oci = _seccomp(SMALL_SECCOMP)
    text = _pfc(seccomp_filter_from(oci, module))
    x86_64 = text.split("# filter for arch x86 ")[0]
    assert "# filter for arch x86_64" in text and "# filter for arch x86 " in text
    assert "# filter for arch aarch64" in text
    for name, action in (("read", "ALLOW"), ("write", "ALLOW"), ("exit_group", "ALLOW"), ("reboot", "KILL_PROCESS"),
                         ("uname", "TRAP"), ("mkdir", "TRACE(5)"), ("rmdir", "LOG")):
        block = x86_64.split(f'# filter for syscall "{name}"')[1].split("# filter for syscall")[0]
        assert f"action {action};" in block, (name, block)
    personality = x86_64.split('# filter for syscall "personality"')[1].split("# filter for syscall")[0]
    assert "$a0.lo32 & 0x000000ff == 8" in personality and "action ALLOW;" in personality
    socket = x86_64.split('# filter for syscall "socket"')[1].split("# filter for syscall")[0]
    assert "if ($a0.lo32 == 1)\n      else\n        action ERRNO(97);" in socket  # NE: the else branch
    assert '"getcwd"' not in text
    assert x86_64.rstrip().endswith(f"action ERRNO({errno.EPERM});")
    assert unknown_syscalls(oci, module) == ("no_such_syscall_ever",)


def test_seccomp_deny_list_with_a_name_libseccomp_lacks_is_refused() -> None:
    oci = _seccomp({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mount", "no_such_syscall_ever"], "action": "SCMP_ACT_ERRNO"}]})
    with pytest.raises(UsageError, match=r"^config\.json: linux\.seccomp\.syscalls\[0\]: 'no_such_syscall_ever' is unknown"):
        seccomp_filter_from(oci, load_module(), "config.json")


def test_seccomp_flags_set_libseccomp_attributes_and_leave_no_new_privs_to_the_runtime() -> None:
    module = load_module()
    oci = _seccomp({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": None,
                    "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                    "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    f = seccomp_filter_from(oci, module)
    assert f.get_attr(module.Attr.CTL_NNP) == 0
    assert f.get_attr(module.Attr.CTL_TSYNC) == 1
    assert f.get_attr(module.Attr.CTL_LOG) == 1
    assert f.get_attr(module.Attr.CTL_SSB) == 1
    text = _pfc(f)
    assert "action KILL;" in text.split("# default action")[1]


# -- hostile input ------------------------------------------------------------------------------------


def _load_error(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "config.json"
    path.write_bytes(data)
    with pytest.raises(UsageError) as info:
        load_oci_config(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text and info.value.exit_code == 2
    return text


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    data = json.dumps({"ociVersion": "1.0.0", "annotations": {"pad": "x" * OCI_CONFIG_MAX_BYTES}}).encode()
    assert "over the limit of 1048576" in _load_error(tmp_path, data)


def test_deep_nesting_is_refused_in_one_line(tmp_path: Path) -> None:
    assert "nested too deeply" in _load_error(tmp_path, b"[" * 200_000 + b"]" * 200_000)
    deep: Any = "x"
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(UsageError) as info:
        _parse({"ociVersion": "1.0.0", "annotations": {"k": deep}})
    assert str(info.value) == "config.json: annotations.k: expected a string, got an object"


@pytest.mark.parametrize("data,message", [
    (b"\xff\xfe{}", "not UTF-8 JSON"),
    (b'{"ociVersion": "1.0.0", "ociVersion": "1.0.1"}', "invalid JSON: duplicate key 'ociVersion'"),
    (b'{"ociVersion": "1.0.0", "process": {"oomScoreAdj": NaN}}', "invalid JSON: non-finite number NaN"),
    (b'{"ociVersion": "1.0.0",', "invalid JSON: Expecting property name"),
    (b"[]", "(document): expected an object, got an array"),
])
def test_malformed_json_is_one_usage_error(tmp_path: Path, data: bytes, message: str) -> None:
    assert message in _load_error(tmp_path, data)


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="is not a regular file"):
        load_oci_config(fifo)


WRONG_TYPES = [
    ("process.args", "sh", "process.args: expected an array, got a string"),
    ("process.args", [], "process.args: empty"),
    ("process.args", ["sh", 1], "process.args[1]: expected a string, got a number"),
    ("process.args", ["sh\0"], "process.args[0]: contains a NUL character"),
    ("process.args", ["\ud800"], "process.args[0]: not valid Unicode"),
    ("process.user.uid", "0", "process.user.uid: expected an integer, got a string"),
    ("process.user.uid", True, "process.user.uid: expected an integer, got a boolean"),
    ("process.user.uid", 0.0, "process.user.uid: expected an integer, got a number"),
    ("process.user.uid", -1, "process.user.uid: -1 is out of range 0..4294967294"),
    ("process.user.uid", 2 ** 32 - 1, "process.user.uid: 4294967295 is out of range"),
    ("process.user.umask", 0o1777, "process.user.umask: 1023 is out of range 0..511"),
    ("process.user", None, None),
    ("process.rlimits.0.hard", 2 ** 64, "process.rlimits[0].hard: 18446744073709551616 is out of range"),
    ("process.rlimits.0.hard", 2 ** 63, "process.rlimits[0].hard: 9223372036854775808 is out of range"),
    ("process.rlimits.0.hard", -1, "process.rlimits[0].hard: -1 is out of range"),
    ("process.noNewPrivileges", "true", "process.noNewPrivileges: expected true or false, got a string"),
    ("process.oomScoreAdj", 1001, "process.oomScoreAdj: 1001 is out of range -1000..1000"),
    ("process.execCPUAffinity", {"final": "0-9999999"}, "process.execCPUAffinity.final: '0-9999999' is not a CPU range"),
    ("process.execCPUAffinity", {"final": "all"}, "process.execCPUAffinity.final: 'all' is not a CPU list"),
    ("process.capabilities", ["CAP_KILL"], "process.capabilities: expected an object, got an array"),
    ("mounts", {}, "mounts: expected an array, got an object"),
    ("mounts.0", "proc", "mounts[0]: expected an object, got a string"),
    ("mounts.1.options", ["mode=7,uid=0"], "mounts[1].options[0]: 'mode=7,uid=0': malformed"),
    ("linux.namespaces", {}, "linux.namespaces: expected an array, got an object"),
    ("linux.sysctl", ["net.ipv4.ip_forward=1"], "linux.sysctl: expected an object, got an array"),
    ("linux.sysctl", {"net/ipv4/ip_forward": "1"}, "linux.sysctl.'net/ipv4/ip_forward': not a sysctl name"),
    ("linux.maskedPaths", ["proc/kcore"], "linux.maskedPaths[0]: 'proc/kcore' is not an absolute, normalised path"),
    ("linux.seccomp.syscalls.0.args.0.index", 6, "linux.seccomp.syscalls[0].args[0].index: 6 is out of range 0..5"),
    ("linux.seccomp.syscalls.0.names", ["mount; rm"], "linux.seccomp.syscalls[0].names[0]: 'mount; rm' is not a"),
    ("linux.seccomp.syscalls.0.names", [], "linux.seccomp.syscalls[0].names: missing or empty"),
    ("hostname", "h" * 65, "hostname: longer than 64 bytes"),
    ("hostname", 7, "hostname: expected a string, got a number"),
    ("root.readonly", "yes", "root.readonly: expected true or false, got a string"),
]


@pytest.mark.parametrize("path,value,message", WRONG_TYPES, ids=[f"{p}={v!r}"[:60] for p, v, _ in WRONG_TYPES])
def test_wrong_types_and_ranges_are_one_usage_error(path: str, value: Any, message: str | None) -> None:
    doc = _minimal()
    _set(path, value)(doc)
    if message is None:  # null is absent: the field is left out
        _parse(doc)
        return
    with pytest.raises(UsageError) as info:
        _parse(doc)
    assert "\n" not in str(info.value) and message in str(info.value), str(info.value)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=20)
_PLACES = ["process", "process.user", "process.capabilities", "process.rlimits", "process.args", "process.env",
           "mounts", "mounts.0", "mounts.1.options", "linux", "linux.namespaces", "linux.seccomp",
           "linux.seccomp.syscalls", "linux.seccomp.syscalls.0.args", "linux.resources", "linux.devices",
           "linux.sysctl", "hooks", "root", "annotations", "ociVersion", "linux.timeOffsets", "process.scheduler"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(_PLACES), value=_JSON)
def test_any_json_anywhere_is_an_oci_config_or_one_usage_error(place: str, value: Any) -> None:
    doc = _minimal()
    _set(place, value)(doc)
    try:
        assert isinstance(_parse(doc), OciConfig)
    except UsageError as err:
        assert str(err).startswith("config.json: ") and "\n" not in str(err)


def test_committed_copies_are_what_crun_writes(tmp_path: Path) -> None:
    """The copies are Debian 12's crun 1.8.1 output byte for byte (tests/data/oci/NOTE.md). Another
    crun's defaults are read by the generated-config test above instead."""
    if not os.access(CRUN, os.X_OK):
        pytest.skip("crun is not installed (CI installs it: apt-get install crun)")
    version = subprocess.run([CRUN, "--version"], capture_output=True, text=True, check=True).stdout
    for rootless, name in ((False, "crun-spec.json"), (True, "crun-spec-rootless.json")):
        out = tmp_path / name.removesuffix(".json")
        out.mkdir()
        subprocess.run([CRUN, "spec", *(["--rootless"] if rootless else [])], cwd=out, check=True, capture_output=True)
        if version.startswith("crun version 1.8.1\n"):
            assert (out / "config.json").read_bytes() == (DATA / name).read_bytes()
