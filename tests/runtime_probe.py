"""The runtime probe (tests/probe/probe.c) in an image, and a helper that runs it through
`inspectr run`.

The probe is compiled once per session with `gcc -static -O2` (CI installs gcc and libc6-dev:
a missing compiler fails the tests, it never skips them). The image is an OCI layout written with
tests/builders.py: /probe, a static busybox (/bin/busybox from busybox-static, or the oci-busybox
fixture's when that is missing) with /bin/sh and a few applets, /etc/passwd and /etc/group
(root and app, uid 1000) and a world-writable /tmp. Its config names no User, so it runs as root;
`probe_images(user)` gives the same image with a User.

    from runtime_probe import probe_image, probe_images, run_probe  # the fixtures, and the helper

    def test_x(probe_image):
        got = run_probe(probe_image, "chroot", "mount")
        assert got["chroot"] == "ok" and errno_of(got["mount"]) == errno.EPERM
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from builders import TarBuilder, write_oci_layout

__all__ = ["PROBE_SOURCE", "BUSYBOX_APPLETS", "build_probe", "write_probe_image", "probe_binary", "probe_image",
           "probe_images", "run_probe", "errno_of"]

PROBE_SOURCE = Path(__file__).resolve().parent / "probe" / "probe.c"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BUSYBOX_APPLETS = ("sh", "cat", "echo", "id", "ls", "true", "false", "grep", "sleep", "env")
_LINE = re.compile(r"^(\S+) (.*)$")


def build_probe(directory: Path) -> Path:
    """Compile tests/probe/probe.c into `directory`/probe (static). Raises RuntimeError with
    gcc's output when it fails (no gcc, no libc6-dev)."""
    out = directory / "probe"
    cmd = ["gcc", "-static", "-O2", "-Wall", "-pthread", "-o", str(out), str(PROBE_SOURCE), "-lrt"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise RuntimeError("the runtime probe needs gcc and libc6-dev (apt-get install gcc libc6-dev)") from None
    if done.returncode != 0:
        raise RuntimeError(f"cannot compile {PROBE_SOURCE}: {' '.join(cmd)}\n{done.stderr}")
    return out


def _busybox() -> bytes:
    host = Path("/bin/busybox")  # busybox-static: one static binary
    if host.is_file():
        return host.read_bytes()
    from click.testing import CliRunner

    from inspectr.cli import cli

    return CliRunner().invoke(cli, ["cat", str(FIXTURES / "oci-busybox"), "bin/busybox"]).stdout_bytes


def _set_user(layout: Path, user: str) -> None:
    """Rewrite the layout's config with `User` set, and the manifest and index that point at it."""
    blobs = layout / "blobs" / "sha256"

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    manifest = json.loads((blobs / entry["digest"].split(":", 1)[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    config["config"]["User"] = user
    config_bytes = json.dumps(config, sort_keys=True, indent=1).encode() + b"\n"
    manifest["config"].update(digest=put(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest, indent=1).encode() + b"\n"
    entry.update(digest=put(manifest_bytes), size=len(manifest_bytes))
    (layout / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def write_probe_image(directory: Path, probe: Path, *, user: str | None = None) -> Path:
    """An OCI layout at `directory` holding `probe` as /probe plus busybox; its config's User is
    `user` (None: no User, i.e. root). Returns the layout's path."""
    layer = (TarBuilder().add_file("probe", probe.read_bytes(), mode=0o755)
             .add_dir("bin").add_file("bin/busybox", _busybox(), mode=0o755))
    for applet in BUSYBOX_APPLETS:
        layer = layer.add_symlink(f"bin/{applet}", "busybox")
    layer = (layer.add_dir("etc")
             .add_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
             .add_file("etc/group", "root:x:0:\napp:x:1000:\n")
             .add_dir("root", mode=0o700).add_dir("home").add_dir("home/app", uid=1000, gid=1000)
             .add_dir("tmp", mode=0o1777))
    path = write_oci_layout(directory, [layer.finish()]).path
    if user is not None:
        _set_user(path, user)
    return path


@pytest.fixture(scope="session")
def probe_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled probe, built once per session."""
    return build_probe(tmp_path_factory.mktemp("probe-build"))


@pytest.fixture(scope="session")
def probe_images(tmp_path_factory: pytest.TempPathFactory, probe_binary: Path) -> Callable[[str | None], Path]:
    """`make(user)`: the probe image whose config's User is `user` (None: root), written once
    per user per session."""
    made: dict[str | None, Path] = {}

    def make(user: str | None = None) -> Path:
        if user not in made:
            made[user] = write_probe_image(tmp_path_factory.mktemp("probe-image"), probe_binary, user=user)
        return made[user]

    return make


@pytest.fixture(scope="session")
def probe_image(probe_images: Callable[[str | None], Path]) -> Path:
    """The probe image with no User: the probe runs as root."""
    return probe_images(None)


def run_probe(image: Path, *checks: str, extra_cli_args: Sequence[str] = (), timeout_s: float = 60) -> dict[str, str]:
    """Run `inspectr run [EXTRA…] IMAGE -- /probe CHECK…` as a child process (a real CLI run, with
    inspectr's own exit status and stderr) and return {check: what the probe printed after its
    name}, e.g. {"chroot": "ok", "mount": "errno=1 (Operation not permitted)"}. Raises
    AssertionError, with inspectr's stderr, when the run fails or a check printed nothing."""
    cmd = [sys.executable, "-c", "import sys; from inspectr.cli import main; main(sys.argv[1:])",
           "run", *extra_cli_args, str(image), "--", "/probe", *checks]
    done = subprocess.run(cmd, capture_output=True, timeout=timeout_s)
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise AssertionError(f"inspectr run exited {done.returncode}\nstdout:\n{out}\nstderr:\n{err}")
    results = {}
    for line in out.splitlines():
        match = _LINE.match(line)
        if match:
            results[match[1]] = match[2]
    missing = [check for check in checks if check not in results]
    if missing:
        raise AssertionError(f"the probe printed nothing for {missing}\nstdout:\n{out}\nstderr:\n{err}")
    return results


def errno_of(value: str) -> int | None:
    """The errno in a probe result ("errno=1 (Operation not permitted)" -> 1), None for "ok…"."""
    match = re.match(r"errno=(\d+)", value)
    return int(match[1]) if match else None
