#!/usr/bin/env python3
"""Gzip seek points (issue 16): which library, and what a re-read costs with and without them.

    python benchmarks/bench_seek.py                       # the largest layer of benchmarks/work/img-f50000-s1
    python benchmarks/bench_seek.py --image DIR --layer N --runs 3

Every row runs in a fresh child process (so peak RSS is its own) and reports the lowest CPU time
(user + sys) and wall time of --runs runs, and its peak RSS. Rows:

- the indexing pass's inflate as today (ISA-L) and the whole indexing pass (`index_layer`);
- the whole indexing pass with the inflate driven by rapidgzip instead (what recording seek
  points *during* the pass would cost), and rapidgzip alone at 4 MiB and 256 KiB chunks;
- rapidgzip reading through a Python file object, to see whether the compressed bytes could be
  hashed as it reads them (are its reads sequential, and how many bytes does it read?);
- indexed_gzip building a full index, today's content re-read to the end of the layer, and the
  first read through inspectr's seek path (which records the points);
- reading the layer's last file through stored points: inspectr's path (indexed_gzip), and
  rapidgzip with an imported index;
- a gzip bomb (2 GB of zeros, gzip -9): peak RSS of rapidgzip, indexed_gzip and ISA-L.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def _largest_layer(image: str) -> int:
    from inspectr import open_image

    img = open_image(image)
    return max(range(len(img.layers)), key=lambda i: img.layers[i].blob.length)


def _ref(image: str, layer: int):  # type: ignore[no-untyped-def]
    from inspectr import open_image

    img = open_image(image)
    return img, img.layers[layer]


def _sha_read(reader, chunk: int = 1 << 20) -> int:  # type: ignore[no-untyped-def]
    h = hashlib.sha256()
    n = 0
    while data := reader.read(chunk):
        h.update(data)
        n += len(data)
    return n


# --- rows (each runs in a child) ------------------------------------------------------------

def row_isal(blob: str, **_: object) -> dict[str, object]:
    from isal import isal_zlib

    h = hashlib.sha256()
    d = isal_zlib.decompressobj(wbits=31)
    with open(blob, "rb") as fp:
        while chunk := fp.read(1 << 18):
            h.update(d.decompress(chunk, 1 << 20))
            while d.unconsumed_tail:
                h.update(d.decompress(d.unconsumed_tail, 1 << 20))
    return {}


def row_rapidgzip(blob: str, chunk: int = 4 << 20, **_: object) -> dict[str, object]:
    import rapidgzip

    with rapidgzip.RapidgzipFile(blob, parallelization=1, chunk_size=chunk) as f:
        _sha_read(f)
        out = io.BytesIO()
        f.export_index(out)
    return {"index_bytes": len(out.getvalue())}


def row_rapidgzip_fileobj(blob: str, **_: object) -> dict[str, object]:
    import rapidgzip

    class Logged(io.RawIOBase):
        def __init__(self) -> None:
            super().__init__()
            self.fp = open(blob, "rb")
            self.reads: list[tuple[int, int]] = []

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, pos: int, whence: int = 0) -> int:
            return self.fp.seek(pos, whence)

        def tell(self) -> int:
            return self.fp.tell()

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            pos = self.fp.tell()
            n = self.fp.readinto(b)
            self.reads.append((pos, n or 0))
            return n or 0

    src = Logged()
    with rapidgzip.RapidgzipFile(src, parallelization=1, chunk_size=4 << 20) as f:
        _sha_read(f)
    sequential = all(a[0] + a[1] == b[0] for a, b in zip(src.reads, src.reads[1:]))
    return {"reads": len(src.reads), "bytes_read": sum(n for _, n in src.reads), "file_bytes": os.path.getsize(blob),
            "sequential": sequential}


def row_igz_build(blob: str, spacing: int = 1 << 20, **_: object) -> dict[str, object]:
    import indexed_gzip

    f = indexed_gzip.IndexedGzipFile(blob, spacing=spacing, readbuf_size=1 << 18, skip_crc_check=True)
    f.build_full_index()
    out = io.BytesIO()
    f.export_index(fileobj=out)
    f.close()
    return {"index_bytes": len(out.getvalue())}


def row_index_pass(image: str, layer: int, driver: str = "isal", **_: object) -> dict[str, object]:
    from inspectr.fs import layer_index
    from inspectr.untrusted import decompress

    img, ref = _ref(image, layer)
    if driver == "rapidgzip":
        import rapidgzip

        real = decompress.open_decompressed

        class Rgz:
            # The compressed bytes are still hashed by the VerifyingReader (drained at the end of
            # the pass); rapidgzip reads the file itself.
            def __init__(self) -> None:
                self.f = rapidgzip.RapidgzipFile(ref.blob.path, parallelization=1, chunk_size=4 << 20)
                self.members = 1

            def read(self, n: int = -1) -> bytes:
                data = self.f.read(n if n and n > 0 else 1 << 20)
                if not data:
                    self.f.export_index(io.BytesIO())
                return data

        def opened(raw, compression, what, warn, max_window_bytes=1 << 27):  # type: ignore[no-untyped-def]
            if compression is decompress.Compression.GZIP:
                return Rgz()
            return real(raw, compression, what, warn, max_window_bytes)

        layer_index.open_decompressed = opened  # type: ignore[assignment]
    index = layer_index.index_layer(ref, layer, img.limits)
    return {"entries": len(index.entries)}


def _last_file(image: str, layer: int):  # type: ignore[no-untyped-def]
    from inspectr.fs.entry import EntryKind
    from inspectr.fs.build import index_refs
    from inspectr.session import Session

    img, ref = _ref(image, layer)
    session = Session(limits=img.limits)
    (index,) = index_refs([ref], img.limits, session=session)
    entry = max((e for e in index.entries if e.kind is EntryKind.FILE and e.size > 0), key=lambda e: e.offset)
    return img, ref, index, entry, session


def row_reread_full(image: str, layer: int, **_: object) -> dict[str, object]:
    """Today's re-read without points: one pass to the layer's last file (stop early)."""
    from inspectr.fs.content import _read_layer

    t0 = time.perf_counter()
    img, ref, index, entry, _ = _last_file(image, layer)
    setup = time.perf_counter() - t0
    got = bytearray()
    c0, t0 = time.process_time(), time.perf_counter()
    _read_layer(ref, img.limits, {entry.offset: entry}, lambda e: e.sha256, lambda e: got.extend, lambda e: None, True)
    return {"read_s": round(time.perf_counter() - t0, 4), "read_cpu_s": round(time.process_time() - c0, 4),
            "bytes": len(got), "setup_s": round(setup, 2)}


def row_seek(image: str, layer: int, cache: str, **_: object) -> dict[str, object]:
    """inspectr's seek path for the layer's last file: builds the points when the cache has none."""
    from inspectr.fs.cache import LayerCache
    from inspectr.fs.content import _read_layer
    from inspectr.fs.seekpoints import plan_seek

    img, ref, index, entry, _ = _last_file(image, layer)
    plan = plan_seek(ref, index, LayerCache(Path(cache)))
    assert plan is not None
    had = plan.cache.get_seek_points(ref) is not None
    got = bytearray()
    c0, t0 = time.process_time(), time.perf_counter()
    _read_layer(ref, img.limits, {entry.offset: entry}, lambda e: e.sha256, lambda e: got.extend, lambda e: None, True,
                plan)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert hashlib.sha256(got).digest() == entry.sha256
    return {"read_s": round(wall, 4), "read_cpu_s": round(cpu, 4), "had_points": had, "spacing": plan.spacing,
            "bytes": len(got)}


def row_rapidgzip_seek(image: str, layer: int, index_file: str, **_: object) -> dict[str, object]:
    import rapidgzip

    _, ref, _, entry, _ = _last_file(image, layer)
    if not os.path.exists(index_file):
        with rapidgzip.RapidgzipFile(ref.blob.path, parallelization=1) as f:
            while f.read(1 << 22):
                pass
            f.export_index(index_file)
    t0 = time.perf_counter()
    with rapidgzip.RapidgzipFile(ref.blob.path, parallelization=1) as f:
        f.import_index(index_file)
        f.seek(entry.offset)
        data = f.read(entry.size + 4096)
    return {"read_s": round(time.perf_counter() - t0, 4), "bytes": len(data)}


def row_bomb(blob: str, lib: str, **_: object) -> dict[str, object]:
    if lib == "isal":
        row_isal(blob)
    elif lib == "rapidgzip":
        row_rapidgzip(blob, chunk=4 << 20)
    else:
        row_igz_build(blob, spacing=(2 << 30) // 1024)
    return {}


ROWS = {"isal": row_isal, "rapidgzip": row_rapidgzip, "rapidgzip_fileobj": row_rapidgzip_fileobj,
        "igz_build": row_igz_build, "index_pass": row_index_pass, "reread_full": row_reread_full, "seek": row_seek,
        "rapidgzip_seek": row_rapidgzip_seek, "bomb": row_bomb}


def _child(args: list[str]) -> None:
    name, kw = args[0], json.loads(args[1])
    c0, t0 = time.process_time(), time.perf_counter()
    extra = ROWS[name](**kw)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu": cpu, "wall": wall, "rss_mib": ru.ru_maxrss / 1024, **extra}))


def run(name: str, runs: int, **kw: object) -> dict[str, object]:
    best: dict[str, object] | None = None
    for _ in range(runs):
        out = subprocess.run([sys.executable, __file__, "_child", name, json.dumps(kw)], check=True,
                             capture_output=True, text=True).stdout
        got = json.loads(out.strip().splitlines()[-1])
        if best is None or got["cpu"] < best["cpu"]:  # type: ignore[operator]
            best = got
        print(f"  {name} {kw.get('driver') or kw.get('lib') or kw.get('chunk') or ''}: {got}", file=sys.stderr)
    assert best is not None
    return best


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        _child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(HERE / "work" / "img-f50000-s1"))
    ap.add_argument("--layer", type=int, default=None, help="default: the largest layer")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-bomb", action="store_true")
    args = ap.parse_args()
    layer = _largest_layer(args.image) if args.layer is None else args.layer
    _, ref = _ref(args.image, layer)
    blob = ref.blob.path
    work = Path(tempfile.mkdtemp(prefix="bench-seek-"))
    print(f"layer {layer} of {args.image}: {ref.blob.length / 1e6:.1f} MB gzip", file=sys.stderr)
    r: dict[str, dict[str, object]] = {}
    r["isal"] = run("isal", args.runs, blob=blob)
    r["pass_isal"] = run("index_pass", args.runs, image=args.image, layer=layer, driver="isal")
    r["pass_rgz"] = run("index_pass", args.runs, image=args.image, layer=layer, driver="rapidgzip")
    r["rgz4m"] = run("rapidgzip", args.runs, blob=blob, chunk=4 << 20)
    r["rgz256k"] = run("rapidgzip", args.runs, blob=blob, chunk=256 << 10)
    r["rgz_fileobj"] = run("rapidgzip_fileobj", 1, blob=blob)
    r["igz"] = run("igz_build", args.runs, blob=blob)
    r["reread"] = run("reread_full", args.runs, image=args.image, layer=layer)
    first = []
    for i in range(args.runs):  # each run from an empty cache: the read that records the points
        first.append(run("seek", 1, image=args.image, layer=layer, cache=str(work / f"c{i}")))
    r["seek_first"] = min(first, key=lambda d: d["read_cpu_s"])  # type: ignore[arg-type,return-value]
    r["seek_warm"] = run("seek", args.runs, image=args.image, layer=layer, cache=str(work / "c0"))
    r["rgz_seek"] = run("rapidgzip_seek", args.runs, image=args.image, layer=layer, index_file=str(work / "rgz.idx"))
    if not args.no_bomb:
        bomb = work / "bomb.gz"
        with gzip.open(bomb, "wb", compresslevel=9) as fp:
            zeros = bytes(1 << 24)
            for _ in range(128):
                fp.write(zeros)
        for lib in ("isal", "rapidgzip", "igz"):
            r[f"bomb_{lib}"] = run("bomb", 1, blob=str(bomb), lib=lib)
    print(json.dumps(r, indent=1), file=sys.stderr)
    print(f"| what (layer {layer}, {ref.blob.length / 1e6:.1f} MB gzip) | CPU s | wall s | peak RSS MiB | notes |")
    print("|---|---:|---:|---:|---|")

    def line(label: str, key: str, note: str = "") -> None:
        d = r[key]
        print(f"| {label} | {d['cpu']:.2f} | {d['wall']:.2f} | {d['rss_mib']:.0f} | {note} |")

    base = float(r["isal"]["cpu"])  # type: ignore[arg-type]
    line("ISA-L inflate + sha256 (the indexing pass's inflate today)", "isal")
    line("indexing pass (`index_layer`), ISA-L", "pass_isal")
    line("indexing pass with rapidgzip driving the inflate", "pass_rgz",
         f"{float(r['pass_rgz']['cpu']) / float(r['pass_isal']['cpu']):.2f}x the pass's CPU")  # type: ignore[arg-type]
    line("rapidgzip, 4 MiB chunks, + sha256 + export index", "rgz4m",
         f"{float(r['rgz4m']['cpu']) / base:.2f}x ISA-L CPU; index {int(r['rgz4m']['index_bytes']) / 1e6:.1f} MB")  # type: ignore[call-overload]
    line("rapidgzip, 256 KiB chunks, + sha256 + export index", "rgz256k",
         f"{float(r['rgz256k']['cpu']) / base:.2f}x ISA-L CPU; index {int(r['rgz256k']['index_bytes']) / 1e6:.1f} MB")  # type: ignore[call-overload]
    d = r["rgz_fileobj"]
    line("rapidgzip reading a Python file object", "rgz_fileobj",
         f"{d['reads']} reads, {int(d['bytes_read']) / 1e6:.1f} MB read of {int(d['file_bytes']) / 1e6:.1f} MB, "  # type: ignore[call-overload]
         f"sequential: {d['sequential']}")
    line("indexed_gzip `build_full_index` (1 MiB spacing)", "igz",
         f"{float(r['igz']['cpu']) / base:.2f}x ISA-L CPU; index {int(r['igz']['index_bytes']) / 1e6:.1f} MB")  # type: ignore[call-overload]
    for label, key in (("re-read of the last file, no points (today: one pass to it)", "reread"),
                       ("first read through inspectr's seek path (records the points)", "seek_first"),
                       ("read of the last file through stored points (inspectr, indexed_gzip)", "seek_warm")):
        d = r[key]
        print(f"| {label} | {d['read_cpu_s']:.3f} (read only) | {d['read_s']:.3f} (read only) | {d['rss_mib']:.0f} | "
              f"{d['bytes']} bytes |")
    d = r["rgz_seek"]
    print(f"| the same through rapidgzip's imported index | - | {d['read_s']:.3f} (read only) | {d['rss_mib']:.0f} | |")
    if not args.no_bomb:
        for lib in ("isal", "rapidgzip", "igz"):
            line(f"gzip bomb (2 GiB of zeros, gzip -9, 2 MB): {lib}", f"bomb_{lib}")


if __name__ == "__main__":
    main()
