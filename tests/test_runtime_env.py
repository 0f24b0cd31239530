"""The runtime's environment is Docker's, and a hostile container cannot make inspectr do
unbounded work on the host (issue 14). Needs root: CI runs these as root, with no skips."""

from __future__ import annotations

import glob
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clirun import run_main
from inspectr import open_image
from inspectr.runtime.run import RunOptions, WalkBudget, run_image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BUSYBOX = FIXTURES / "oci-busybox"  # USER app (1000)
pytestmark = [pytest.mark.needs_root, pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")]


def sh(script: str, **kw: object):  # type: ignore[no-untyped-def]
    return run_image(open_image(BUSYBOX), RunOptions(argv=("/bin/sh", "-c", script), **kw))  # type: ignore[arg-type]


def _leftovers(pid: int, cgroups: list[str]) -> tuple[list[str], list[str], list[str]]:
    """What the inspectr process `pid` has (or left) on the host: run dirs, mounts, cgroups."""
    dirs = glob.glob(f"/tmp/inspectr-run-{pid}-*")
    with open("/proc/self/mountinfo") as fp:
        mounts = [line.split()[4] for line in fp if f"inspectr-run-{pid}-" in line]
    return dirs, mounts, [c for c in cgroups if os.path.isdir(c)]


def _descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children of children too)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fp:
                    parents[int(entry)] = int(fp.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        cur = todo.pop()
        kids = [p for p, parent in parents.items() if parent == cur]
        found += kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return fp.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cgroups_of(pid: int) -> list[str]:
    """The cgroups a live run named in its lock file (container.py RunDir)."""
    for lock in glob.glob(f"/tmp/inspectr-run-{pid}-*.lock"):
        try:
            return Path(lock).read_text().split()
        except OSError:
            pass
    return []


def test_a_non_root_user_writes_dev_null_and_the_standard_nodes_are_0666() -> None:
    r = sh("id -u; echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; stat -c '%a %n' /dev/null /dev/zero "
           "/dev/full /dev/random /dev/urandom /dev/tty; ls -l /dev/ptmx; ls -d /dev/pts /dev/shm /dev/mqueue")
    out = r.stdout.decode()
    assert r.exit_code == 0, r.stderr
    assert out.startswith("1000\nnull-ok\n4\n")
    assert [line.split()[0] for line in out.splitlines()[3:9]] == ["666"] * 6
    assert "/dev/ptmx -> pts/ptmx" in out and "/dev/shm" in out and "/dev/mqueue" in out


def test_dev_shm_is_dockers_64_mib_and_writable_by_users() -> None:
    r = sh("df -k /dev/shm | tail -1; echo data > /dev/shm/x && cat /dev/shm/x; "
           "dd if=/dev/zero of=/dev/shm/big bs=1M count=80 2>&1")
    out = r.stdout.decode()
    assert out.split("\n")[0].split()[1] == "65536"  # 1K-blocks
    assert "data" in out and "No space left on device" in out


def test_rlimits_are_fixed_whatever_the_callers() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # a caller with a low limit
    try:
        r = sh("ulimit -n; ulimit -c; ulimit -s")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert r.stdout.decode().split() == ["1024", "0", "8192"], r.stderr
    r = run_image(open_image(BUSYBOX), RunOptions(argv=("/bin/sh", "-c", "ulimit -n"), ulimits=((7, 4096, 4096),)))
    assert r.stdout.decode().split() == ["4096"]


def test_hostname_is_configurable_and_etc_hostname_follows() -> None:
    r = sh("hostname; cat /etc/hostname; grep -c probe-host /etc/hosts; echo $HOSTNAME", hostname="probe-host")
    assert r.stdout.decode().split() == ["probe-host", "probe-host", "1", "probe-host"]
    assert sh("hostname").stdout.decode().strip() == "inspectr"


def test_a_read_only_root_refuses_writes_but_tmpfs_mounts_stay_writable() -> None:
    r = sh("sh -c 'echo x > /home/app/f' 2>&1; echo rc=$?; echo y > /dev/shm/y && echo shm-ok", read_only_root=True)
    out = r.stdout.decode()
    assert "Read-only file system" in out and "rc=1" in out and "shm-ok" in out


def test_the_hardening_defaults_are_one_flag_away(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--no-cache", "run", str(BUSYBOX), "--", "/bin/sh", "-c", "grep NoNewPrivs /proc/self/status")
    assert code == 0 and "NoNewPrivs:\t1" in out
    code, out, err = run_main(capsys, "--no-cache", "run", "--allow-new-privileges", str(BUSYBOX), "--", "/bin/sh", "-c",
                              "grep NoNewPrivs /proc/self/status")
    assert code == 0 and "NoNewPrivs:\t0" in out
    code, out, err = run_main(capsys, "--no-cache", "run", "--user", "0", "--cap-drop", "CAP_CHOWN", "--cap-add", "sys_ptrace",
                              str(BUSYBOX), "--", "/bin/sh", "-c", "grep CapEff /proc/self/status")
    assert code == 0 and int(out.split()[-1], 16) == 0xa80425fb & ~1 | 1 << 19
    code, out, err = run_main(capsys, "--no-cache", "run", "--cap-add", "CAP_NOPE", str(BUSYBOX))
    assert code == 2 and "CAP_NOPE" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_main(capsys, "--no-cache", "run", "--ulimit", "nofile=10:5", str(BUSYBOX))
    assert code == 2 and "soft limit" in err


def test_a_huge_sparse_file_and_many_files_are_walked_within_the_budget() -> None:
    # 1 TiB of holes and 100 000 empty files: the walk lists them all, hashes the sparse file
    # not at all ("not hashed: over limit"), and takes a bounded time on the host
    started = time.monotonic()
    r = sh("truncate -s 1099511627776 /tmp/huge; mkdir /tmp/m; cd /tmp/m; seq 1 100000 | xargs touch; echo done",
           timeout_s=120, user="0", disk_bytes=256 << 20)
    elapsed = time.monotonic() - started
    assert r.exit_code == 0 and b"done" in r.stdout, r.stderr
    huge = next(e for e in r.side_effects if e.path == "tmp/huge")
    assert huge.sha256 is None and huge.size == 1 << 40 and huge.note and huge.note.startswith("not hashed: over limit")
    assert sum(1 for e in r.side_effects if e.path.startswith("tmp/m/")) == 100_000
    assert r.walk_incomplete is None
    walk_part = elapsed - r.duration_s
    assert walk_part < WalkBudget().max_seconds + 5, walk_part


def test_the_walk_stops_at_its_entry_budget_and_says_so() -> None:
    r = run_image(open_image(BUSYBOX), RunOptions(argv=("/bin/sh", "-c", "mkdir /tmp/m; cd /tmp/m; seq 1 500 | xargs touch"),
                                                  user="0"), budget=WalkBudget(max_entries=100))
    assert r.walk_incomplete and "100 entries" in r.walk_incomplete and len(r.side_effects) < 100


def test_writing_past_the_disk_limit_is_a_distinct_report(capsys: pytest.CaptureFixture[str]) -> None:
    r = sh("dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; echo rc=$?", disk_bytes=16 << 20)
    assert r.disk_limit_hit and not r.oom_killed and b"No space left on device" in r.stdout
    code, out, err = run_main(capsys, "--no-cache", "run", "--disk", "16M", str(BUSYBOX), "--", "/bin/sh", "-c",
                              "dd if=/dev/zero of=/tmp/fill bs=1M count=64")
    assert code == 1 and "the disk limit (16 MiB, --disk) was reached" in err and "not an error of inspectr" in err
    assert "error[" not in err


def test_run_dirs_are_private_in_every_mode() -> None:
    for userns in (False, True):
        proc = subprocess.Popen([sys.executable, "-m", "inspectr", "--no-cache", "run", *(["--userns"] if userns else []),
                                 str(BUSYBOX), "--", "/bin/sh", "-c", "echo secret > /tmp/s; sleep 5"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            found: list[str] = []
            while not found and time.monotonic() < deadline:
                found = [d for d in glob.glob(f"/tmp/inspectr-run-{proc.pid}-*") if not d.endswith(".lock")]
                time.sleep(0.05)
            assert found
            mode = stat.S_IMODE(os.stat(found[0]).st_mode)
            assert mode == 0o700, (userns, oct(mode))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_sigterm_cleans_up_and_the_next_run_reaps_what_sigkill_left() -> None:
    killed: tuple[int, list[str]] = (0, [])
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen([sys.executable, "-m", "inspectr", "--no-cache", "run", "--disk", "8M", str(BUSYBOX),
                                 "--", "/bin/sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        cgroups: list[str] = []
        while not cgroups and time.monotonic() < deadline:  # named in the lock file once it runs
            cgroups = _cgroups_of(proc.pid)
            time.sleep(0.05)
        time.sleep(0.3)
        assert cgroups and all(_leftovers(proc.pid, cgroups))
        container = _descendants(proc.pid)  # the container's processes, sleep 60 among them
        assert container
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        if sig == signal.SIGTERM:
            assert proc.returncode == 143 and b"terminated" in err
            assert _leftovers(proc.pid, cgroups) == ([], [], [])
        else:
            assert all(_leftovers(proc.pid, cgroups))  # a SIGKILL leaves the run dir, its tmpfs and cgroups
            killed = (proc.pid, cgroups)
        # the container died with its parent (PR_SET_PDEATHSIG on SIGKILL): none of its
        # processes is left. Only this run's own processes are checked: other suites on the
        # machine may run `sleep 60` containers of their own.
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in container) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in container if _alive(p)], sig
    r = sh("true")
    assert any("removed what an earlier, killed run left" in n for n in r.notes)
    assert _leftovers(*killed) == ([], [], [])


def test_names_the_container_chose_are_escaped_in_run_diff(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--no-cache", "run", "--diff", str(BUSYBOX), "--", "/bin/sh", "-c",
                              "touch \"$(printf '/tmp/\\033[31mred\\007')\"")
    assert code == 0
    assert "\x1b" not in err and "\x07" not in err
    assert "tmp/\\x1b[31mred\\x07 (file)" in err


# --- what only a compiled probe can check (tests/probe/probe.c) ------------------------------------

from runtime_probe import probe_binary, probe_images, run_probe  # noqa: E402,F401 (fixtures)


def test_a_non_root_user_opens_a_pty_and_uses_posix_shm_and_message_queues(probe_images) -> None:  # type: ignore[no-untyped-def]
    image = probe_images("1000")
    got = run_probe(image, "devnull_write", "pty", "shm_open", "mqueue", "nofile", "caps")
    assert got["devnull_write"] == "ok" and got["pty"].startswith("ok") and got["shm_open"] == "ok"
    assert got["mqueue"] == "ok", got
    assert got["nofile"].startswith("ok") and "1024" in got["nofile"]


def test_mknod_works_as_under_docker_but_the_node_is_inert(probe_images) -> None:  # type: ignore[no-untyped-def]
    got = run_probe(probe_images(None), "mknod_null")
    # CAP_MKNOD is in Docker's set; the node lands on the nodev overlay (or the device cgroup
    # refuses it): never a working device node (docs/security.md)
    assert got["mknod_null"] != "ok"
