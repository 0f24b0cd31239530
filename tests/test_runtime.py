"""inspectr's own namespace runtime (needs root: CI runs these as root, with no skips)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builders import TarBuilder, write_oci_layout
from inspectr import open_image
from inspectr.runtime.run import RunOptions, run_image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
pytestmark = [pytest.mark.needs_root, pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")]


def sh(script: str, image: str = "oci-busybox", **kw: object):  # type: ignore[no-untyped-def]
    return run_image(open_image(FIXTURES / image), RunOptions(argv=("/bin/sh", "-c", script), **kw))  # type: ignore[arg-type]


def test_the_image_config_is_applied() -> None:
    r = sh("id -u; id -g; pwd; echo $FIXTURE; hostname")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.decode().split() == ["1000", "1000", "/home/app", "oci-busybox", "inspectr"]


def test_default_command_runs() -> None:
    r = run_image(open_image(FIXTURES / "oci-busybox"))
    assert r.exit_code == 0 and r.stdout == b"hello from the inspectr busybox fixture\n"


def test_exit_codes_and_signals_pass_through() -> None:
    assert sh("exit 42").exit_code == 42
    # The command is PID 1 of its namespace (as in docker without --init), so only a signal from
    # outside can end it: the runtime's own SIGKILL, reported as signal 9.
    r = sh("sleep 30", timeout_s=0.3)
    assert (r.exit_code, r.signal, r.timed_out) == (None, 9, True)


def test_timeout_kills_the_namespace_and_is_reported() -> None:
    r = sh("sleep 60 & sleep 60", timeout_s=0.5)
    assert r.timed_out and r.signal == 9 and r.duration_s < 5


def test_side_effects_are_recorded_exactly_including_deletions() -> None:
    r = sh("echo x > /tmp/new; echo more >> /home/app/.profile; rm /etc/motd 2>/dev/null; rm /home/app/.profile; mkdir /tmp/d",
           user="0")
    got = {(e.path, e.change) for e in r.side_effects}
    assert ("tmp/new", "added") in got and ("home/app/.profile", "deleted") in got and ("tmp/d", "added") in got
    assert not any(e.path in ("proc", "dev", "etc/hostname") for e in r.side_effects)


def test_a_recreated_directory_is_an_opaque_side_effect(tmp_path: Path) -> None:
    r = sh("rm -rf /home/app && mkdir /home/app && echo n > /home/app/new", user="0")
    changes = {(e.path, e.change) for e in r.side_effects}
    assert ("home/app", "opaque") in changes and ("home/app/new", "added") in changes


def test_root_keeps_only_the_default_capabilities_and_users_none() -> None:
    root = sh("grep -E 'Cap|NoNewPrivs' /proc/self/status", user="0").stdout.decode()
    assert "CapEff:\t00000000a80425fb" in root and "NoNewPrivs:\t1" in root  # Docker's 14
    assert "CapInh:\t0000000000000000" in root and "CapAmb:\t0000000000000000" in root  # as moby since CVE-2022-24769
    user = sh("grep -E 'CapEff|CapBnd' /proc/self/status").stdout.decode()
    # as under Docker: no capability, but Docker's set still bounds what a setuid binary could gain
    assert "CapEff:\t0000000000000000" in user and "CapBnd:\t00000000a80425fb" in user


def test_host_devices_are_out_of_reach() -> None:
    # CAP_MKNOD is Docker's, but the device cgroup refuses the node, and where it cannot (cgroup v2)
    # a node made on the nodev overlay or /dev is inert
    r = sh("mknod /tmp/sda b 8 0; mknod /dev/sda b 8 0; ls /dev; head -c 1 /tmp/sda && echo read-tmp; "
           "head -c 1 /dev/sda && echo read-dev", user="0")
    assert b"read-tmp" not in r.stdout and b"read-dev" not in r.stdout


def test_proc_1_is_the_container_not_the_host() -> None:
    r = sh("readlink /proc/1/root; ls /proc/1/root/home; ls /proc | grep -c '^[0-9]'", user="0")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "/" and lines[1] == "app"
    assert int(lines[2]) <= 3  # only the container's own processes are visible


def test_network_is_loopback_only() -> None:
    r = sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", user="0")
    assert r.stdout.decode().split() == ["lo"]


def _busybox() -> bytes:
    from click.testing import CliRunner

    from inspectr.cli import cli

    return CliRunner().invoke(cli, ["cat", str(FIXTURES / "oci-busybox"), "bin/busybox"]).stdout_bytes


def test_a_setuid_binary_gains_nothing_under_no_new_privs(tmp_path: Path) -> None:
    layer = (TarBuilder().add_dir("bin").add_file("bin/busybox", _busybox(), mode=0o4755).add_symlink("bin/sh", "busybox")
             .add_symlink("bin/id", "busybox").add_dir("etc")
             .add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
             .add_file("etc/group", "root:x:0:\napp:x:1000:\n").finish())
    image = open_image(write_oci_layout(tmp_path / "img", [layer]).path)
    r = run_image(image, RunOptions(argv=("/bin/id", "-u"), user="app"))
    assert r.exit_code == 0 and r.stdout == b"1000\n", r.stderr  # setuid-root bit ignored


def test_an_image_symlink_cannot_redirect_a_mount_target(tmp_path: Path) -> None:
    # The image's /proc and /dev are symlinks to host paths: the mounts land on the init
    # layer's own directories, never through the image's links.
    layer = (TarBuilder().add_dir("bin").add_file("bin/busybox", _busybox(), mode=0o755).add_symlink("bin/sh", "busybox")
             .add_symlink("bin/ls", "busybox").add_symlink("proc", "/etc").add_symlink("dev", "../../../etc").finish())
    written = write_oci_layout(tmp_path / "img", [layer])
    r = run_image(open_image(written.path), RunOptions(argv=("/bin/sh", "-c", "ls /proc/self/fd >/dev/null && echo proc-ok;"
                                                                              " ls /dev/null && echo dev-ok; ls /dev")))
    assert b"proc-ok" in r.stdout and b"dev-ok" in r.stdout, r.stderr
    assert b"passwd" not in r.stdout  # /dev is not the host's /etc
    assert Path("/etc/passwd").is_file()


def test_timeout_oom_and_pids_limit_are_reported_distinctly() -> None:
    oom = sh("x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo done", user="0", memory_bytes=32 << 20)
    assert oom.oom_killed and not oom.timed_out and not oom.pids_limit_hit and b"done" not in oom.stdout
    pids = sh("for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1 & done; wait", user="0", pids=5)
    assert pids.pids_limit_hit and not pids.oom_killed and not pids.timed_out and b"can't fork" in pids.stderr
    slow = sh("sleep 30", timeout_s=0.3)
    assert slow.timed_out and not slow.oom_killed and not slow.pids_limit_hit and not slow.cpu_limit_hit
    busy = sh("while :; do :; done", cpu_seconds=0.2, timeout_s=20)
    assert busy.cpu_limit_hit and not busy.timed_out and busy.signal == 9 and busy.duration_s < 10


def test_the_device_cgroup_blocks_host_devices_even_for_root() -> None:
    r = sh("mknod /tmp/x c 1 1; echo $?; head -c 1 /dev/zero | od -An -tx1", user="0")
    assert r.stdout.split()[0] == b"1" and r.stdout.split()[1] == b"00"  # no node made; /dev/zero still works


def test_seccomp_denies_namespace_and_mount_syscalls_even_to_root() -> None:
    r = sh("unshare -m true 2>&1; echo rc=$?; mount -t tmpfs none /tmp 2>&1; echo rc=$?; grep Seccomp: /proc/self/status",
           user="0")
    out = r.stdout.decode()
    assert "rc=0" not in out and "Seccomp:\t2" in out


def test_no_fd_leaks_into_the_probe_and_proc_self_exe_is_the_images() -> None:
    r = sh("ls /proc/self/fd; readlink /proc/1/exe", user="0")
    lines = r.stdout.decode().split()
    assert sorted(lines[:-1], key=int) == ["0", "1", "2", "3"]  # 3 is ls's own directory handle
    assert lines[-1] == "/bin/busybox"  # never inspectr's interpreter (CVE-2019-5736)


def test_unpacking_a_layer_never_writes_through_its_links_to_the_host(tmp_path: Path) -> None:
    canary = tmp_path / "host" / "canary"
    canary.parent.mkdir()
    canary.write_text("untouched")
    layer1 = TarBuilder().add_dir("bin").add_file("bin/busybox", _busybox(), mode=0o755).add_symlink("bin/sh", "busybox") \
        .add_symlink("escape", str(canary.parent)).finish()
    layer2 = TarBuilder().add_file("escape/canary", "overwritten").add_file("escape/new", "planted").finish()
    image = open_image(write_oci_layout(tmp_path / "img", [layer1, layer2]).path)
    r = run_image(image, RunOptions(argv=("/bin/sh", "-c", "cat /escape/canary")))
    assert r.stdout == b"overwritten"  # in-root: the absolute link resolved inside the image
    assert canary.read_text() == "untouched" and not (canary.parent / "new").exists()


def test_the_determinism_recipe_fixes_uptime_and_address_layout() -> None:
    runs = [sh("cut -d' ' -f1 /proc/uptime; head -c 8 /proc/self/maps; grep Cpus_allowed_list /proc/self/status",
               deterministic=True).stdout for _ in range(2)]
    uptimes = [float(r.split(b"\n", 1)[0]) for r in runs]
    # A time namespace starts every probe at 1000 s; /proc/uptime then counts in 10 ms steps,
    # so two runs may differ by the time the probe took to get there.
    assert all(1000.0 <= u < 1001.0 for u in uptimes), uptimes
    assert runs[0].split(b"\n", 1)[1] == runs[1].split(b"\n", 1)[1]  # same address layout, same CPU
    assert b"Cpus_allowed_list:\t" in runs[0] and b"," not in runs[0].split(b"\t")[-1]


def _tricky_layers() -> list[bytes]:
    """Every union rule that changes what a lower layer shows: whiteouts, an opaque dir, a dir
    replaced by a file and a file by a dir, a dir deleted and re-made in one layer, a hard link
    to a lower file, an implied parent, a chmod of a lower file by a new entry."""
    base = (TarBuilder().add_dir("bin").add_file("bin/busybox", _busybox(), mode=0o755).add_symlink("bin/sh", "busybox")
            .add_symlink("bin/find", "busybox").add_symlink("bin/stat", "busybox")
            .add_dir("keep").add_file("keep/a", "a").add_file("keep/b", "b")
            .add_dir("opq").add_file("opq/old", "old").add_dir("opq/sub").add_file("opq/sub/deep", "deep")
            .add_dir("d2f").add_file("d2f/x", "x").add_file("f2d", "file")
            .add_dir("remade", mode=0o700).add_file("remade/gone", "gone")
            .add_file("target", "shared bytes").add_file("mode", "m", mode=0o600).finish())
    mid = (TarBuilder().add_whiteout("keep/a").add_opaque("opq").add_file("opq/new", "new")
           .add_whiteout("d2f").add_file("d2f", "now a file").add_whiteout("f2d").add_dir("f2d").add_file("f2d/in", "in")
           .add_whiteout("remade").add_dir("remade", mode=0o755).add_file("remade/fresh", "fresh")
           .add_hardlink("link", "target").add_file("implied/parent/file", "p").finish())
    top = TarBuilder().add_file("mode", "m", mode=0o640).add_whiteout("opq/new").add_file("keep/c", "c").finish()
    return [base, mid, top]


def _listing(r) -> set[str]:  # type: ignore[no-untyped-def]
    out = set()
    for line in r.stdout.decode().splitlines():
        path = line.split(" ", 1)[0]
        if path.split("/")[1:2] in (["proc"], ["dev"], ["sys"]) or path in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc"):
            continue
        out.add(line)
    return out


def test_per_layer_overlay_dirs_show_exactly_the_union_tree(tmp_path: Path) -> None:
    image = open_image(write_oci_layout(tmp_path / "img", _tricky_layers()).path)
    r = run_image(image, RunOptions(argv=("/bin/find", "/", "-xdev", "-exec", "/bin/stat", "-c", "%n %f %u %g %s", "{}", "+")))
    assert r.exit_code == 0, r.stderr
    from inspectr.fs.build import build_tree

    want = {f"/{n.path} {n.inode.mode | {'file': 0o100000, 'dir': 0o040000, 'symlink': 0o120000}[n.kind.value]:x} "
            f"{n.uid} {n.gid} {n.size if n.kind.value == 'file' else ''}".rstrip()
            for n in build_tree(image).walk()}
    got = {line if not line.split()[1].startswith("4") else " ".join(line.split()[:4]) for line in _listing(r)}
    got = {line if line.split()[1].startswith("8") else " ".join(line.split()[:4]) for line in got}
    want = {line if line.split()[1].startswith("8") else " ".join(line.split()[:4]) for line in want}
    assert got - {"/ 41ed 0 0"} == want
    assert {"/link 81a4 0 0 12", "/d2f 81a4 0 0 10", "/f2d 41ed 0 0", "/implied/parent/file 81a4 0 0 1",
            "/mode 81a0 0 0 1", "/remade 41ed 0 0"} <= got
    assert not any(line.startswith(("/keep/a ", "/opq/old", "/opq/sub", "/opq/new", "/d2f/", "/remade/gone")) for line in got)
    contents = run_image(image, RunOptions(argv=("/bin/sh", "-c", "cat /link /d2f /f2d/in /remade/fresh; echo; ls -a /opq /remade /keep")))
    assert contents.stdout == b"shared bytesnow a fileinfresh\n/keep:\n.\n..\nb\nc\n\n/opq:\n.\n..\n\n/remade:\n.\n..\nfresh\n", contents.stdout


def test_layers_are_unpacked_once_per_chain_and_shared_between_images(tmp_path: Path) -> None:
    from inspectr.fs.cache import default_cache_dir

    layers = _tricky_layers()
    a = open_image(write_oci_layout(tmp_path / "a", layers).path)
    b = open_image(write_oci_layout(tmp_path / "b", layers[:2] + [TarBuilder().add_file("other", "o").finish()]).path)
    store = default_cache_dir() / "rootfs" / "layers"
    assert run_image(a, RunOptions(argv=("/bin/sh", "-c", "cat /keep/c"))).stdout == b"c"
    first = {p.name: p.stat().st_mtime_ns for p in store.iterdir() if not p.name.startswith(".")}
    assert len(first) == 3
    assert run_image(b, RunOptions(argv=("/bin/sh", "-c", "cat /other; ls /keep"))).stdout == b"ob\n"  # b's own top: no keep/c
    second = {p.name: p.stat().st_mtime_ns for p in store.iterdir() if not p.name.startswith(".")}
    assert len(second) == 4 and all(second[k] == v for k, v in first.items())  # the base two reused, untouched
    from click.testing import CliRunner

    from inspectr.cli import cli

    listed = CliRunner().invoke(cli, ["cache", "ls"])
    assert listed.exit_code == 0 and sum(line.split()[-1].startswith("layers/") for line in listed.stdout.splitlines()) == 4
    assert " 6 unpacked run layers" in listed.stderr  # 4 chain dirs + one init dir per image
    assert CliRunner().invoke(cli, ["cache", "prune"]).exit_code == 0
    assert not [p for p in store.iterdir() if not p.name.startswith(".")]


def test_userns_makes_the_images_root_an_unprivileged_host_uid() -> None:
    from inspectr.runtime.rootfs import USERNS_BASE, USERNS_SIZE

    script = ("cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c '%u %g %a' /home/app /etc/passwd;"
              " echo x > /tmp/new; mkdir /tmp/d; chown 1000:1000 /tmp/new; rm /home/app/.profile;"
              " mknod /tmp/disk b 8 0 2>/dev/null || echo mknod-refused;"
              " echo 1 > /proc/sys/kernel/sysrq 2>/dev/null || echo sysctl-refused")
    r = sh(script, user="0", userns=True)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert [line.split() for line in lines[:2]] == [["0", str(USERNS_BASE), str(USERNS_SIZE)]] * 2
    assert lines[2:] == ["0", "1000 1000 750", "0 0 644", "mknod-refused", "sysctl-refused"]
    effects = {(e.path, e.change): (e.uid, e.gid) for e in r.side_effects}
    # ids are reported as the image sees them, not as the shifted host ids the upper dir holds
    assert effects == {("tmp/new", "added"): (1000, 1000), ("tmp/d", "added"): (0, 0), ("home/app/.profile", "deleted"): (None, None)}
    # the same probe without a user namespace leaves the same side effects
    plain = sh(script.split("mknod")[0], user="0")
    assert {(e.path, e.change, e.uid, e.gid) for e in plain.side_effects} == \
        {(p, c, u, g) for (p, c), (u, g) in effects.items()}
    assert sh("id -u; pwd", userns=True).stdout == b"1000\n/home/app\n"  # the image's User and WorkingDir


def test_userns_runs_behave_probes_like_the_host_namespaces() -> None:
    from inspectr.runtime.behave import Probe, behave

    image = open_image(FIXTURES / "oci-busybox")
    probes = [Probe("p", ("/bin/sh", "-c", "id; ls -ln /home; echo hi > /tmp/x"))]
    a = behave(image, image, probes, repeat=1, userns=True)
    b = behave(image, image, probes, repeat=1)
    assert a.same and b.same
    assert a.outcomes[0].verdict == b.outcomes[0].verdict == "same"


def _host_uptime() -> float:
    """The host's /proc/uptime in seconds (centisecond resolution, as the kernel prints it)."""
    return float(Path("/proc/uptime").read_text().split()[0])


def test_inspectr_forks_pid_1_itself_and_puts_its_own_namespaces_for_children_back() -> None:
    def for_children() -> tuple[str, str]:
        return os.readlink("/proc/self/ns/pid_for_children"), os.readlink("/proc/self/ns/time_for_children")

    before = for_children()
    for deterministic in (False, True):
        host_before = _host_uptime()
        r = sh("echo $$; cut -d' ' -f1 /proc/uptime", deterministic=deterministic)
        host_after = _host_uptime()
        pid, uptime = r.stdout.decode().split()
        assert pid == "1"
        if deterministic:  # the recipe's time namespace starts the clock at 1000 s
            assert 1000 <= float(uptime) < 1001, uptime
        else:  # no time namespace: the host's uptime, whatever it is (a host booted a minute ago too)
            assert host_before - 0.05 <= float(uptime) <= host_after + 0.05, (host_before, uptime, host_after)
        assert for_children() == before  # later forks (layer workers) land in inspectr's own namespaces
    assert sh("exit 7", deterministic=True).exit_code == 7
    assert for_children() == before


def test_a_threaded_inspectr_still_runs_the_recipe_and_keeps_its_namespaces() -> None:
    """setns back into a time namespace needs a single-threaded process: with a thread running,
    the recipe goes through the intermediate process instead."""
    import threading

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    try:
        before = os.readlink("/proc/self/ns/pid_for_children"), os.readlink("/proc/self/ns/time_for_children")
        r = sh("echo $$; cut -d' ' -f1 /proc/uptime", deterministic=True)
        pid, uptime = r.stdout.decode().split()
        assert pid == "1" and 1000 <= float(uptime) < 1001
        host_before = _host_uptime()
        plain = sh("cut -d' ' -f1 /proc/uptime")
        host_after = _host_uptime()
        # the host's uptime, not the probe's 1000 s (true however long ago the host booted)
        assert host_before - 0.05 <= float(plain.stdout) <= host_after + 0.05, (host_before, plain.stdout, host_after)
        assert (os.readlink("/proc/self/ns/pid_for_children"), os.readlink("/proc/self/ns/time_for_children")) == before
    finally:
        stop.set()
        worker.join()


@pytest.mark.parametrize("userns", [False, True])
def test_proc_sys_and_sysfs_are_read_only_and_sysfs_shows_only_loopback(userns: bool) -> None:
    r = sh("echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/net/ipv4/ip_forward; touch /sys/x;"
           " ls /sys/class/net; ls -A /sys/firmware | wc -l; grep -c ' /proc/sys proc ro,' /proc/mounts",
           user="0", userns=userns)
    assert r.stdout == b"lo\n0\n1\n", (r.stdout, r.stderr)
    assert r.stderr.count(b"Read-only file system") == 3, r.stderr


def _accounts_image(tmp_path: Path, passwd: str, group: str = "root:x:0:\napp:x:1000:\n") -> Path:
    layer = (TarBuilder().add_dir("bin").add_file("bin/busybox", _busybox(), mode=0o755).add_symlink("bin/sh", "busybox")
             .add_symlink("bin/id", "busybox").add_dir("etc").add_file("etc/passwd", passwd).add_file("etc/group", group)
             .finish())
    return write_oci_layout(tmp_path / "img", [layer]).path


def test_a_malformed_passwd_entry_is_a_typed_error_and_other_users_still_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (issue 13): a non-numeric uid ended in error[internal]: ValueError. runc reads it
    # as uid 0, i.e. root; inspectr refuses the entry, naming the file, line and field.
    from clirun import run_main

    from inspectr.errors import InspectrError

    path = _accounts_image(tmp_path, "root:x:0:0::/root:/bin/sh\nbroken:x:abc:1000::/:/bin/sh\n"
                                     "app:x:1000:1000::/home/app:/bin/sh\nbadgid:x:1001:\x1b[31m::/:/bin/sh\n",
                          "root:x:0:\napp:x:1000:\nbad:x:zz:other\nstaff:x:50:other,app\n")
    image = open_image(path)
    with pytest.raises(InspectrError) as info:
        run_image(image, RunOptions(argv=("/bin/id",), user="broken"))
    assert info.value.error_class == "invalid-passwd-entry"
    assert str(info.value) == "/etc/passwd line 2 (entry 'broken'): uid: 'abc' is not a decimal number"
    with pytest.raises(InspectrError, match=r"^/etc/passwd line 4 \(entry 'badgid'\): gid: '\\x1b\[31m' is not"):
        run_image(image, RunOptions(argv=("/bin/id",), user="1001"))  # found by uid; the ESC stays escaped
    ok = run_image(image, RunOptions(argv=("/bin/id",), user="app"))
    assert ok.exit_code == 0 and ok.stdout == b"uid=1000(app) gid=1000(app) groups=50(staff)\n", ok.stderr
    code, out, err = run_main(capsys, "run", "--user", "broken", str(path), "--", "/bin/id")
    assert (code, out) == (2, "")
    assert err.startswith("inspectr: error[invalid-passwd-entry]: /etc/passwd line 2 (entry 'broken'): uid:"), err


def test_an_id_that_setresuid_reads_as_unchanged_never_runs_as_root(tmp_path: Path) -> None:
    # (uid_t)-1 = 4294967295 tells setresuid to leave the uid alone: it ran the probe as uid 0.
    from inspectr.errors import InspectrError

    image = open_image(_accounts_image(tmp_path, "root:x:0:0::/root:/bin/sh\nmax:x:4294967295:0::/:/bin/sh\n"))
    for user in ("4294967295", "0:4294967295"):
        with pytest.raises(InspectrError, match="out of range") as info:
            run_image(image, RunOptions(argv=("/bin/id",), user=user))
        assert info.value.error_class == "usage"
    with pytest.raises(InspectrError, match="line 2 .*out of range") as entry:
        run_image(image, RunOptions(argv=("/bin/id",), user="max"))
    assert entry.value.error_class == "invalid-passwd-entry"
