#!/usr/bin/env python3
"""Benchmark `inspectr diff A B` against a decompress+hash baseline and diffoscope.

    python benchmarks/bench_diff.py                     # full run (make_pair.py's default pair), ~5-15 min
    python benchmarks/bench_diff.py --runs 5 --md benchmarks/work/diff-results.md --json benchmarks/work/diff-results.json
    python benchmarks/bench_diff.py --files 5000 --scale 0.1 --changes 60 --runs 1   # quick check

The pair: A = make_image.py's image (~1 GB, 5 gzip layers, 50 000 files), B = A rebuilt with
~300 changed files in layers 2-4 (make_pair.py; layers 0-1 are byte-identical copies).

Measured, each in a fresh child through GNU time (`/usr/bin/time`, as bench_ls.py does), rounds
interleaved (baseline 1p, baseline 2p, inspectr diff, inspectr diff --semantic, then again),
best of `--runs` wall times, page cache warm (every blob read once before timing):

  baseline 1p   for every layer blob of both images (10 blobs, the shared ones too, as inspectr
                reads them: they are different files), inflate with ISA-L and sha256 the output
                (the diff_id), checked against the config, in one process. bench_ls.py's floor, for
                two images (its `_layers` and `_floor_layer` are reused).
  baseline 2p   the same, blobs spread over 2 processes, largest first.
  inspectr diff `inspectr diff A B --format json` (stdout to /dev/null), expected exit 1.
  --semantic    `inspectr diff --semantic A B --format json`, expected exit 1 (content changes).

Plus one extra, untimed-for-the-table run per tool sampling the summed PSS of the process tree
(bench_ls.py's tree PSS), and diffoscope once (10-minute timeout, see --diffoscope-timeout):

  diffoscope (OCI layouts)  the two layout directories as they are. Blob file names are digests,
                            so changed blobs never pair up: it reports the file list, index.json
                            and directory stat noise, and never opens a changed layer.
  diffoscope (layer tars)   two directories a/ and b/ holding each image's config.json,
                            manifest.json and layer-N.tar.gz (hard links to the blobs, paired by
                            layer position), with --exclude-directory-metadata=yes: it gunzips and
                            compares the tars member by member. This is the run in the table.

Peak RSS is GNU time's %M: the largest single process of the tree (not the sum; see tree PSS).
If `inspectr diff` misses the target (wall <= 1.3x baseline 1p, peak RSS <= 300 MB), it is
profiled with py-spy (`--profile auto`, the default) and the hotspots are added to the report,
with an in-process wall-clock split of its phases.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_ls as bl  # noqa: E402  (benchmarks/bench_ls.py)
import make_pair as mp  # noqa: E402  (benchmarks/make_pair.py)

TARGET_WALL = 1.3
TARGET_RSS_BYTES = 300_000_000
DIFFOSCOPE_TIMEOUT_S = 600.0
LAYER_TARS_OPTIONS = ["--exclude-directory-metadata=yes"]  # diffoscope's options for the layer-tar run


# --------------------------------------------------------------------------- the baseline (child)


def baseline_main(images: list[Path], procs: int, full: bool = False) -> int:
    tasks, want = [], {}
    for image in images:
        layers, diff_ids = bl._layers(image)
        for layer, diff_id in zip(layers, diff_ids):
            path = str(image / "blobs" / "sha256" / layer["digest"].split(":", 1)[1])
            tasks.append((path, layer["digest"], full))
            want[path] = diff_id
    if procs <= 1:
        got = [bl._floor_layer(t) for t in tasks]
    else:
        import multiprocessing

        tasks.sort(key=lambda t: -os.path.getsize(t[0]))
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            got = pool.map(bl._floor_layer, tasks, chunksize=1)
    for task, (_, diff_id) in zip(tasks, got):
        if diff_id != want[task[0]]:
            raise SystemExit(f"baseline: {task[0]}: diff_id mismatch")
    return 0


# --------------------------------------------------------------------------- measuring


class Tool(bl.Tool):
    """bench_ls.Tool with accepted exit codes, reported in the summary."""

    def __init__(self, name: str, cmd: list[str], note: str = "", ok: tuple[int, ...] = (0,)) -> None:
        super().__init__(name, cmd, note, ok=ok)

    def summary(self) -> dict:
        return super().summary() | {"exits": sorted({r["exit"] for r in self.runs})}


# --------------------------------------------------------------------------- diffoscope


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def layer_dirs(pairs: list[tuple[str, Path]], root: Path) -> list[Path]:
    """root/<side>/ with config.json, manifest.json and layer-N.tar.gz: hard links to the blobs."""
    out = []
    for side, layout in pairs:
        d = root / side
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        index = json.loads((layout / "index.json").read_bytes())
        manifest_path = _blob(layout, index["manifests"][0]["digest"])
        manifest = json.loads(manifest_path.read_bytes())
        os.link(manifest_path, d / "manifest.json")
        os.link(_blob(layout, manifest["config"]["digest"]), d / "config.json")
        for i, layer in enumerate(manifest["layers"]):
            os.link(_blob(layout, layer["digest"]), d / f"layer-{i}.tar.gz")
        out.append(d)
    return out


def diffoscope_cmd(inputs: list[Path], report: Path, extra: list[str]) -> list[str]:
    """diffoscope comparing `inputs`, its text report written to `report`."""
    return [shutil.which("diffoscope") or "diffoscope", *extra, "--text", str(report), *map(str, inputs)]


def run_diffoscope(name: str, inputs: list[Path], report: Path, timeout: float, extra: list[str], tmp: Path) -> dict:
    """One measured diffoscope run; its text report goes to `report`, its temp files under `tmp`."""
    cmd = diffoscope_cmd(inputs, report, extra)
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp))
    print(f"  [diffoscope] {name}: {' '.join(cmd)} (timeout {timeout:.0f} s)", file=sys.stderr, flush=True)
    try:
        r = bl.run_measured(cmd, ok=(0, 1), timeout=timeout, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r.update(name=name, cmd=" ".join(cmd), timeout_s=timeout)
    r.update(_describe_report(report))
    state = "did not finish in %.0f s" % timeout if r["timed_out"] else f"exit {r['exit']}"
    print(f"  [diffoscope] {name}: {r['wall_s']:.1f} s, peak RSS {r['maxrss_kb'] / 1024:.0f} MiB, {state}, "
          f"report {r.get('report_bytes', 0)} bytes", file=sys.stderr, flush=True)
    return r


def _describe_report(report: Path) -> dict:
    """What a diffoscope text report contains: sections per depth, member diffs, file lists."""
    if not report.exists():
        return {"report_bytes": 0}
    text = report.read_text(errors="replace")
    heads = re.findall(r"^((?:│ )*)├── (.*)$", text, flags=re.M)
    depth: dict[int, int] = {}
    for prefix, _ in heads:
        depth[len(prefix) // 2] = depth.get(len(prefix) // 2, 0) + 1
    titles = [t for _, t in heads]
    members = [t for p, t in heads if len(p) // 2 == 2 and t not in ("file list",) and not t.startswith("stat")]
    return {
        "report_bytes": len(text.encode()),
        "report_lines": text.count("\n"),
        "sections_by_depth": depth,
        "file_list_sections": sum(1 for t in titles if t == "file list"),
        "member_sections": len(members),
        "member_sample": members[:5],
        "top_sections": [t for p, t in heads if len(p) == 0][:20],
        "compared_inputs": sorted(set(re.findall(r"^(?:│ )*(?:├── )?\+\+\+ (\S+)", text, flags=re.M)))[:20],
    }


# --------------------------------------------------------------------------- profile


DIFF_CATEGORIES = [
    ("content re-read for text diffs (_refine_contents: inflate, sha256, spool)", lambda leaf, st: "_refine_contents" in st and "difflib" not in st and "_unified" not in st),
    ("unified text diffs (difflib)", lambda leaf, st: "difflib" in st or "_unified" in st),
    ("merged-tree comparison (compare_trees)", lambda leaf, st: "compare_trees" in st),
    ("layer / hidden-content comparison", lambda leaf, st: "compare_layers" in st or "compare_hidden_content" in st),
    ("JSON output (difference_to_json, json.dump)", lambda leaf, st: "difference_to_json" in st or "json/encoder" in leaf),
]


def profile(a: str, b: str, inspectr: str, raw: Path, rate: int, top: int) -> str:
    import profile_ls as pl  # benchmarks/profile_ls.py: py-spy raw parsing and the tables

    pyspy = shutil.which("py-spy")
    if not pyspy:
        return "py-spy not found (`pip install py-spy`): no profile"
    cmd = [pyspy, "record", "--subprocesses", "--rate", str(rate), "--format", "raw", "-o", str(raw), "--",
           inspectr, "diff", a, b, "--format", "json"]
    with open(os.devnull, "wb") as devnull:
        subprocess.run(cmd, stdout=devnull, stderr=subprocess.DEVNULL)
    saved = pl.CATEGORIES
    pl.CATEGORIES = DIFF_CATEGORIES + saved
    try:
        table = pl.report(pl.parse(raw), top)
    finally:
        pl.CATEGORIES = saved
    return f"`{' '.join(cmd)}`\n\n" + table


def phases(a_ref: str, b_ref: str) -> str:
    """Wall time of each phase of `inspectr diff --format json`, in-process, through the library API
    (the steps of inspectr.diff.engine.compare_images, timed one by one)."""
    t0 = time.perf_counter()
    cpu0 = os.times()
    from inspectr import Limits, open_image
    from inspectr.diff import engine
    from inspectr.diff.options import DiffOptions
    from inspectr.session import Session
    from inspectr.present.diff_json import difference_to_json

    t1 = time.perf_counter()
    a, b = open_image(a_ref, platform=None, limits=Limits()), open_image(b_ref, platform=None, limits=Limits())
    t2 = time.perf_counter()
    arrived: list[float] = []
    pair = engine.index_pair(a, b, session=Session(progress=_Arrivals(arrived, t2)))
    t3 = time.perf_counter()
    options = DiffOptions()
    changes = []
    changes += engine.compare_format(a, b) + engine.compare_manifests(a, b) + engine.compare_configs(a, b) + engine.compare_history(a, b)
    t4 = time.perf_counter()
    file_changes = engine.compare_trees(pair.tree_a, pair.tree_b, engine._created_by(a), engine._created_by(b))
    t5 = time.perf_counter()
    changed = {c.path for c in file_changes} | {c.renamed_from for c in file_changes if c.renamed_from}
    hidden = engine.compare_hidden_content(a, b, pair.indexes_a, pair.indexes_b, pair.tree_a, pair.tree_b, changed)
    changes += engine.compare_layers(a, b, pair.indexes_a, pair.indexes_b, changed | {c.path for c in hidden}) + hidden
    t6 = time.perf_counter()
    engine._refine_contents(pair, file_changes, options, Session())
    t7 = time.perf_counter()
    result = engine.compare_images(pair, options)  # the real thing, to time the JSON of its result
    t8 = time.perf_counter()
    with open(os.devnull, "w") as out:
        json.dump(difference_to_json(result), out, indent=2)
    t9 = time.perf_counter()
    cpu = os.times()
    rows = [("import inspectr (mostly already loaded by the harness)", t1 - t0), ("open both images (index, manifest, config)", t2 - t1),
            ("index_pair: index both images' layers (worker processes) + 2 union trees", t3 - t2),
            ("compare format/manifest/config/history", t4 - t3), ("compare_trees (merged filesystems)", t5 - t4),
            ("compare_hidden_content + compare_layers", t6 - t5), ("_refine_contents (re-read changed files, text diffs)", t7 - t6),
            ("JSON output to /dev/null", t9 - t8)]
    return bl.phase_report(
        rows, (f"total (without the repeated compare_images, {t8 - t7:.2f} s)", t9 - t0 - (t8 - t7)),
        f"index_pair's progress callbacks fired at {', '.join(f'{x:.2f}' for x in arrived)} s into indexing "
        "(CPU below: the whole split, including the repeated compare).", cpu0, cpu)


# --------------------------------------------------------------------------- report


def _mib(kb: int | None) -> str:
    return bl._mib(kb)


def markdown(res: dict) -> str:
    m = res["machine"]
    p = m["parallel_probe"]
    a, b = res["pair"]["a"], res["pair"]["b"]
    out = [
        "# `inspectr diff` benchmark",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, isal {m['isal']}, {m['diffoscope']}. "
        f"inspectr {m['inspectr_git']} (source sha256 {res.get('inspectr_source_sha256', '?')}).",
        f"Parallel probe: 1 GiB sha256 in 1 process {p['one_proc_s']:.2f} s, in each of 2 concurrent processes "
        f"{p['two_procs_s']:.2f} s (2-process speedup {p['speedup_2p']:.2f}x of an ideal 2x).",
        f"Run {res['started']}, total {res['total_s']:.0f} s. Page cache warm; every timed command is a fresh child under "
        f"`/usr/bin/time`; rounds interleaved; best of {res['runs']} (diffoscope once).",
        "",
        "## Inputs",
        "",
        f"- **A** `{a['path']}`: {len(a['layers'])} gzip layers ({a['params']['compress']}), {a['entries']} entries "
        f"({a['params']['files']} regular files), {a['uncompressed_bytes'] / 1e9:.3f} GB uncompressed, "
        f"{a['compressed_bytes'] / 1e9:.3f} GB compressed; {'reused' if a.get('reused') else 'generated'} (make_image.py, seed {a['params']['seed']}).",
        f"- **B** `{b['path']}`: A rebuilt with {b['changed_files']} changed files "
        f"({', '.join(f'{n} {k}' for k, n in b['change_counts'].items())}), config `created` and the history `created` of "
        f"the rebuilt layers moved to 2024-06-01; {b['entries']} entries, {b['uncompressed_bytes'] / 1e9:.3f} GB uncompressed, "
        f"{b['compressed_bytes'] / 1e9:.3f} GB compressed; {'reused' if b.get('reused') else 'generated'} (make_pair.py, "
        f"change seed {b['params']['change_seed']}).",
        f"- Layers: " + ", ".join(
            f"{i}: {'**differs**' if lb['changed'] else 'same blob'} ({la['size'] / 1e6:.0f} → {lb['size'] / 1e6:.0f} MB gz)"
            for i, (la, lb) in enumerate(zip(a["layers"], b["layers"]))) + ".",
        "",
        "## Results",
        "",
        f"| tool | best wall s | median wall s | vs baseline 1p | vs baseline 2p | CPU s (best run) | peak RSS MiB | tree PSS MiB | exit | background cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    tools = res["tools"]
    f1 = next(t for t in tools if t["name"] == "baseline 1p")["best_wall_s"]
    f2 = next(t for t in tools if t["name"] == "baseline 2p")["best_wall_s"]
    for t in tools:
        out.append(f"| {t['name']} | {t['best_wall_s']:.2f} | {t['median_wall_s']:.2f} | {t['best_wall_s'] / f1:.2f}x | "
                   f"{t['best_wall_s'] / f2:.2f}x | {t['cpu_s_of_best']:.2f} | {_mib(t['peak_rss_kb'])} | {_mib(t['tree_pss_kb'])} | "
                   f"{','.join(map(str, t['exits']))} | {t['background_cores_of_best']:.2f} |")
    ds = res.get("diffoscope", {})
    for key in ("layers", "oci"):
        d = ds.get(key)
        if not d:
            continue
        wall = f"did not finish in {d['timeout_s']:.0f} s" if d["timed_out"] else f"{d['wall_s']:.2f}"
        ratio = "-" if d["timed_out"] else f"{d['wall_s'] / f1:.2f}x"
        ratio2 = "-" if d["timed_out"] else f"{d['wall_s'] / f2:.2f}x"
        out.append(f"| {d['name']} | {wall} | (1 run) | {ratio} | {ratio2} | {d['user_s'] + d['sys_s']:.2f} | "
                   f"{_mib(d['maxrss_kb'])} | - | {'timeout' if d['timed_out'] else d['exit']} | {d['background_cores']:.2f} |")
    out.append("")
    out.append("Commands (stdout to /dev/null; `A`, `B` as above):")
    out.append("")
    for t in tools:
        out.append(f"- **{t['name']}**: `{t['cmd']}` — {t['note']}")
    for key in ("layers", "oci"):
        d = ds.get(key)
        if d:
            out.append(f"- **{d['name']}**: `timeout -k 10 {d['timeout_s']:.0f} {d['cmd']}` — {d['note']}")
    if ds.get("not_run"):
        out.append(f"- **diffoscope**: not run — {ds['not_run']}")
    out.append("")

    t_diff = next(t for t in tools if t["name"] == "inspectr diff")
    ok_wall = t_diff["best_wall_s"] / f1 <= TARGET_WALL
    ok_rss = t_diff["peak_rss_kb"] * 1024 <= TARGET_RSS_BYTES
    out += [
        "## Ratios and targets",
        "",
        f"- `inspectr diff`: {t_diff['best_wall_s']:.2f} s = **{t_diff['best_wall_s'] / f1:.2f}x baseline 1p** "
        f"(target ≤ {TARGET_WALL}x: {'met' if ok_wall else '**missed**'}), {t_diff['best_wall_s'] / f2:.2f}x baseline 2p; "
        f"peak RSS {t_diff['peak_rss_kb'] / 1024:.0f} MiB = {t_diff['peak_rss_kb'] * 1024 / 1e6:.0f} MB "
        f"(target ≤ 300 MB: {'met' if ok_rss else '**missed**'}), tree PSS {_mib(t_diff['tree_pss_kb'])} MiB.",
    ]
    t_sem = next((t for t in tools if t["name"] == "inspectr diff --semantic"), None)
    if t_sem:
        out.append(f"- `inspectr diff --semantic`: {t_sem['best_wall_s']:.2f} s = {t_sem['best_wall_s'] / f1:.2f}x baseline 1p, "
                   f"peak RSS {t_sem['peak_rss_kb'] * 1024 / 1e6:.0f} MB.")
    d = ds.get("layers")
    if d:
        if d["timed_out"]:
            out.append(f"- diffoscope (layer tars): did not finish in {d['timeout_s']:.0f} s (> {d['timeout_s'] / f1:.0f}x baseline 1p).")
        else:
            out.append(f"- diffoscope (layer tars): {d['wall_s']:.1f} s = {d['wall_s'] / f1:.1f}x baseline 1p, "
                       f"{d['wall_s'] / t_diff['best_wall_s']:.1f}x inspectr diff; peak RSS {d['maxrss_kb'] * 1024 / 1e6:.0f} MB.")
    out.append("")

    v = res.get("inspectr_output")
    if v:
        out += ["## What `inspectr diff` reported (one extra untimed run, default options)", "",
                f"Exit {v['exit']}, verdict `{v['verdict']}`: {v['explanation']}", "",
                f"- changes by (subject, change, cause): {v['by_kind']}",
                f"- of make_pair.py's {v['expected']} planned file changes, {v['expected'] - len(v['missing'])} are reported as file changes"
                + (f"; missing: {v['missing'][:10]}" if v["missing"] else "") + ".",
                f"- file changes not in the plan: {v['extra_count']} ({v['extra_sample']}) — parent directories of added files.",
                f"- {v['content_diffs']} changes carry a unified text diff; notes: {v['notes']}.",
                ""]
    if ds:
        out += ["## diffoscope: what it was given and what it did", ""]
        for key in ("oci", "layers"):
            d = ds.get(key)
            if not d:
                continue
            state = f"did not finish in {d['timeout_s']:.0f} s" if d["timed_out"] else f"finished in {d['wall_s']:.1f} s, exit {d['exit']}"
            out.append(f"- **{d['name']}** ({state}, peak RSS {d['maxrss_kb'] / 1024:.0f} MiB): given {d['given']}. "
                       f"Report `{d['report']}`: {d.get('report_bytes', 0)} bytes, {d.get('report_lines', 0)} lines; "
                       f"sections per depth {d.get('sections_by_depth', {})}; {d.get('file_list_sections', 0)} `file list` sections; "
                       f"{d.get('member_sections', 0)} sections at depth 2 (tar members in the layer-tar run; e.g. {d.get('member_sample', [])[:3]}). "
                       f"Top-level sections: {d.get('top_sections', [])}.")
        out.append("")
    if res.get("interpretation"):
        out += ["## Interpretation", "", res["interpretation"], ""]
    if res.get("profile"):
        out += [f"## Profile of `inspectr diff` ({'target missed' if res.get('target_missed') else 'target met; profiled on request'})",
                *([res["profile_note"], ""] if res.get("profile_note") else []), "", res["profile"], ""]
    if res.get("phases"):
        out += ["### Phases of `inspectr diff` (in-process, no profiler)", "", res["phases"], ""]
    if res.get("warning"):
        out += [f"**WARNING**: {res['warning']}", ""]
    out += ["## Reproduce", "", "```", *res["reproduce"], "```", ""]
    return "\n".join(out)


def check_output(a: str, b: str, inspectr: str, b_info: dict, dest: Path) -> dict:
    """One untimed `inspectr diff --format json` run, kept in `dest`, checked against make_pair's plan."""
    with open(dest, "wb") as fp:
        rc = subprocess.run([inspectr, "diff", a, b, "--format", "json"], stdout=fp).returncode
    d = json.loads(dest.read_text())
    by_kind: dict[str, int] = {}
    for c in d["changes"]:
        k = f"{c['subject']}/{c['change']}/{c['cause']}"
        by_kind[k] = by_kind.get(k, 0) + 1
    files = {c["path"] for c in d["changes"] if c["subject"] == "file"}
    planned = {c["path"] for c in b_info["changes"]}
    notes: dict[str, int] = {}
    for c in d["changes"]:
        if c.get("note"):
            key = re.sub(r"\d+", "N", c["note"])[:70]
            notes[key] = notes.get(key, 0) + 1
    extra = sorted(files - planned)
    return {"exit": rc, "verdict": d["verdict"], "explanation": d["explanation"], "by_kind": by_kind,
            "expected": len(planned), "missing": sorted(planned - files), "extra_count": len(extra), "extra_sample": extra[:3],
            "content_diffs": sum(1 for c in d["changes"] if c.get("content_diff")), "notes": notes}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_baseline":
        ap = argparse.ArgumentParser(prog="bench_diff.py _baseline")
        ap.add_argument("images", type=Path, nargs="+")
        ap.add_argument("--procs", type=int, default=1)
        ap.add_argument("--full", action="store_true",
                        help="also sha256 the compressed blob and the inflated bytes a second time (the three streams "
                             "a verifying indexer hashes: blob digest, diff_id, file contents)")
        a = ap.parse_args(argv[1:])
        return baseline_main(a.images, a.procs, a.full)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool (best wins); default 3")
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compress", default="isal:2")
    ap.add_argument("--changes", type=int, default=300)
    ap.add_argument("--change-seed", type=int, default=7)
    ap.add_argument("--inspectr", default=shutil.which("inspectr") or "inspectr")
    ap.add_argument("--no-semantic", action="store_true", help="skip `inspectr diff --semantic`")
    ap.add_argument("--no-info", action="store_true", help="skip the informational `inspectr diff --no-content` row")
    ap.add_argument("--diffoscope-timeout", type=float, default=DIFFOSCOPE_TIMEOUT_S, help="seconds; default 600")
    ap.add_argument("--no-diffoscope", action="store_true")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="py-spy profile of inspectr diff: when it misses the target (auto), always, never")
    ap.add_argument("--idle-wait", type=float, default=10.0)
    ap.add_argument("--idle-budget", type=float, default=120.0)
    ap.add_argument("--idle-threshold", type=float, default=0.25)
    ap.add_argument("--md", type=Path, default=HERE / "work" / "diff-results.md", help="Markdown report (default benchmarks/work/diff-results.md)")
    ap.add_argument("--json", type=Path, default=HERE / "work" / "diff-results.json")
    ap.add_argument("--interpretation", type=Path, help="Markdown file whose text goes under 'Interpretation'")
    ap.add_argument("--profile-only", action="store_true",
                    help="measure nothing: profile inspectr diff on the pair in --json and re-render --md")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: re-render --md from the results in --json (e.g. to add --interpretation)")
    args = ap.parse_args(argv)
    if args.profile_only:  # add (or replace) the profile of an earlier run's results, then re-render
        res = json.loads(args.json.read_text())
        A, B = res["pair"]["a"]["path"], res["pair"]["b"]["path"]
        res["profile"] = profile(A, B, args.inspectr, args.work / "diff-profile.raw", 250, 15)
        res["phases"] = phases(A, B)
        res["profile_note"] = (f"profiled {time.strftime('%Y-%m-%d %H:%M:%S %Z')} (--profile-only), inspectr source sha256 "
                               f"{bl._combined(bl.source_fingerprint())}")
        args.render_only = True
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    if args.render_only:
        res = json.loads(args.json.read_text())
        if args.interpretation:
            res["interpretation"] = args.interpretation.read_text().strip()
            args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        args.md.write_text(markdown(res))
        print(f"re-rendered {args.md}")
        return 0
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    bl._IDLE_BUDGET[0] = args.idle_budget
    args.work.mkdir(parents=True, exist_ok=True)

    a_info, b_info = mp.ensure_pair(args.work, args.files, args.scale, args.seed, args.compress, args.changes, args.change_seed)
    A, B = a_info["path"], b_info["path"]
    print(f"A {A} ({'reused' if a_info.get('reused') else 'generated'}), B {B} ({'reused' if b_info.get('reused') else 'generated'}), "
          f"changed layers {b_info['changed_layers']}", file=sys.stderr)
    for info in (a_info, b_info):
        for layer in info["layers"]:
            with open(_blob(Path(info["path"]), layer["digest"]), "rb", buffering=0) as fp:
                while fp.read(1 << 22):
                    pass

    fingerprint = bl.source_fingerprint()
    machine = bl.machine_info()
    machine["diffoscope"] = bl._cmd_version(["diffoscope", "--version"]) if shutil.which("diffoscope") else "diffoscope not installed"
    me = [sys.executable, str(Path(__file__).resolve()), "_baseline"]
    tools = [
        Tool("baseline 1p", me + [A, B], f"inflate ({bl.GZIP_LIB}) + sha256 of all 10 layer blobs of both images, 1 process"),
        Tool("baseline 2p", me + [A, B, "--procs", "2"], "the same, blobs spread over 2 processes (largest first)"),
        Tool("inspectr diff", [args.inspectr, "diff", A, B, "--format", "json"], "expected exit 1", ok=(1,)),
    ]
    if not args.no_semantic:
        tools.append(Tool("inspectr diff --semantic", [args.inspectr, "diff", "--semantic", A, B, "--format", "json"],
                          "expected exit 1 (content changes stay unaccepted)", ok=(1,)))
    if not args.no_info:
        tools.append(Tool("(info) inspectr diff --no-content", [args.inspectr, "diff", A, B, "--format", "json", "--no-content"],
                          "informational: the same without re-reading changed files (no text diffs, no content classes); "
                          "the difference to `inspectr diff` is the cost of the second pass", ok=(1,)))
    quiet = (args.idle_wait, args.idle_threshold)
    print(f"{args.runs} rounds", file=sys.stderr)
    bl.run_rounds(tools, args.runs, "diff", quiet)
    res: dict = {"machine": machine, "started": started, "runs": args.runs, "params": vars(args) | {
        "work": str(args.work), "md": str(args.md), "json": str(args.json), "interpretation": str(args.interpretation)},
        "pair": {"a": a_info, "b": {k: v for k, v in b_info.items() if k != "changes"} | {"changes": b_info["changes"]}},
        "tools": [t.summary() for t in tools]}
    res["inspectr_output"] = check_output(A, B, args.inspectr, b_info, args.work / "diff-output.json")

    if args.no_diffoscope or not shutil.which("diffoscope"):
        res["diffoscope"] = {"not_run": "--no-diffoscope" if args.no_diffoscope else "diffoscope not installed (apt-get install diffoscope-minimal)"}
    else:
        ds: dict = {}
        bl.wait_for_quiet(*quiet)
        r = run_diffoscope("diffoscope (OCI layouts)", [Path(A), Path(B)], args.work / "diffoscope-oci.txt",
                           min(args.diffoscope_timeout, 600), [], args.work / "diffoscope-tmp")
        r.update(report=str(args.work / "diffoscope-oci.txt"), given=f"the two OCI layout directories `{A}` and `{B}`",
                 note="the layouts as they are (default options)")
        ds["oci"] = r
        root = args.work / "diffoscope-in"
        da, db = layer_dirs([("a", Path(A)), ("b", Path(B))], root)
        bl.wait_for_quiet(*quiet)
        r = run_diffoscope("diffoscope (layer tars)", [da, db], args.work / "diffoscope-layers.txt",
                           args.diffoscope_timeout, LAYER_TARS_OPTIONS, args.work / "diffoscope-tmp")
        r.update(report=str(args.work / "diffoscope-layers.txt"),
                 given=f"two directories `{da}` and `{db}`, each with `manifest.json`, `config.json` and `layer-0.tar.gz` … "
                       f"`layer-{len(a_info['layers']) - 1}.tar.gz` (hard links to that image's blobs, so layer N of A pairs with layer N of B)",
                 note="each image's manifest, config and gzip layer blobs under position names, directory metadata excluded")
        ds["layers"] = r
        res["diffoscope"] = ds

    t_diff = next(t for t in res["tools"] if t["name"] == "inspectr diff")
    f1 = next(t for t in res["tools"] if t["name"] == "baseline 1p")["best_wall_s"]
    missed = t_diff["best_wall_s"] / f1 > TARGET_WALL or t_diff["peak_rss_kb"] * 1024 > TARGET_RSS_BYTES
    res["target_missed"] = missed
    if args.profile == "always" or (args.profile == "auto" and missed):
        print("profiling inspectr diff (py-spy)", file=sys.stderr)
        res["profile"] = profile(A, B, args.inspectr, args.work / "diff-profile.raw", 250, 15)
        res["phases"] = phases(A, B)

    res["total_s"] = time.perf_counter() - t_start
    res["inspectr_source_sha256"] = bl._combined(fingerprint)
    warning = bl.source_changed_warning(fingerprint)
    if warning:
        res["warning"] = warning
    if args.interpretation and args.interpretation.exists():
        res["interpretation"] = args.interpretation.read_text().strip()
    flags = [f"--runs {args.runs}"] + [f"--{k.replace('_', '-')} {getattr(args, k)}" for k, d in
             (("files", 50_000), ("scale", 1.0), ("seed", 1), ("changes", 300), ("change_seed", 7), ("profile", "auto")) if getattr(args, k) != d]
    res["reproduce"] = [
        "cd /work/main",
        "apt-get install -y diffoscope-minimal time   # diffoscope 240 on Debian 12; GNU time for peak RSS",
        "pip install py-spy                            # only for the profile",
        f"python benchmarks/make_pair.py" + "".join(" " + f for f in flags[1:]) + "   # A (reused if present) and B",
        f"python benchmarks/bench_diff.py {' '.join(flags)}",
    ]
    text = markdown(res)
    args.md.write_text(text)
    args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(text)
    print(f"(total benchmark time {res['total_s']:.0f} s; report {args.md})")
    return 0


class _Arrivals:
    """A Session progress sink that records when each layer's index arrived."""

    def __init__(self, out: list[float], start: float) -> None:
        self.out, self.start = out, start

    def layer_done(self, index: object) -> None:
        self.out.append(time.perf_counter() - self.start)


if __name__ == "__main__":
    sys.exit(main())
