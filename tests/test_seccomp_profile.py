"""The runtime's seccomp profile (issue 14): Docker's default profile, checked as a table (no root)
and from inside a container with tests/probe/probe.c (root: CI runs these, with no skips)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from runtime_probe import errno_of, probe_binary, probe_image, probe_images, run_probe  # noqa: F401 (fixtures)
from inspectr.runtime import seccomp_filter as profile
from inspectr.runtime.spec import DOCKER_DEFAULT_CAPS

# Syscalls moby's default profile never allows outright to a container with Docker's default
# capabilities (its "significant syscalls blocked" and the capability-conditional groups).
DENIED_BY_MOBY = ("acct", "add_key", "bpf", "clock_settime", "clone3", "create_module",
                  "delete_module", "fanotify_init", "finit_module", "get_kernel_syms", "get_mempolicy", "init_module",
                  "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind",
                  "migrate_pages", "mount", "move_mount", "move_pages", "nfsservctl", "open_by_handle_at", "open_tree",
                  "perf_event_open", "personality", "pidfd_getfd", "pivot_root", "process_madvise", "query_module",
                  "quotactl", "reboot", "request_key", "set_mempolicy", "setdomainname", "sethostname", "setns",
                  "settimeofday", "socket", "stime", "swapoff", "swapon", "sysfs", "syslog", "_sysctl", "umount",
                  "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vhangup", "vm86", "vm86old")
COMMON = ("read", "write", "openat", "close", "mmap", "brk", "execve", "exit_group", "fork", "vfork", "wait4",
          "rt_sigaction", "futex", "getpid", "fstat", "newfstatat", "statx", "pipe2", "dup3", "getdents64", "ioctl",
          "prctl", "capset", "setresuid", "arch_prctl", "set_tid_address", "rseq", "prlimit64", "uname", "connect")


def _export(f: object) -> str:
    """libseccomp's pseudo filter code for `f`: what the kernel would run, as text."""
    with tempfile.TemporaryFile("w+") as fp:
        f.export_pfc(fp)  # type: ignore[attr-defined]
        fp.seek(0)
        return fp.read()


def _pfc(capabilities: tuple[int, ...], arch: str | None = None) -> str:
    return _export(profile.build_filter(profile.load_module(), capabilities, arch=arch))


def _block(pfc: str, name: str, arch: str = "x86_64") -> str:
    """The lines of one arch's section of `pfc` that filter syscall `name` ("" when none)."""
    section = pfc.split(f"# filter for arch {arch} ", 1)[1].split("# filter for arch ", 1)[0]
    marker = f'# filter for syscall "{name}" '
    if marker not in section:
        return ""
    block = section.split(marker, 1)[1].split("\n", 1)[1]  # past the marker's own line
    return block.split("# filter for syscall", 1)[0].split("# default action", 1)[0]


# --- the table (no root) -------------------------------------------------------------------------

def test_the_allow_list_holds_the_common_syscalls() -> None:
    allowed = profile.unconditionally_allowed()
    assert set(COMMON) <= allowed
    assert 340 <= len(profile.ALLOWED) == len(set(profile.ALLOWED))


def test_nothing_moby_denies_is_allowed_outright() -> None:
    allowed = profile.unconditionally_allowed(DOCKER_DEFAULT_CAPS) | profile.unconditionally_allowed(())
    assert not allowed & set(DENIED_BY_MOBY)
    assert "chroot" in profile.unconditionally_allowed(DOCKER_DEFAULT_CAPS)  # CAP_SYS_CHROOT is a default
    assert "chroot" not in profile.unconditionally_allowed(())


def test_each_conditional_group_needs_its_capability() -> None:
    needs = {}
    for rule in profile.RULES:
        for name in rule.names:
            for cap in rule.needs_caps:
                needs.setdefault(name, set()).add(cap)
    assert needs["chroot"] == {18} and needs["reboot"] == {22} and needs["acct"] == {20}
    assert needs["init_module"] == needs["finit_module"] == needs["delete_module"] == {16}
    assert needs["iopl"] == needs["ioperm"] == {17} and needs["vhangup"] == {26} and needs["syslog"] == {21, 34}
    assert needs["settimeofday"] == needs["clock_settime"] == needs["stime"] == {25}
    assert needs["kcmp"] == needs["process_madvise"] == needs["pidfd_getfd"] == {19}
    assert needs["mbind"] == needs["set_mempolicy"] == needs["get_mempolicy"] == {23}
    assert needs["bpf"] == {21, 39} and needs["perf_event_open"] == {21, 38}
    assert needs["open_by_handle_at"] == {2}
    for name in ("mount", "umount2", "unshare", "setns", "clone", "clone3", "sethostname", "open_tree", "fsopen"):
        assert needs[name] == {21}, name
    # Each rule holds one capability: one that is held allows exactly its group.
    assert all(len(rule.needs_caps) <= 1 for rule in profile.RULES)


def test_clone3_is_enosys_and_clone_is_masked_unless_cap_sys_admin() -> None:
    (clone3,) = [r for r in profile.RULES if r.names == ("clone3",)]
    assert clone3.errno == errno.ENOSYS and clone3.unless_caps == (21,)
    masked = [r for r in profile.RULES if r.names == ("clone",) and r.when]
    assert {r.when[0][0].index for r in masked} == {0, 1}  # s390 passes the flags second
    assert all(r.when[0][0].mask == 0x7E020000 and r.when[0][0].value == 0 and r.unless_caps == (21,) for r in masked)


def test_personality_allows_moby_s_personas_and_addr_no_randomize_only() -> None:
    assert set(profile.PERSONALITIES) == {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF, 0x40000, 0x40008}
    read_implies_exec, mmap_page_zero, per_bsd = 0x0400000, 0x0100000, 0x0000006
    assert not {read_implies_exec, mmap_page_zero, per_bsd} & set(profile.PERSONALITIES)


def test_the_filter_without_cap_sys_admin_masks_clone_and_stubs_clone3() -> None:
    pfc = _pfc(DOCKER_DEFAULT_CAPS)
    assert "action ERRNO(1);" in pfc.split("# default action", 1)[1].splitlines()[1]  # EPERM by default
    assert "& 0x7e020000 == 0" in _block(pfc, "clone")
    assert "action ERRNO(38);" in _block(pfc, "clone3")
    for name in ("mount", "unshare", "setns", "kexec_load", "bpf", "keyctl", "add_key", "open_by_handle_at",
                 "init_module", "userfaultfd", "perf_event_open"):
        assert _block(pfc, name) == "", name
    assert _block(pfc, "chroot").strip().endswith("action ALLOW;")
    assert "== 40" in _block(pfc, "socket")  # AF_VSOCK
    personality = _block(pfc, "personality")
    assert {int(v) for v in re.findall(r"a0\.lo32 == (\d+)", personality)} == set(profile.PERSONALITIES)
    if _block(pfc, "fchmodat2"):  # when this libseccomp knows it (Debian 12's does)
        assert "action ERRNO(38);" in _block(pfc, "fchmodat2")  # newer than the profile: ENOSYS, as under runc
    assert _block(pfc, "set_mempolicy_home_node") == ""  # a syscall the profile names stays EPERM
    for arch in ("x86", "x32"):
        assert f"# filter for arch {arch} " in pfc
        assert "action ERRNO(38);" in _block(pfc, "clone3", arch)


def test_the_filter_with_cap_sys_admin_allows_namespaces_and_clone3() -> None:
    pfc = _pfc((*DOCKER_DEFAULT_CAPS, 21))
    assert _block(pfc, "clone").split() == ["if", "($syscall", "==", "56)", "action", "ALLOW;"]
    assert "ERRNO" not in _block(pfc, "clone3") and "ALLOW" in _block(pfc, "clone3")
    for name in ("mount", "umount2", "unshare", "setns", "bpf", "perf_event_open", "syslog", "sethostname"):
        assert "action ALLOW;" in _block(pfc, name), name
    assert _block(pfc, "kexec_load") == "" and _block(pfc, "keyctl") == ""


def test_a_user_without_capabilities_gets_no_capability_groups() -> None:
    pfc = _pfc(())
    for name in ("chroot", "mount", "reboot", "kcmp", "mbind", "acct"):
        assert _block(pfc, name) == "", name
    assert "action ALLOW;" in _block(pfc, "ptrace")  # every container may ptrace its own (Linux >= 4.8)


def test_aarch64_covers_arm_and_has_no_x86_only_syscalls() -> None:
    pfc = _pfc(DOCKER_DEFAULT_CAPS, arch="aarch64")
    assert "# filter for arch aarch64 " in pfc and "# filter for arch arm " in pfc and "arch x86_64" not in pfc
    assert _block(pfc, "arch_prctl", "aarch64") == "" and _block(pfc, "modify_ldt", "aarch64") == ""
    assert "action ERRNO(38);" in _block(pfc, "clone3", "aarch64")


def test_build_filter_still_takes_only_the_module() -> None:
    # Until every caller passes the container's capabilities, Docker's default set stands in.
    assert _pfc(DOCKER_DEFAULT_CAPS) == _export(profile.build_filter(profile.load_module()))


def test_the_probe_builds_and_runs_on_the_host(probe_binary: Path) -> None:  # noqa: F811
    out = subprocess.run([str(probe_binary), "personality_query", "hostname", "nope"], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert out.returncode == 2 and lines[0].startswith("personality_query ok 0x") and lines[2] == "nope unknown-check"


# --- inside a container (root) ------------------------------------------------------------------

DENIED_CHECKS = ("kexec_load", "open_by_handle_at", "bpf", "keyctl", "add_key", "mount", "unshare_user", "clone_newns",
                 "perf_event_open")


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")
def test_root_under_the_default_profile(probe_image: Path) -> None:  # noqa: F811
    got = run_probe(probe_image, "ptrace_traceme", "personality_query", "personality_norandom", "chroot",
                    *DENIED_CHECKS, "clone3", "socket_vsock", "caps")
    assert got["ptrace_traceme"] == "ok"  # strace and gdb work, as under Docker
    assert got["personality_query"].startswith("ok 0x")
    assert got["personality_norandom"] == "ok"  # setarch -R
    assert got["chroot"] == "ok"  # CAP_SYS_CHROOT is in Docker's default set
    for check in DENIED_CHECKS:
        assert errno_of(got[check]) == errno.EPERM, (check, got[check])
    assert errno_of(got["clone3"]) == errno.ENOSYS  # so that glibc falls back to clone
    assert errno_of(got["socket_vsock"]) == errno.EPERM
    assert "NoNewPrivs=1" in got["caps"]


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")
def test_a_user_without_capabilities_cannot_chroot(probe_images) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    got = run_probe(probe_images("1000"), "chroot", "ptrace_traceme", "personality_norandom", "mount", "caps")
    assert errno_of(got["chroot"]) == errno.EPERM
    assert got["ptrace_traceme"] == "ok" and got["personality_norandom"] == "ok"
    assert errno_of(got["mount"]) == errno.EPERM
    assert "CapEff=0000000000000000" in got["caps"]
    assert got == run_probe(probe_images(None), "chroot", "ptrace_traceme", "personality_norandom", "mount", "caps",
                            extra_cli_args=("--user", "1000"))


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")
def test_fork_exec_pipes_and_threads_still_work(probe_image: Path) -> None:  # noqa: F811
    cmd = [sys.executable, "-c", "import sys; from inspectr.cli import main; main(sys.argv[1:])", "run",
           str(probe_image), "--", "/bin/sh", "-c",
           "echo a | cat; (echo sub) | cat; /probe hostname thread; grep Seccomp: /proc/self/status"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["a", "sub", "hostname ok inspectr", "thread ok",
                                      "Seccomp:\t2"], (done.stdout, done.stderr)
