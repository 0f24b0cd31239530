"""SIGTERM (what CI sends on cancel) behaves like Ctrl-C (issue 20): the worker processes end, no
temporary file is left in the cache, and inspectr exits 143 within 2 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builders import TarBuilder, write_oci_layout


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fp:
                    fields = fp.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # Incompressible layers, 2 x 96 MiB per image: enough for the worker pool (over 16 MiB) and
    # for indexing to outlast the signal on a fast, idle machine (2 x 24 MiB sometimes finished
    # first, and the test then saw exit 1 or a signal during interpreter exit).
    root = tmp_path_factory.mktemp("pair")
    rng = [os.urandom(96 << 20) for _ in range(3)]
    a = write_oci_layout(root / "a", [TarBuilder().add_file("x", rng[0]).finish(), TarBuilder().add_file("y", rng[1]).finish()])
    b = write_oci_layout(root / "b", [TarBuilder().add_file("x", rng[0]).finish(), TarBuilder().add_file("y", rng[2]).finish()])
    return a.path, b.path


def test_sigterm_during_a_cold_diff_stops_the_workers_and_leaves_no_temporary_file(
        tmp_path: Path, big_pair: tuple[Path, Path]) -> None:
    cache = tmp_path / "cache"
    temp = tmp_path / "tmp"  # where the indexing passes keep files aside
    temp.mkdir()
    code = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "--cache-dir", str(cache), "diff", str(big_pair[0]),
                             str(big_pair[1])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TMPDIR=str(temp)))
    deadline = time.monotonic() + 30
    while not _children(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(proc.pid)
    assert workers, "the diff never started worker processes"
    time.sleep(0.1)  # into the layers
    assert proc.poll() is None, "the diff finished before it could be interrupted: make the layers bigger"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert proc.returncode == 143, (proc.returncode, err)
    assert took < 2.0, took
    assert "terminated" in err and "Traceback" not in err, err
    assert out == ""
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z", pid
    leftovers = [p for p in cache.rglob("*") if p.name.startswith(".tmp-")] if cache.exists() else []
    assert leftovers == []
    assert list(temp.iterdir()) == []


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 40 000 small files: an export that takes a few seconds of creating files, so the signal
    # lands mid-way on any machine.
    tar = TarBuilder()
    for d in range(200):
        tar.add_dir(f"d{d}")
        for f in range(200):
            tar.add_file(f"d{d}/f{f}", b"x" * 100)
    return write_oci_layout(tmp_path_factory.mktemp("many") / "img", [tar.finish()]).path


@pytest.mark.parametrize("existing", [False, True], ids=["new-target", "empty-target"])
def test_sigterm_during_export_leaves_no_partial_target(tmp_path: Path, many_files: Path, existing: bool) -> None:
    target = tmp_path / "out"
    if existing:
        target.mkdir()
    code = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "--no-cache", "export", str(many_files), str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if target.is_dir() and len(os.listdir(target)) >= 20:  # into the tree, files being written
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the export finished before it could be interrupted: make the image bigger"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, (proc.returncode, err)
    assert "terminated" in err and "Traceback" not in err, err
    if existing:
        assert target.is_dir() and os.listdir(target) == []  # the user's directory stays, empty
    else:
        assert not target.exists()


_MID_SEND = """
import os, signal, sys, time
from inspectr.session import LocalPool

def big(marker: str) -> bytes:
    if marker.endswith("-2"):
        time.sleep(60)  # keeps the map waiting, whatever the machine's speed
        return b""
    data = b"x" * (384 << 20)
    open(marker, "w").close()  # the result goes out now
    return data

def stop(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, stop)
try:
    LocalPool(2).map(big, [sys.argv[1], sys.argv[1] + "-2"], [1 << 30, 1 << 30])
except KeyboardInterrupt:
    sys.exit(143)
"""


def test_sigterm_while_a_worker_sends_its_result_does_not_hang_the_exit(tmp_path: Path) -> None:
    # A worker stopped mid-send left the pool's thread reading the rest of the message forever,
    # and interpreter exit waited for that thread (seen: 1 cold diff in 16 hung on SIGTERM).
    marker = tmp_path / "sending"
    proc = subprocess.Popen([sys.executable, "-c", _MID_SEND, str(marker)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert marker.exists(), proc.stderr.read() if proc.stderr else ""
    time.sleep(0.5)  # into the send here: 384 MiB took about 1.5 s to pickle, send and read
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=8)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the process did not exit after SIGTERM")
    assert proc.returncode == 143, proc.stderr.read() if proc.stderr else ""
