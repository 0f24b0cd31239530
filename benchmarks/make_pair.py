#!/usr/bin/env python3
"""Make a pair of OCI layouts for benchmarking `inspectr diff`: image A from make_image.py, and
image B = A rebuilt with a few hundred realistic changes in its upper layers.

    python benchmarks/make_pair.py                          # A: work/img-f50000-s1, B: work/img-f50000-s1-b300-c7
    python benchmarks/make_pair.py --files 5000 --scale 0.1 --changes 60     # a small pair

A is `make_image.ensure_image(...)` with the same parameters and naming as bench_ls.py, so an
existing `benchmarks/work/img-f50000-s1` is reused when its stamp matches.

B starts from A's plan (`make_image.plan_image`) and changes, with its own seed (`--change-seed`),
about `--changes` files of the merged filesystem, all in the upper layers 2-4, as a rebuild that
re-runs the last three steps of a Dockerfile would (for the default 300):

    150  text edits        a few lines replaced, inserted or deleted in a visible text file; new mtime
      3  binary rebuilds   a few 4 KiB spans of a MB-sized file rewritten (size unchanged); new mtime
     40  mode changes      0644 <-> 0755 (chmod), content and mtime unchanged
     40  added files       20 in a new package directory (layer 4), 20 in existing directories (layer 3)
     40  removed files     25 no longer written by the layer that created them (layers 2-4),
                           15 from the base layers 0-1 deleted by a whiteout in layer 4
     30  mtime only        same bytes, new mtime (a file re-generated with the same content)

Only files visible in A's merged tree, not hardlink targets, and (for drops) not shadowing a lower
file are picked, so each is one change of the merged filesystem. The config's `created` and the
`created` of the history items of layers 2-4 move to 2024-06-01. Layers 0 and 1 are copied from
A byte for byte (same digests, as a rebuild with cached base layers has); layers 2-4 are written
again, with the same tar writer and compressor as make_image.py, so they get new digests.

The same parameters always give the same bytes. A stamp `B.json` beside B records the parameters,
A's manifest digest, which layers differ, and the list of changes (reused when it matches).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import random
import shutil
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_image as mi  # noqa: E402  (benchmarks/make_image.py)

REBUILD_MTIME = 1_717_200_000  # 2024-06-01T00:00:00Z
REBUILD_CREATED = "2024-06-01T00:00:00Z"
CHANGED_LAYERS = (2, 3, 4)


def image_a_path(work: Path, files: int, scale: float, seed: int) -> Path:
    """The same name bench_ls.py uses, so its images are shared."""
    return work / (f"img-f{files}-s{scale:g}" + ("" if seed == 1 else f"-seed{seed}"))


def image_b_path(a: Path, changes: int, change_seed: int, top_only: bool = False) -> Path:
    return a.parent / f"{a.name}-b{changes}-c{change_seed}{'-top' if top_only else ''}"


# --------------------------------------------------------------------------- planning the changes


def _visible(plan: list[list[mi.PlanEntry]]) -> dict[str, int]:
    """Regular files of the merged tree of `plan`: path -> index of the layer that wrote it."""
    live: dict[str, int] = {}
    for li, entries in enumerate(plan):
        for e in entries:  # removals first: a layer's whiteouts apply to the layers below it
            if e.kind in (mi.WHITEOUT, mi.OPAQUE):
                parent, base = e.path.rsplit("/", 1)
                target = parent if e.kind == mi.OPAQUE else f"{parent}/{base[len('.wh.'):]}"
                if live.pop(target, None) is None or e.kind == mi.OPAQUE:  # a directory
                    for p in [p for p in live if p.startswith(target + "/")]:
                        del live[p]
        for e in entries:
            if e.kind == mi.FILE:
                live[e.path] = li
            elif e.kind in (mi.DIR, mi.SYMLINK, mi.HARDLINK):
                live.pop(e.path, None)
    return live


def _edit_text(data: bytes, r: random.Random) -> bytes:
    """1-3 hunks: replace, insert or delete a line, with words taken from the file itself."""
    lines = data.split(b"\n")
    words = [w for w in data.replace(b"\n", b" ").split(b" ") if w] or [b"x"]
    for _ in range(r.randint(1, 3)):
        i = r.randrange(len(lines))
        new = b" ".join(r.choice(words) for _ in range(r.randint(3, 12)))
        op = r.random()
        if op < 0.5:
            lines[i] = new
        elif op < 0.8 or len(lines) < 3:
            lines.insert(i, new)
        else:
            del lines[i]
    out = b"\n".join(lines)
    return out if out != data else out + b"\n# edited\n"


def _patch_binary(data: bytes, r: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(r.randint(2, 6)):
        off = r.randrange(max(1, len(buf) - 4096))
        buf[off:off + 4096] = r.randbytes(len(buf[off:off + 4096]))
    return bytes(buf)


def _content(e: mi.PlanEntry, scale: float, seed: int) -> bytes:
    return b"".join(mi.iter_content(e, int(e.size * scale), seed))


def plan_pair(files: int, seed: int, scale: float, changes: int, change_seed: int,
              changed_layers: tuple[int, ...] = CHANGED_LAYERS):
    """(plan of B, {layer: {path: override}}, change log). Pure function of its arguments.
    `changed_layers` is (2, 3, 4), or (4,) for a rebuild where only the top layer is new.

    An override is a dict with optional "data" (the new bytes), "mode" and "mtime".
    """
    plan_a = mi.plan_image(files, seed)
    plan = [[dataclasses.replace(e) for e in entries] for entries in plan_a]
    r = random.Random(change_seed * 104_729 + 3)
    visible = _visible(plan_a)
    hl_targets = {e.link for entries in plan_a for e in entries if e.kind == mi.HARDLINK}
    seen_below: dict[str, int] = {}  # path -> first layer that writes it
    for li, entries in enumerate(plan_a):
        for e in entries:
            seen_below.setdefault(e.path, li)
    by_path = {(li, e.path): e for li, entries in enumerate(plan) for e in entries}

    upper = sorted(p for p, li in visible.items() if li in changed_layers and p not in hl_targets)
    base = sorted(p for p, li in visible.items() if li not in changed_layers and p not in hl_targets)
    r.shuffle(upper)
    r.shuffle(base)
    taken: set[str] = set()

    def pick(pool: list[str], n: int, ok) -> list[str]:
        out = []
        for p in pool:
            if len(out) == n:
                break
            if p not in taken and ok(p):
                taken.add(p)
                out.append(p)
        return out

    def entry(p: str) -> mi.PlanEntry:
        return by_path[(visible[p], p)]

    n_edit, n_bin, n_mode = changes // 2, max(1, changes // 100), changes * 2 // 15
    n_add = n_rm = changes * 2 // 15
    n_mtime = changes // 10
    overrides: dict[int, dict[str, dict]] = {li: {} for li in changed_layers}
    log: list[dict] = []

    def note(kind: str, p: str, li: int, **extra) -> None:
        log.append({"change": kind, "path": p, "layer": li, **extra})

    # Text edits (small files from the text pool: seed % 7 != 0, see make_image.iter_content).
    def editable(p: str) -> bool:
        e = entry(p)
        return e.content == mi.TEXT and e.seed % 7 and 200 <= int(e.size * scale) <= 64 * 1024
    for p in pick(upper, n_edit, editable):
        e, li = entry(p), visible[p]
        old = _content(e, scale, seed)
        new = _edit_text(old, random.Random(r.random()))
        overrides[li][p] = {"data": new, "mtime": REBUILD_MTIME}
        note("edit", p, li, size_a=len(old), size_b=len(new))
    # Binary rebuilds of big files.
    for p in pick(upper, n_bin, lambda p: entry(p).content == mi.BIG):
        e, li = entry(p), visible[p]
        overrides[li][p] = {"data": _patch_binary(_content(e, scale, seed), random.Random(r.random())), "mtime": REBUILD_MTIME}
        note("binary", p, li, size=int(e.size * scale))
    # chmod.
    for p in pick(upper, n_mode, lambda p: True):
        e, li = entry(p), visible[p]
        mode = 0o644 if e.mode & 0o111 else 0o755
        overrides[li][p] = {"mode": mode}
        note("mode", p, li, mode_a=oct(e.mode), mode_b=oct(mode))
    # mtime only.
    for p in pick(upper, n_mtime, lambda p: True):
        overrides[visible[p]][p] = {"mtime": REBUILD_MTIME + 3600}
        note("mtime", p, visible[p])
    # Removals: dropped from the layer that created them (nothing below to show through) ...
    n_drop = n_rm * 5 // 8
    dropped = pick(upper, n_drop, lambda p: seen_below[p] == visible[p])
    for p in dropped:
        plan[visible[p]] = [e for e in plan[visible[p]] if e.path != p]
        note("removed (not written)", p, visible[p])
    # ... and base-layer files deleted by a whiteout in layer 4.
    top = plan[4]
    for p in pick(base, n_rm - len(dropped), lambda p: True):
        parent, name = p.rsplit("/", 1)
        top.append(mi.PlanEntry(f"{parent}/.wh.{name}", mi.WHITEOUT))
        note("removed (whiteout)", p, 4, from_layer=visible[p])
    # Additions: a new package directory in layer 4, and files in existing directories of layer 3.
    seed_counter = 10**12 + change_seed * 1_000_003
    new_dir = f"usr/share/pkg-rebuild-{change_seed:04d}"
    dirs3 = sorted({p.rsplit("/", 1)[0] for p in visible if visible[p] == 3})
    for k in range(n_add):
        seed_counter += 1
        li = 4 if k < n_add // 2 or 3 not in changed_layers else 3
        d = new_dir if li == 4 else dirs3[r.randrange(len(dirs3))]
        p = f"{d}/added-{k:03d}.{('txt', 'py', 'json', 'conf')[k % 4]}"
        plan[li].append(mi.PlanEntry(p, mi.FILE, mi._small_size(r), mi.TEXT, seed_counter))
        overrides[li][p] = {"mtime": REBUILD_MTIME}
        note("added", p, li)
    # Parent directories of what was added, and the make_image order.
    for li in changed_layers:
        have = {e.path for e in plan[li]}
        for e in list(plan[li]):
            for parent in mi._parents(e.path):
                if parent not in have:
                    have.add(parent)
                    plan[li].append(mi.PlanEntry(parent, mi.DIR, mode=0o755))
        plan[li].sort(key=lambda e: e.path.split("/"))
    return plan, overrides, log


# --------------------------------------------------------------------------- writing


def write_layer(args: tuple) -> dict:
    """make_image.write_layer with per-path overrides of content, mode and mtime."""
    entries, scale, compress, seed, tmp_path, overrides = args
    t0 = time.perf_counter()
    with open(tmp_path, "wb") as fp:
        sink = mi._Sink(fp, compress)
        for e in entries:
            o = overrides.get(e.path, {})
            data = o.get("data")
            size = len(data) if data is not None else int(e.size * scale) if e.kind == mi.FILE else 0
            ti = mi._tarinfo(e, size)
            ti.mode = o.get("mode", ti.mode)
            ti.mtime = o.get("mtime", ti.mtime)
            sink.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            if size:
                if data is not None:
                    for i in range(0, size, 65536):
                        sink.write(data[i:i + 65536])
                else:
                    for chunk in mi.iter_content(e, size, seed):
                        sink.write(chunk)
                if size % 512:
                    sink.write(bytes(512 - size % 512))
        sink.write(bytes(1024))
        sink.close()
    return {"tmp": tmp_path, "digest": "sha256:" + sink.blob.hexdigest(), "diff_id": "sha256:" + sink.diff.hexdigest(),
            "size": sink.csize, "uncompressed": sink.usize, "entries": len(entries), "seconds": time.perf_counter() - t0}


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def make_pair(a_info: dict, out: Path, changes: int, change_seed: int, jobs: int | None = None, quiet: bool = False,
              top_only: bool = False) -> dict:
    changed_layers = (4,) if top_only else CHANGED_LAYERS
    t0 = time.perf_counter()
    p = a_info["params"]
    a = Path(a_info["path"])
    plan, overrides, log = plan_pair(p["files"], p["seed"], p["scale"], changes, change_seed, changed_layers)
    if out.exists():
        shutil.rmtree(out)
    (out / "blobs" / "sha256").mkdir(parents=True)
    mi.pools(p["seed"])
    tasks = {li: (plan[li], p["scale"], p["compress"], p["seed"], str(out / f".layer{li}.tmp"), overrides[li]) for li in changed_layers}
    order = sorted(changed_layers, key=lambda li: -mi.LAYER_BUDGET_MIB[li])
    jobs = jobs or min(len(tasks), os.cpu_count() or 1)
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        done = dict(zip(order, pool.map(write_layer, [tasks[li] for li in order], chunksize=1)))
    layers = []
    for li, la in enumerate(a_info["layers"]):
        if li in done:
            info = done[li]
            os.replace(info["tmp"], _blob(out, info["digest"]))
            layers.append({k: v for k, v in info.items() if k != "tmp"} | {"changed": True})
        else:
            shutil.copyfile(_blob(a, la["digest"]), _blob(out, la["digest"]))  # a separate copy, same bytes
            layers.append(dict(la) | {"changed": False})

    index_a = json.loads((a / "index.json").read_bytes())
    manifest_a = json.loads(_blob(a, index_a["manifests"][0]["digest"]).read_bytes())
    config = json.loads(_blob(a, manifest_a["config"]["digest"]).read_bytes())
    config["created"] = REBUILD_CREATED
    config["rootfs"]["diff_ids"] = [layer["diff_id"] for layer in layers]
    for li in changed_layers:
        config["history"][li]["created"] = REBUILD_CREATED
    config_desc = mi._put_blob(out, mi._dump(config))
    manifest = dict(manifest_a)
    manifest["config"] = {**manifest_a["config"], **config_desc}
    manifest["layers"] = [{"mediaType": mi.GZIP_LAYER, "digest": layer["digest"], "size": layer["size"]} for layer in layers]
    manifest_desc = mi._put_blob(out, mi._dump(manifest))
    index = {"schemaVersion": 2, "manifests": [{**index_a["manifests"][0], **manifest_desc}]}
    (out / "index.json").write_bytes(mi._dump(index))
    (out / "oci-layout").write_bytes(mi._dump({"imageLayoutVersion": "1.0.0"}))

    counts: dict[str, int] = {}
    for c in log:
        counts[c["change"]] = counts.get(c["change"], 0) + 1
    summary = {
        "path": str(out),
        "params": {"a": str(a), "a_manifest_digest": a_info["manifest_digest"], "a_params": p,
                   "changes": changes, "change_seed": change_seed, **({"top_only": True} if top_only else {})},
        "manifest_digest": manifest_desc["digest"],
        "layers": layers,
        "changed_layers": [li for li, layer in enumerate(layers) if layer["changed"]],
        "entries": sum(len(entries) for entries in plan),
        "uncompressed_bytes": sum(layer["uncompressed"] for layer in layers),
        "compressed_bytes": sum(layer["size"] for layer in layers),
        "change_counts": counts,
        "changed_files": len(log),
        "changes": log,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out.parent / (out.name + ".json")).write_text(json.dumps(summary, indent=2) + "\n")
    if not quiet:
        print(f"{out}: {len(log)} changed files {counts}; layers {summary['changed_layers']} rewritten, "
              f"others copied from {a}; {summary['seconds']} s", file=sys.stderr)
    return summary


def ensure_pair(work: Path, files: int = 50_000, scale: float = 1.0, seed: int = 1, compress: str = "isal:2",
                changes: int = 300, change_seed: int = 7, jobs: int | None = None, top_only: bool = False) -> tuple[dict, dict]:
    """(A's summary, B's summary), reusing both when their stamps match and their blobs exist."""
    a_info = mi.ensure_image(image_a_path(work, files, scale, seed), scale, files, seed, compress, jobs)
    b = image_b_path(Path(a_info["path"]), changes, change_seed, top_only)
    stamp = b.parent / (b.name + ".json")
    want = {"a": a_info["path"], "a_manifest_digest": a_info["manifest_digest"], "a_params": a_info["params"],
            "changes": changes, "change_seed": change_seed, **({"top_only": True} if top_only else {})}
    if stamp.exists() and (b / "index.json").exists():
        try:
            b_info = json.loads(stamp.read_text())
            if b_info.get("params") == want and all(
                    _blob(b, layer["digest"]).stat().st_size == layer["size"] for layer in b_info["layers"]):
                b_info["reused"] = True
                return a_info, b_info
        except (OSError, ValueError, KeyError):
            pass
    return a_info, make_pair(a_info, b, changes, change_seed, jobs, top_only=top_only)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=HERE / "work", help="where the images go (default benchmarks/work)")
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1, help="image A's seed (make_image.py)")
    ap.add_argument("--compress", default="isal:2")
    ap.add_argument("--changes", type=int, default=300, help="changed files of the merged tree, about; default 300")
    ap.add_argument("--change-seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--top-only", action="store_true",
                    help="change only layer 4 (B shares layers 0-3 with A); B gets a -top suffix")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    a_info, b_info = ensure_pair(args.work, args.files, args.scale, args.seed, args.compress, args.changes, args.change_seed, args.jobs,
                                 args.top_only)
    print(json.dumps({"a": a_info["path"], "a_reused": bool(a_info.get("reused")), "b": b_info["path"],
                      "b_reused": bool(b_info.get("reused")), "changed_layers": b_info["changed_layers"],
                      "change_counts": b_info["change_counts"], "changed_files": b_info["changed_files"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
