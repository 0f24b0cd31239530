#!/usr/bin/env python3
"""Benchmark reading an image from a registry (docker://) against its floor and skopeo.

    python benchmarks/bench_registry.py                     # ~1.1 GB image, 3 runs
    python benchmarks/bench_registry.py --image benchmarks/work/img-f5000-s0.1 --runs 2   # quick

Starts Debian's docker-registry on 127.0.0.1 (the test harness's start_registry), pushes the
image once with skopeo, then times, side by side and interleaved (fresh child per run, warm
page cache, the same loopback registry):

  pull floor     one process: GET every layer blob with urllib3, sha256 it, inflate (ISA-L) and
                 sha256 the tar -- the least any verifying reader of the registry must do
  ls cold        `inspectr ls --format json docker://…` with an empty cache (pulls every blob)
  ls warm        the same with blobs and layer indexes cached (manifest request only)
  ls layout      `inspectr ls` on the OCI layout itself, cold index cache (no network)
  pull           `inspectr pull docker://… DIR` with an empty cache
  skopeo copy    `skopeo copy docker://… oci:DIR` (the peer: verifies blob digests, no diff_ids,
                 no tar parsing)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_ls import Tool, _layers, machine_info, run_rounds  # noqa: E402

READ_CHUNK = 1 << 20


def floor_main(url: str, repo: str, image: Path) -> int:
    """Download + sha256 + inflate + sha256 every layer, one process."""
    import urllib3

    try:
        from isal import isal_zlib as zlib_impl
    except ImportError:  # pragma: no cover
        import zlib as zlib_impl  # type: ignore[no-redef]
    layers, diff_ids = _layers(image)
    http = urllib3.PoolManager()
    for layer, diff_id in zip(layers, diff_ids):
        resp = http.request("GET", f"{url}/v2/{repo}/blobs/{layer['digest']}", preload_content=False)
        d = zlib_impl.decompressobj(wbits=31)
        blob, diff = hashlib.sha256(), hashlib.sha256()
        while chunk := resp.read(READ_CHUNK, decode_content=False):
            blob.update(chunk)
            diff.update(d.decompress(chunk))
        diff.update(d.flush())
        resp.release_conn()
        if "sha256:" + blob.hexdigest() != layer["digest"] or "sha256:" + diff.hexdigest() != diff_id:
            raise SystemExit(f"floor: {layer['digest']}: mismatch")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, default=HERE / "work" / "img-f50000-s1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--floor", nargs=3, metavar=("URL", "REPO", "IMAGE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor:
        return floor_main(args.floor[0], args.floor[1], Path(args.floor[2]))
    if not (args.image / "index.json").is_file():
        raise SystemExit(f"{args.image}: no OCI layout; make one with benchmarks/make_image.py")
    from registry_server import start_registry

    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir=HERE / "work"))
    reg = start_registry(work / "registry")
    try:
        repo = "bench/image"
        print(f"pushing {args.image} to {reg.host} …", file=sys.stderr, flush=True)
        reg.push(f"oci:{args.image}", f"{repo}:latest")
        ref = f"docker://{reg.host}/{repo}:latest"
        cold, warm, layout_cache, pulled, copied = (work / n for n in ("cold", "warm", "layout-cache", "pulled", "copied"))
        inspectr = [sys.executable, "-m", "inspectr.cli"]
        if subprocess.run([*inspectr, "--help"], capture_output=True).returncode != 0:
            inspectr = ["inspectr"]
        subprocess.run([*inspectr, "--cache-dir", str(warm), "ls", "--tls-verify=false", ref], check=True,
                       stdout=subprocess.DEVNULL)  # fills the warm cache
        tools = [
            Tool("pull floor", [sys.executable, str(Path(__file__)), "--floor", reg.url, repo, str(args.image)]),
            Tool("ls cold", [*inspectr, "--cache-dir", str(cold), "ls", "--format", "json", "--tls-verify=false", ref],
                 cleanup=cold),
            Tool("ls warm", [*inspectr, "--cache-dir", str(warm), "ls", "--format", "json", "--tls-verify=false", ref]),
            Tool("ls layout", [*inspectr, "--cache-dir", str(layout_cache), "ls", "--format", "json", f"oci:{args.image}"],
                 cleanup=layout_cache),
            Tool("pull", [*inspectr, "--cache-dir", str(cold), "pull", "--tls-verify=false", ref, str(pulled)],
                 cleanup=pulled),
            Tool("skopeo copy", ["skopeo", "copy", "--quiet", "--src-tls-verify=false", ref, f"oci:{copied}"],
                 cleanup=copied),
        ]
        tools[4].cleanup = None  # both the pull target and its cache must go: see once() below
        original_once = tools[4].once

        def pull_once(sample: bool = False, quiet: tuple[float, float] = (0.0, 1.0)) -> dict:
            try:
                return original_once(sample, quiet)
            finally:
                shutil.rmtree(pulled, ignore_errors=True)
                shutil.rmtree(cold, ignore_errors=True)

        tools[4].once = pull_once  # type: ignore[method-assign]
        run_rounds(tools, args.runs, "registry", (0.0, 1.0))
        floor = min(r["wall_s"] for r in tools[0].runs)
        rows = []
        for t in tools:
            s = t.summary()
            s["ratio_to_floor"] = s["median_wall_s"] / floor
            rows.append(s)
        layers, _ = _layers(args.image)
        result = {"machine": machine_info(), "image": str(args.image), "layers": len(layers),
                  "compressed_bytes": sum(layer["size"] for layer in layers), "tools": rows}
        print(f"\n{args.image.name}: {len(layers)} layers, {result['compressed_bytes'] / 1e6:.0f} MB compressed")
        print(f"{'tool':<14} {'median s':>9} {'best s':>8} {'x floor':>8} {'peak RSS MiB':>13}")
        for s in rows:
            print(f"{s['name']:<14} {s['median_wall_s']:9.2f} {s['best_wall_s']:8.2f} {s['ratio_to_floor']:8.2f} "
                  f"{s['peak_rss_kb'] / 1024:13.1f}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
