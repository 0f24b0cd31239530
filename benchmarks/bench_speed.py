#!/usr/bin/env python3
"""Issue 16's figures in one run: cold diff against the 2-core floor, warm diff against the warm
floor, and `cat` of one file against inflating its layer, with CPU utilisation and peak RSS.

    python benchmarks/make_pair.py --top-only          # B' = A with its 303 changes all in the top layer
    python benchmarks/bench_speed.py --runs 3

Rows (each a fresh child under GNU time, page cache warm, preparation not timed; bench_ls.py's
`run_measured` and `wait_for_quiet`, bench_diff.py's floor):

  floor, cold        inflate (ISA-L) + sha256 of every layer blob of A and B', 2 processes
  diff, cold         `inspectr diff A B'`, empty cache
  floor, warm        sha256 of every compressed blob of both images, plus inflate + sha256 of the
                     layers of B' that A does not have, 2 processes
  diff, warm         A's layers cached (`inspectr ls A`), B''s new top layer not: its first read
  diff, warm, steady the same after A's changed layer was content-read twice before (its seek
                     points are recorded), B''s top layer again new
  diff, re-run       both images cached, the same diff run twice before (both sides' points recorded)
  inflate, one layer ISA-L inflate + sha256 of the layer `cat` reads, 1 process
  cat, first read    `inspectr cat --layer N IMAGE PATH` of the layer's last file, layer index cached
  cat, steady        the same with the layer's seek points recorded (third read on)

CPU utilisation is CPU seconds (user + sys of the tree) over wall seconds: 2.0 is both cores busy.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_ls as bl  # noqa: E402  (benchmarks/bench_ls.py)


def _blobs(image: Path) -> list[tuple[str, str]]:
    layers, _ = bl._layers(image)
    return [(str(image / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]), layer["digest"]) for layer in layers]


def _sha_blob(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fp:
        while data := fp.read(1 << 20):
            h.update(data)
    return "sha256:" + h.hexdigest()


def _warm_task(task: tuple[str, str, bool]) -> None:
    path, digest, inflate = task
    if inflate:
        bl._floor_layer((path, digest, True))  # the compressed sha256 too
    elif _sha_blob(path) != digest:
        raise SystemExit(f"warm floor: {path}: digest mismatch")


def warm_floor_main(a: Path, b: Path) -> int:
    """sha256 of every blob of both images; the blobs of B that A lacks are also inflated and hashed."""
    known = {digest for _, digest in _blobs(a)}
    tasks = [(path, digest, False) for path, digest in _blobs(a)]
    tasks += [(path, digest, digest not in known) for path, digest in _blobs(b)]
    tasks.sort(key=lambda t: -os.path.getsize(t[0]) * (4 if t[2] else 1))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_warm_task, tasks, chunksize=1)
    return 0


def inflate_main(blob: str, digest: str) -> int:
    bl._floor_layer((blob, digest, False))
    return 0


def _last_file(image: Path, layer: int) -> str:
    from inspectr import open_image
    from inspectr.fs.build import index_refs
    from inspectr.fs.entry import EntryKind
    from inspectr.session import Session

    img = open_image(str(image))
    (index,) = index_refs([img.layers[layer]], img.limits, session=Session(limits=img.limits))
    return max((e for e in index.entries if e.kind is EntryKind.FILE and e.size > 0), key=lambda e: e.offset).path


def _forget(cache: Path, image: Path, layers: list[int]) -> None:
    """Remove every cache file of these layers (index, read note, seek points): new again."""
    from inspectr import open_image
    from inspectr.fs.cache import LayerCache, _key

    lc = LayerCache(cache)
    img = open_image(str(image))
    for i in layers:
        ref = img.layers[i]
        for scan in (False, True):
            key = _key(ref, scan)
            assert key is not None
            for path in (lc._file(key), lc._seek_file(key), lc._seek_file(key, "read")):
                path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] in ("_warm_floor", "_inflate"):
        if sys.argv[1] == "_warm_floor":
            return warm_floor_main(Path(sys.argv[2]), Path(sys.argv[3]))
        return inflate_main(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, default=HERE / "work" / "img-f50000-s1")
    ap.add_argument("--b", type=Path, default=HERE / "work" / "img-f50000-s1-b300-c7-top")
    ap.add_argument("--cat-image", type=Path, default=None, help="default: --a")
    ap.add_argument("--cat-layer", type=int, default=None, help="default: its largest layer")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=HERE / "work" / "speed")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    a, b = args.a.resolve(), args.b.resolve()
    cat_image = (args.cat_image or a).resolve()
    new_layers = [i for i, (_, d) in enumerate(_blobs(b)) if d not in {d2 for _, d2 in _blobs(a)}]
    cat_blobs = _blobs(cat_image)
    cat_layer = args.cat_layer if args.cat_layer is not None else max(range(len(cat_blobs)),
                                                                      key=lambda i: os.path.getsize(cat_blobs[i][0]))
    cat_path = _last_file(cat_image, cat_layer)
    for path, _ in _blobs(a) + _blobs(b):  # page cache warm
        _sha_blob(path)
    cache = args.work / "cache"
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, INSPECTR_CACHE_DIR=str(cache), PYTHONPATH=str(HERE.parent))
    env.pop("CI", None)
    inspectr = [sys.executable, "-m", "inspectr"]
    diff = inspectr + ["diff", str(a), str(b), "--format", "json"]
    cat = inspectr + ["cat", "--layer", str(cat_layer), str(cat_image), cat_path]

    def quiet_run(cmd: list[str]) -> None:
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)

    def wipe() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    def a_cached() -> None:
        wipe()
        quiet_run(inspectr + ["ls", str(a), "--format", "json"])

    def a_steady() -> None:
        a_cached()
        quiet_run(diff)
        quiet_run(diff)  # the second read of A's changed layer records its points
        _forget(cache, b, new_layers)

    def both_steady() -> None:
        if not (cache / "steady-both").exists():
            wipe()
            for _ in range(3):
                quiet_run(diff)
            (cache / "steady-both").touch()

    def cat_first() -> None:
        wipe()
        quiet_run(inspectr + ["ls", str(cat_image), "--format", "json"])

    def cat_steady() -> None:
        if not (cache / "steady-cat").exists():
            cat_first()
            quiet_run(cat)
            quiet_run(cat)
            (cache / "steady-cat").touch()

    me = [sys.executable, str(HERE / "bench_speed.py")]
    floor_cold = [sys.executable, str(HERE / "bench_diff.py"), "_baseline", str(a), str(b), "--procs", "2"]
    rows = [
        ("floor, cold (2 processes)", floor_cold, (0,), None),
        ("diff, cold (empty cache)", diff, (1,), wipe),
        ("floor, warm (2 processes)", me + ["_warm_floor", str(a), str(b)], (0,), None),
        ("diff, warm: A cached, B' top layer new", diff, (1,), a_cached),
        ("diff, warm, steady: A's points recorded, B' top layer new", diff, (1,), a_steady),
        ("diff, re-run: both cached, points recorded", diff, (1,), both_steady),
        (f"inflate + sha256 of layer {cat_layer} (1 process)", me + ["_inflate", *cat_blobs[cat_layer]], (0,), None),
        ("cat, first read (layer index cached)", cat, (0,), cat_first),
        ("cat, steady (seek points recorded)", cat, (0,), cat_steady),
    ]
    bl._IDLE_BUDGET[0] = 120.0  # seconds of waiting for a quiet machine, over the whole run
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results = []
    for name, cmd, ok, prep in rows:
        runs = []
        for _ in range(args.runs):
            if prep is not None:
                prep()
            bl.wait_for_quiet(10.0, 0.25)
            r = bl.run_measured(cmd, ok=ok, env=env)
            runs.append(r)
            print(f"{name}: {r['wall_s']:.2f} s, CPU {r['user_s'] + r['sys_s']:.2f} s, {r['maxrss_kb'] // 1024} MiB, "
                  f"background {r['background_cores']:.2f}", file=sys.stderr)
        best = min(runs, key=lambda r: r["wall_s"])
        results.append({"name": name, "cmd": " ".join(cmd), "best_wall_s": best["wall_s"],
                        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
                        "cpu_s": best["user_s"] + best["sys_s"], "peak_rss_kb": max(r["maxrss_kb"] for r in runs),
                        "background_cores": best["background_cores"]})
    wipe()
    by = {r["name"]: r for r in results}
    w = [r["best_wall_s"] for r in results]
    lines = [f"Run {started}, {args.runs} runs per row (best wall shown); A = `{a.name}`, B' = `{b.name}` (new layers: "
             f"{new_layers}); cat: layer {cat_layer} of `{cat_image.name}`, `{cat_path}`.", "",
             "| row | best wall s | median wall s | CPU s | CPU utilisation (cores) | peak RSS MiB | background cores |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['best_wall_s']:.2f} | {r['median_wall_s']:.2f} | {r['cpu_s']:.2f} | "
                     f"{r['cpu_s'] / r['best_wall_s']:.2f} | {r['peak_rss_kb'] / 1024:.0f} | {r['background_cores']:.2f} |")
    lines += ["", "| ratio | value | target |", "|---|---:|---|",
              f"| cold diff / cold floor | {w[1] / w[0]:.2f}x | ≤ 1.3x |",
              f"| warm diff (A cached, B' top new) / warm floor | {w[3] / w[2]:.2f}x | ≤ 1.3x |",
              f"| warm diff, steady / warm floor | {w[4] / w[2]:.2f}x | ≤ 1.3x |",
              f"| re-run / warm floor | {w[5] / w[2]:.2f}x | - |",
              f"| cat, steady / inflate of its layer | {w[8] / w[6]:.2f}x | ≤ 0.1x |",
              f"| cat, first read / inflate of its layer | {w[7] / w[6]:.2f}x | - |"]
    lines += ["", "Commands:", ""] + [f"- **{r['name']}**: `{r['cmd']}`" for r in results]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"started": started, "rows": results, "by_name": list(by)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
