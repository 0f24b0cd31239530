#!/usr/bin/env python3
"""Profile `inspectr ls IMAGE --format json` with py-spy (all processes) and list the hotspots.

    pip install py-spy
    python benchmarks/profile_ls.py benchmarks/work/img-f50000-s1 [--rate 250] [--raw /tmp/ls.raw]

py-spy samples the main process and the layer-indexing workers (`--subprocesses`). Time spent in
C (inflate, sha256, pickle) is charged to the Python line that called it, which is what the
tables show as `function (file:line)`. Shares are of all on-CPU samples in all processes (py-spy
0.4 labels a forked worker's samples with the parent's pid, so there is no per-process split).
`--phases` adds a wall-clock split of the phases of `ls`, measured in-process without the profiler.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ls import phase_report  # noqa: E402

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# (category, predicate over the leaf frame text and the whole stack)
CATEGORIES = [
    ("inflate (isal, in _GzipReader.read)", lambda leaf, st: "decompress.py" in leaf and "_GzipReader.read" in leaf),
    ("sha256 per file (TarWalker.consume -> StreamBlocks.feed)", lambda leaf, st: "StreamBlocks.feed" in leaf and "consume" in st),
    ("sha256 diff_id + buffering (StreamBlocks._pull/read)", lambda leaf, st: "StreamBlocks._pull" in leaf or "StreamBlocks.read" in leaf),
    ("sha256 compressed + file read (VerifyingReader/SliceReader)", lambda leaf, st: "VerifyingReader" in leaf or "SliceReader" in leaf),
    ("tar header parsing (TarWalker, tar.py)", lambda leaf, st: "untrusted/tar.py" in leaf),
    ("entry building (layer_index.py, paths.py, entry.py)", lambda leaf, st: any(f in leaf for f in ("layer_index.py", "untrusted/paths.py", "fs/entry.py"))),
    ("union tree (fs/tree.py)", lambda leaf, st: "fs/tree.py" in leaf),
    ("JSON output (present/, to_json)", lambda leaf, st: "present/" in leaf or "to_json" in leaf),
    ("worker result transfer (pickle/IPC, concurrent.futures, multiprocessing)", lambda leaf, st: any(f in leaf for f in ("multiprocessing", "concurrent/futures", "pickle", "copyreg"))),
    ("imports / startup", lambda leaf, st: "importlib" in st and "<module>" in st),
]


def parse(raw: Path) -> list[tuple[str, list[str], int]]:
    """[(process, frames root->leaf, count)]"""
    out = []
    for line in raw.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        proc = frames[0] if frames[0].startswith("process ") else ""
        if proc:
            frames = frames[1:]
        out.append((proc, frames, int(count)))
    return out


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for marker in ("/inspectr/", "/lib/python3.11/"):
        if marker in file:
            file = ("inspectr/" if marker == "/inspectr/" else "") + file.split(marker, 1)[1]
    return f"{m['func']} ({file}:{m['line']})" if m["line"] else f"{m['func']} ({file})"


def func_of(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", short(frame))


def report(samples: list[tuple[str, list[str], int]], top: int) -> str:
    total = sum(c for _, _, c in samples)
    procs: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    incl_func: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    for proc, frames, count in samples:
        procs[proc.split(":", 1)[0]] += count
        leaf = short(frames[-1]) if frames else "?"
        self_line[leaf] += count
        for f in {func_of(fr) for fr in frames}:
            incl_func[f] += count
        stack_text = ";".join(frames)
        for name, pred in CATEGORIES:
            if pred(leaf, stack_text):
                cats[name] += count
                break
        else:
            cats["other"] += count
    split = ", ".join(f"{p or 'unlabelled'}: {c * 100 / total:.0f}%" for p, c in procs.most_common())
    lines = [f"{total} on-CPU samples, main process and workers together ({split})", ""]
    lines += ["| self share | function (file:line) |", "|---:|---|"]
    lines += [f"| {c * 100 / total:.1f}% | `{k}` |" for k, c in self_line.most_common(top)]
    lines += ["", "| inclusive share | function |", "|---:|---|"]
    skip = ("<module>", "_bootstrap", "main (", "__call__", "invoke (", "_main (", "run (", "_process_worker", "_run_finalizers",
            "Process._bootstrap", "Popen", "_launch", "start (", "_adjust_process_count", "_spawn_process")
    shown = 0
    for k, c in incl_func.most_common():
        if any(s in k for s in skip):
            continue
        lines.append(f"| {c * 100 / total:.1f}% | `{k}` |")
        shown += 1
        if shown >= top:
            break
    lines += ["", "| category | share |", "|---|---:|"]
    lines += [f"| {k} | {c * 100 / total:.1f}% |" for k, c in cats.most_common()]
    return "\n".join(lines)


def phases(image: str) -> str:
    """Wall time of each phase of `ls`, in this process, through the library API.

    Layer indexing runs in worker processes exactly as `inspectr ls` does; everything after it
    (receiving the results, the union tree, the JSON) is serial in the main process.
    """
    import time

    cpu0 = os.times()
    t0 = time.perf_counter()
    from inspectr import Limits, open_image
    from inspectr.fs.build import index_layers
    from inspectr.session import Session
    from inspectr.fs.tree import apply_layers
    from inspectr.present.json import dump_records

    t1 = time.perf_counter()
    img = open_image(image, platform=None, limits=Limits())
    t2 = time.perf_counter()
    done: list[float] = []
    indexes = index_layers(img, session=Session(progress=_Arrivals(done, t2)))
    t3 = time.perf_counter()
    tree = apply_layers(indexes, img.limits, False)
    t4 = time.perf_counter()
    with open(os.devnull, "w") as out:
        dump_records((node.to_json() for node in tree.walk()), out)
    t5 = time.perf_counter()
    cpu = os.times()
    rows = [("import inspectr", t1 - t0), ("open image (index, manifest, config)", t2 - t1),
            ("index layers (worker processes) + receive results", t3 - t2), ("apply_layers (union tree)", t4 - t3),
            ("JSON output to /dev/null", t5 - t4)]
    return phase_report(rows, ("total", t5 - t0),
                        f"Layer results arrived (in layer order) at {', '.join(f'{x:.2f}' for x in done)} s into indexing.",
                        cpu0, cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", help="image reference for `inspectr ls`")
    ap.add_argument("--rate", type=int, default=250, help="samples per second per process (default 250)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--raw", type=Path, help="keep py-spy's raw (collapsed) output here; or, with --no-run, read it")
    ap.add_argument("--no-run", action="store_true", help="only summarise an existing --raw file")
    ap.add_argument("--inspectr", default=shutil.which("inspectr") or "inspectr")
    ap.add_argument("--phases", action="store_true", help="also time the phases of ls in-process (library API)")
    args = ap.parse_args(argv)
    raw = args.raw or Path(tempfile.mkdtemp(prefix="inspectr-prof-")) / "ls.raw"
    if not args.no_run:
        pyspy = shutil.which("py-spy")
        if not pyspy:
            raise SystemExit("py-spy not found: pip install py-spy")
        cmd = [pyspy, "record", "--subprocesses", "--rate", str(args.rate), "--format", "raw", "-o", str(raw), "--",
               args.inspectr, "ls", args.image, "--format", "json"]
        with open(os.devnull, "wb") as devnull:
            subprocess.run(cmd, stdout=devnull, check=True)
    print(f"profile of `inspectr ls {args.image} --format json` (py-spy --subprocesses --rate {args.rate})\n")
    print(report(parse(raw), args.top))
    if args.phases:
        print("\nPhases (separate run, no profiler):\n")
        print(phases(args.image))
    return 0


class _Arrivals:
    """A Session progress sink that records when each layer's index arrived."""

    def __init__(self, out: list[float], start: float) -> None:
        self.out, self.start = out, start

    def layer_done(self, index: object) -> None:
        self.out.append(time.perf_counter() - self.start)


if __name__ == "__main__":
    sys.exit(main())
