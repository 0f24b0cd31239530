"""The runtime's pure spec (inspectr/runtime/spec.py): what a run decides before anything starts.
No root, no namespaces, no I/O: these run as any user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builders import TarBuilder, apply_tars
from inspectr.errors import InvalidPasswdEntry, MalformedImage, UsageError
from inspectr.model import ImageConfig
from inspectr.runtime.cgroups import Limits as CgroupLimits
from inspectr.runtime.rootfs import USERNS_BASE, USERNS_SIZE, Rootfs
from inspectr.runtime.spec import DEFAULT_PATH, DOCKER_DEFAULT_CAPS, UPTIME_NS, RunOptions, RuntimeError_, build_spec

ROOTFS = Rootfs(Path("/nonexistent/inspectr-test"), ("../init/x/fs", "aaaa/fs"))  # never touched
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbroken:x:abc:1::/:/bin/sh\n"
GROUP = b"root:x:0:\napp:x:1000:\nwheel:x:10:app\nstaff:x:50:other,app\n"
TREE = apply_tars([TarBuilder().add_dir("bin").add_file("bin/busybox", b"\x7fELF", mode=0o755)
                   .add_symlink("bin/sh", "busybox").add_file("bin/notexec", b"x", mode=0o644)
                   .add_dir("usr/local/bin").add_file("usr/local/bin/tool", b"x", mode=0o755).finish()])


def config(**cfg: Any) -> ImageConfig:
    return ImageConfig.from_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                                  "config": cfg}, "config")


def spec(cfg: ImageConfig | None = None, passwd: bytes | None = PASSWD, group: bytes | None = GROUP, **options: Any):  # type: ignore[no-untyped-def]
    return build_spec(cfg or config(Cmd=["sh", "-c", "true"]), TREE, RunOptions(**options), ROOTFS, passwd, group)


def test_the_image_config_becomes_args_env_user_and_cwd() -> None:
    s = spec(config(Entrypoint=["sh", "-c"], Cmd=["id"], Env=["A=1"], User="app", WorkingDir="/srv"))
    assert s.args == ("/bin/sh", "-c", "id")  # argv[0] resolved in the image's PATH, through its symlink
    assert s.env == (f"PATH={DEFAULT_PATH}", "A=1", "HOSTNAME=inspectr", "HOME=/home/app")
    assert (s.uid, s.gid, s.additional_gids, s.cwd, s.hostname) == (1000, 1000, (10, 50), "/srv", "inspectr")
    assert s.capabilities.effective == () and s.capabilities.bounding == DOCKER_DEFAULT_CAPS
    assert s.no_new_privs and s.seccomp and s.umask == 0o022
    assert s.rootfs is ROOTFS and not s.read_only_root and s.upper_owner is None


def test_options_override_the_config() -> None:
    s = spec(config(Cmd=["nothere"], Env=["PATH=/bin", "HOME=/h"], User="app", WorkingDir="/srv"),
             argv=("tool", "x"), user="0", workdir="/tmp", env=("PATH=/usr/local/bin", "B=2"), timeout_s=3.0,
             memory_bytes=64 << 20, pids=5, cpu_seconds=0.5, max_output_bytes=10, seccomp=False)
    assert s.args == ("/usr/local/bin/tool", "x")  # the last PATH wins, as the shell would see it
    assert s.env == ("PATH=/bin", "HOME=/h", "HOSTNAME=inspectr", "PATH=/usr/local/bin", "B=2")
    assert (s.uid, s.gid, s.additional_gids, s.cwd) == (0, 0, (), "/tmp")
    assert s.cgroup == CgroupLimits(64 << 20, 5)
    assert (s.timeout_s, s.cpu_seconds, s.max_output_bytes, s.seccomp) == (3.0, 0.5, 10, False)


def test_root_keeps_dockers_default_capabilities() -> None:
    caps = spec(user="root").capabilities
    assert caps.effective == caps.permitted == caps.bounding == DOCKER_DEFAULT_CAPS and len(caps.effective) == 14
    assert caps.inheritable == caps.ambient == ()
    assert sum(1 << c for c in caps.effective) == 0xa80425fb  # CapEff that test_runtime sees inside
    dropped = spec(user="root", cap_drop=(27,), cap_add=(21,)).capabilities
    assert 27 not in dropped.effective and 21 in dropped.effective and 21 in dropped.bounding


def test_user_and_group_forms() -> None:
    assert (spec(user="app:wheel").gid, spec(user="app:77").gid) == (10, 77)
    assert (spec(user="4242").uid, spec(user="4242").gid, spec(user="4242").env[-1]) == (4242, 4242, "HOME=/")
    assert spec(user="0", passwd=None, group=None).additional_gids == ()  # an image without account files
    assert spec(config(Cmd=["sh"])).uid == 0  # no User: root


@pytest.mark.parametrize("options, error, message", [
    ({"user": "nobody"}, RuntimeError_, "user 'nobody' is not in the image's /etc/passwd"),
    ({"user": "app:nogroup"}, RuntimeError_, "group 'nogroup' is not in the image's /etc/group"),
    ({"user": "broken"}, InvalidPasswdEntry, "/etc/passwd line 3 (entry 'broken'): uid: 'abc' is not a decimal number"),
    ({"user": "4294967295"}, UsageError, "--user '4294967295': id 4294967295 out of range 0..4294967294"),
    ({"user": "0:4294967295"}, UsageError, "--user '0:4294967295': id 4294967295 out of range 0..4294967294"),
    ({"argv": ("notexec",)}, RuntimeError_, f"notexec: executable file not found in the image's PATH {DEFAULT_PATH}"),
    ({"argv": ("missing",)}, RuntimeError_, f"missing: executable file not found in the image's PATH {DEFAULT_PATH}"),
])
def test_what_cannot_run_is_refused_before_anything_starts(options: dict[str, Any], error: type[Exception],
                                                           message: str) -> None:
    with pytest.raises(error) as info:
        spec(**options)
    assert str(info.value) == message and type(info.value) is error


def test_an_image_without_a_command_or_with_a_bad_user_id_is_refused() -> None:
    with pytest.raises(RuntimeError_, match="no Entrypoint or Cmd"):
        spec(config())
    with pytest.raises(MalformedImage, match=r"^the image's User '99999999999': id 99999999999 out of range 0..4294967294$"):
        spec(config(Cmd=["sh"], User="99999999999"))


def test_the_behave_recipe_adds_a_time_namespace_fixed_uptime_no_aslr_and_one_cpu() -> None:
    plain, recipe = spec(), spec(deterministic=True)
    assert plain.namespaces == frozenset({"pid", "mount", "uts", "ipc", "net", "cgroup"})
    assert recipe.namespaces == plain.namespaces | {"time"}
    assert (plain.uptime_ns, plain.disable_aslr, plain.pin_cpu) == (None, False, False)
    assert (recipe.uptime_ns, recipe.disable_aslr, recipe.pin_cpu) == (UPTIME_NS, True, True)


def test_a_user_namespace_shifts_ids_and_owns_the_upper_dir() -> None:
    s = spec(userns=True)
    assert "user" in s.namespaces and (s.id_shift, s.id_count) == (USERNS_BASE, USERNS_SIZE)
    assert s.upper_owner == (TREE.root.inode.uid + USERNS_BASE, TREE.root.inode.gid + USERNS_BASE)
    assert (spec().id_shift, spec().id_count) == (0, 0)


def test_kernel_views_are_masked_and_read_only_and_dev_is_minimal() -> None:
    s = spec()
    # Docker's mounts, in its order; /dev is nodev here, its nodes the host's, bound in
    assert [(m.target, m.fstype) for m in s.mounts] == [("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                                                        ("/sys", "sysfs"), ("/dev/mqueue", "mqueue"), ("/dev/shm", "tmpfs")]
    assert "ro" in s.mounts[3].options and "ro" not in s.mounts[0].options and "nodev" in s.mounts[1].options
    assert "size=65536k" in s.mounts[5].options and "mode=1777" in s.mounts[5].options  # Docker's 64 MiB /dev/shm
    assert {"/proc/kcore", "/proc/keys", "/proc/acpi", "/proc/scsi", "/sys/firmware"} <= set(s.masked_paths)
    assert {"/proc/sys", "/proc/sysrq-trigger", "/proc/bus"} <= set(s.read_only_paths)
    assert [d.path for d in s.devices] == ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
    assert dict(s.dev_links)["/dev/fd"] == "/proc/self/fd" and dict(s.dev_links)["/dev/ptmx"] == "pts/ptmx"
    assert dict((w, (soft, hard)) for w, soft, hard in s.rlimits)[7] == (1024, 524288)  # RLIMIT_NOFILE, fixed


def test_the_spec_is_an_immutable_value() -> None:
    a, b = spec(), spec()
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.uid = 5  # type: ignore[misc]
