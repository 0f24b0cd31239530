"""`run --oci-config`: a runtime-spec config's process and linux sections applied (issue 14).
Root: CI runs these as root, with no skips. The parser's own tests are tests/test_ociconfig.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from clirun import run_main
from runtime_probe import probe_binary, probe_images, run_probe  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.needs_root, pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")]
DATA = Path(__file__).resolve().parent / "data" / "oci"


def _crun_default(tmp_path: Path) -> dict[str, Any]:
    """crun's own default config (crun spec), or the committed copy of it."""
    if shutil.which("crun"):
        subprocess.run(["crun", "spec"], cwd=tmp_path, check=True)
        return json.loads((tmp_path / "config.json").read_text())  # type: ignore[no-any-return]
    return json.loads((DATA / "crun-spec.json").read_text())  # type: ignore[no-any-return]


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "my-config.json"
    path.write_text(json.dumps(doc))
    return path


def _every_field(tmp_path: Path) -> dict[str, Any]:
    doc = _crun_default(tmp_path)
    doc["process"].update({
        "terminal": False, "args": ["/probe", "caps", "nofile", "hostname", "devnull_write"],
        "env": ["PATH=/bin", "ONLY=this"], "cwd": "/work",
        "user": {"uid": 1000, "gid": 1000, "umask": 0o027, "additionalGids": [44]},
        "capabilities": {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
                         "ambient": ["CAP_NET_BIND_SERVICE"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 333, "hard": 444}],
        "noNewPrivileges": True, "oomScoreAdj": 500,
    })
    doc["hostname"] = "from-config"
    doc["root"] = {"path": "rootfs", "readonly": True}
    doc["mounts"].append({"destination": "/work", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "nodev", "mode=1777", "size=1m"]})
    doc["mounts"] = [m for m in doc["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    doc["linux"]["sysctl"] = {"kernel.msgmax": "4321", "net.ipv4.ip_forward": "1"}
    doc["linux"]["maskedPaths"] = ["/proc/kcore", "/proc/version"]
    doc["linux"]["readonlyPaths"] = ["/proc/sys"]
    doc["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}], "pids": {"limit": 50},
                                 "memory": {"limit": 128 << 20}}
    return doc


def test_every_supported_field_is_applied(tmp_path: Path, probe_images, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    image = probe_images(None)
    config = _write(tmp_path, _every_field(tmp_path))
    got = run_probe(image, "caps", extra_cli_args=("--oci-config", str(config)))
    caps = dict(item.split("=", 1) for item in got["caps"].removeprefix("ok").split())
    # CAP_KILL 5, CAP_NET_BIND_SERVICE 10, CAP_CHOWN 0; a non-root user kept them (keepcaps)
    assert int(caps["CapBnd"], 16) == 1 << 0 | 1 << 5 | 1 << 10
    # execve as a non-root user keeps only the ambient set in permitted and effective (capabilities(7)):
    # CAP_KILL, effective before exec, is gone after it, as under runc
    assert int(caps["CapEff"], 16) == int(caps["CapPrm"], 16) == 1 << 10 and int(caps["CapInh"], 16) == 1 << 10
    assert int(caps["CapAmb"], 16) == 1 << 10 and caps["NoNewPrivs"] == "1"
    code, out, err = run_main(capsys, "--no-cache", "run", "--oci-config", str(config), str(image), "--", "/bin/sh", "-c",
                              "id; pwd; env | sort; echo --; umask; hostname; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; "
                              "cat /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ip_forward; cat /proc/version 2>&1 | wc -c; "
                              "echo x > /x 2>&1 || echo root-ro; echo y > /work/y && echo work-rw; "
                              "echo 1 > /proc/sys/kernel/msgmax 2>/dev/null || echo sys-ro")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("uid=1000") and "gid=1000" in lines[0] and lines[0].endswith("groups=44")
    assert lines[1] == "/work"
    assert "ONLY=this" in lines and "PATH=/bin" in lines and not any(x.startswith("HOME=") for x in lines)
    tail = lines[lines.index("--") + 1:]
    assert tail[:7] == ["0027", "from-config", "333", "444", "500", "4321", "1"]
    assert tail[7] == "0"  # /proc/version masked: empty
    assert "root-ro" in tail and "work-rw" in tail and "sys-ro" in tail


def test_the_configs_own_seccomp_profile_replaces_dockers(tmp_path: Path, probe_images) -> None:  # type: ignore[no-untyped-def]
    doc = _every_field(tmp_path)
    doc["process"]["args"] = ["/probe"]
    doc["process"]["user"] = {"uid": 0, "gid": 0}
    doc["process"]["capabilities"] = {k: ["CAP_SYS_CHROOT"] for k in ("bounding", "effective", "permitted")}
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
    got = run_probe(probe_images(None), "chroot", "ptrace_traceme", extra_cli_args=("--oci-config", str(_write(tmp_path, doc))))
    assert got["chroot"].startswith("errno=38")  # the config's rule, not Docker's (which allows chroot)
    assert got["ptrace_traceme"] == "ok"


@pytest.mark.parametrize("change, named", [
    (lambda d: d["process"].update(terminal=True), "process.terminal"),
    (lambda d: d.update(hooks={"prestart": [{"path": "/bin/true"}]}), "hooks"),
    (lambda d: d["process"].update(apparmorProfile="docker-default"), "process.apparmorProfile"),
    (lambda d: d["linux"]["namespaces"].append({"type": "ipc", "path": "/proc/1/ns/ipc"}), "linux.namespaces"),
    (lambda d: d["linux"].update(sysctl={"kernel.panic": "1"}), "kernel.panic"),
    (lambda d: d["mounts"].append({"destination": "/n", "type": "nfs", "source": "h:/x"}), "nfs"),
    (lambda d: d.update(extension={"x": 1}), "extension"),
], ids=["terminal", "hooks", "apparmor", "namespace-path", "sysctl", "mount-type", "unknown-key"])
def test_an_unsupported_field_is_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any,
                                                 named: str, probe_images) -> None:  # type: ignore[no-untyped-def]
    doc = _every_field(tmp_path)
    change(doc)
    code, out, err = run_main(capsys, "--no-cache", "run", "--oci-config", str(_write(tmp_path, doc)), str(probe_images(None)))
    assert code == 2 and out == ""
    assert err.startswith("inspectr: error[usage]: ") and named in err and len(err.strip().splitlines()) == 1


def test_a_mount_destination_through_an_image_symlink_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 probe_images) -> None:  # type: ignore[no-untyped-def]
    doc = _every_field(tmp_path)
    # busybox images link /bin/sh to busybox: a destination under a symlink must not be followed
    doc["mounts"].append({"destination": "/bin/sh/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
    code, out, err = run_main(capsys, "--no-cache", "run", "--oci-config", str(_write(tmp_path, doc)), str(probe_images(None)))
    assert code == 2 and "bin/sh is a symlink in the image" in err


def test_crun_default_config_runs_once_it_asks_for_no_terminal(tmp_path: Path, probe_images,
                                                               capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    doc = _crun_default(tmp_path)
    doc["process"]["terminal"] = False
    code, out, err = run_main(capsys, "--no-cache", "run", "--oci-config", str(_write(tmp_path, doc)), str(probe_images(None)),
                              "--", "/bin/sh", "-c", "id -u; grep CapBnd /proc/self/status; mount | grep /sys/fs/cgroup")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "0" and int(lines[1].split()[1], 16) == 1 << 5 | 1 << 10 | 1 << 29  # KILL, NET_BIND_SERVICE, AUDIT_WRITE
    # a cgroup2 mount where the host has the unified hierarchy; on a cgroup v1 host an empty
    # read-only tmpfs, and the run says so
    assert ("cgroup2" in lines[2]) or ("tmpfs" in lines[2] and "cgroup v1" in err)


def test_a_config_with_a_user_namespace_runs_in_one(tmp_path: Path, probe_images, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    doc = _every_field(tmp_path)
    doc["process"]["user"] = {"uid": 0, "gid": 0}
    doc["linux"]["namespaces"].append({"type": "user"})
    doc["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    doc["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    doc["linux"].pop("sysctl")
    doc["process"].pop("oomScoreAdj")
    code, out, err = run_main(capsys, "--no-cache", "run", "--oci-config", str(_write(tmp_path, doc)), str(probe_images(None)),
                              "--", "/bin/sh", "-c", "cat /proc/self/uid_map")
    assert code == 0, err
    inside, host, size = out.split()
    assert inside == "0" and int(host) == 1 << 30 and int(size) >= 65536  # inspectr's own id range (a note says so)
