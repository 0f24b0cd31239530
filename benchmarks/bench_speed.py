#!/usr/bin/env python3
"""Issue 16's figures in one run: cold diff against the 2-core floor, warm diff against the warm
floor, `cat` of one file against inflating its layer, and the peers (umoci + diff -r, diffoscope,
dive) against the cold floor and the cold diff, with CPU utilisation and peak RSS.

    python benchmarks/make_pair.py --top-only          # B' = A with its 303 changes all in the top layer
    python benchmarks/bench_speed.py --runs 3

Rows (each a fresh child under GNU time, page cache warm, inspectr's bytecode compiled as an
install has it, preparation not timed; bench_ls.py's `run_measured` and `wait_for_quiet`,
bench_diff.py's floor):

  floor, cold        inflate (ISA-L) + sha256 of every layer blob of A and B', 2 processes
                     (row 12, after the peers: the same plus the two other hashes a verifying
                     indexer must compute, the compressed blob's and a second one of the
                     inflated bytes, as the file contents' digests are)
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

Peers (rows 9-11; `--no-peers` leaves them out, `--peer-runs N` times each N times, default 1;
each is set up untimed in --work/peers, which is removed after the row; a row whose copies would
not fit on the disk, about both images unpacked, is skipped with a message):

  umoci + diff -r    `umoci unpack` of A and of B', then `diff -r --no-dereference` of the two
                     rootfs dirs (bench_peers.py's script)
  diffoscope         the layer-tar run of bench_diff.py: config, manifest and layer-N.tar.gz hard
                     links per image, --exclude-directory-metadata=yes, bounded by
                     --diffoscope-timeout (600 s); a run that reaches it is reported as not finished
  dive --ci          on A, then on B', docker-archives made by skopeo (untimed); dive analyses one
                     image at a time, it does not diff

Each peer gets "× cold floor" and "× inspectr cold diff" in a table of its own (rows 0 and 1).

CPU utilisation is CPU seconds (user + sys of the tree) over wall seconds: 2.0 is both cores busy.

Over time: while a run goes, a thread here reads /proc/<pid>/stat of GNU time and every process
below it (the tool, its forked pool workers, the floor's processes) every 50 ms and sums
utime + stime + cutime + cstime (the last two hold the children already waited for, so an
exited worker's time moves, not vanishes). The run's last point is the kernel's total from
wait4(). Each row then shows cores busy per 0.2 s (`·` idle, `▄` one core, `█` two) and the share
of wall time with 2 cores busy (>= 1.5), 1 core (>= 0.5) or idle, for its best run; the sampled
total is printed next to GNU time's as the cross-check. `--no-timeline` turns the sampler off.
"""

from __future__ import annotations

import argparse
import bisect
import compileall
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import bench_diff as bd  # noqa: E402  (benchmarks/bench_diff.py: diffoscope's inputs and options)
import bench_ls as bl  # noqa: E402  (benchmarks/bench_ls.py)
import bench_peers as bp  # noqa: E402  (benchmarks/bench_peers.py: the umoci and dive scripts)


SAMPLE_S = 0.05  # sampling period of the CPU timeline
BUCKET_S = 0.2  # one timeline character
SPARK = "·▁▂▃▄▅▆▇█"  # 0, 0.25, ... 2.0 cores


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime + cutime + cstime in clock ticks) of a process, None once it is reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            data = fp.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ")": fields 3 on start after its last ")".
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[1]), sum(int(x) for x in rest[11:15])  # fields 4 (ppid) and 14-17


class TreeSampler:
    """CPU seconds used so far by a process and all its descendants, read from /proc.

    Kernels built without CONFIG_PROC_CHILDREN (this one) lack /proc/<pid>/task/*/children, so
    each sweep lists /proc. A pid once seen outside the tree is not read again: a process joins
    the tree only by being forked inside it, under a new pid. Members are read parents first: a child reaped between the two reads is
    then missed for one sample (its time not yet in the parent's cutime), never counted twice.
    """

    def __init__(self, root: int, t0: float) -> None:
        self.root, self.t0 = root, t0
        self.depth: dict[int, int] = {root: 0}
        self.foreign: set[int] = set()
        self.samples: list[tuple[float, float]] = [(0.0, 0.0)]
        self.own_cpu_s = 0.0

    def _discover(self) -> None:
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                pid = int(name)
                if pid not in self.depth and pid not in self.foreign and (st := _proc_stat(pid)) is not None:
                    parents[pid] = st[0]
        grew = True
        while grew:  # a new worker may have a new parent: repeat until nothing joins
            grew = False
            for pid, ppid in list(parents.items()):
                if ppid in self.depth:
                    self.depth[pid] = self.depth[ppid] + 1
                    del parents[pid]
                    grew = True
        self.foreign.update(parents)

    def sweep(self) -> float | None:
        """Total CPU seconds of the tree now, None when the root is gone."""
        self._discover()
        total = 0
        for pid in sorted(self.depth, key=self.depth.__getitem__):
            st = _proc_stat(pid)
            if st is None:
                if pid == self.root:
                    return None
                continue
            total += st[1]
        return total / bl._HZ

    def run(self, stop: threading.Event) -> None:
        cpu0 = time.thread_time()
        while True:
            before = time.perf_counter()
            cpu = self.sweep()
            if cpu is not None:  # stamped at the sweep's middle; never below an earlier sample
                at = (before + time.perf_counter()) / 2 - self.t0
                self.samples.append((at, max(cpu, self.samples[-1][1])))
            if stop.wait(SAMPLE_S):
                break
        self.own_cpu_s = time.thread_time() - cpu0


def run_timed(cmd: list[str], ok: tuple[int, ...], env: dict[str, str], timeline: bool = True,
              timeout: float | None = None) -> dict[str, Any]:
    """bench_ls.run_measured (GNU time, background cores, coreutils `timeout` inside GNU time) plus
    the tree's CPU timeline."""
    if timeout is not None:
        cmd = ["timeout", "-k", "10", str(int(timeout)), *cmd]
    with tempfile.NamedTemporaryFile("r", prefix="bench-time-") as rus, tempfile.TemporaryFile() as err:
        busy0 = bl.busy_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen([bl.GNU_TIME, "-f", "%M %U %S", "-o", rus.name, *cmd], stdout=subprocess.DEVNULL,
                                stderr=err, env=env)
        sampler = TreeSampler(proc.pid, t0)
        stop = threading.Event()
        thread = threading.Thread(target=sampler.run, args=(stop,), daemon=True)
        if timeline:
            thread.start()
        _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so the rusage is the whole tree's
        wall = time.perf_counter() - t0
        busy = bl.busy_cpu_s() - busy0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        if timeline:
            thread.join()
        out, _ = bl.gnu_time_result(cmd, ok, timeout, proc.returncode, wall, err, rus)
    # Everything else on the machine meanwhile, in cores (the sampler thread not included).
    out["background_cores"] = max(0.0, (busy - out["user_s"] - out["sys_s"] - sampler.own_cpu_s) / wall)
    if timeline:
        # A sweep that began before the reap may be stamped a hair after it: the end point wins.
        out["timeline"] = {"samples": [[round(t, 4), round(c, 2)] for t, c in sampler.samples if t < wall],
                           "end": [round(wall, 4), round(usage.ru_utime + usage.ru_stime, 4)],
                           "sampler_cpu_s": round(sampler.own_cpu_s, 4), "period_s": SAMPLE_S}
    return out


def summarise_timeline(tl: dict[str, Any], max_chars: int | None = None) -> dict[str, Any]:
    """Cores busy per BUCKET_S (linear between samples), as text, and the shares of wall time
    with 2 cores, 1 core and none busy. With max_chars, a long run's text gets wider characters
    (a whole number of BUCKET_S each, averaged) so that it stays that short; the shares do not change."""
    points: list[tuple[float, float]] = [(t, c) for t, c in tl["samples"]] + [(tl["end"][0], tl["end"][1])]
    times = [t for t, _ in points]

    def cpu_at(t: float) -> float:
        i = bisect.bisect_right(times, t)
        if i >= len(points):
            return points[-1][1]
        (ta, ca), (tb, cb) = points[i - 1], points[i]
        return ca + (cb - ca) * (t - ta) / (tb - ta) if tb > ta else cb

    wall: float = tl["end"][0]
    edges = [k * BUCKET_S for k in range(int(wall / BUCKET_S) + 1)]
    if wall - edges[-1] > 1e-3:
        edges.append(wall)
    cores = [(cpu_at(b) - cpu_at(a)) / (b - a) for a, b in zip(edges, edges[1:])]
    widths = [b - a for a, b in zip(edges, edges[1:])]
    share = {"two": 0.0, "one": 0.0, "idle": 0.0}
    for c, w in zip(cores, widths):
        share["two" if c >= 1.5 else "one" if c >= 0.5 else "idle"] += w / wall
    per_char = 1 if max_chars is None else max(1, -(-len(cores) // max_chars))
    wide = [sum(c * w for c, w in zip(cores[k:k + per_char], widths[k:k + per_char])) / sum(widths[k:k + per_char])
            for k in range(0, len(cores), per_char)]
    sampled_t, sampled_cpu = tl["samples"][-1]
    return {"cores": [round(c, 2) for c in cores], "spark": "".join(SPARK[min(8, max(0, round(c * 4)))] for c in wide),
            "char_s": round(per_char * BUCKET_S, 3), "share": share, "sampled_cpu_s": sampled_cpu, "last_sample_s": sampled_t}


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


def _unpacked_bytes(image: Path) -> int:
    """About how many bytes the image's layers take once inflated: per gzip blob its ISIZE trailer
    (the size mod 2**32 of its last member, so at least the blob's own size is counted), 4x the
    blob otherwise. Enough to decide whether a peer's unpacked copies fit on the disk."""
    total = 0
    for path, _ in _blobs(image):
        size = os.path.getsize(path)
        with open(path, "rb") as fp:
            gzip = fp.read(2) == b"\x1f\x8b"
            fp.seek(max(0, size - 4))
            total += max(size, int.from_bytes(fp.read(4), "little")) if gzip else 4 * size
    return total


class Row(NamedTuple):
    name: str
    cmd: list[str]
    ok: tuple[int, ...]
    prep: Callable[[], None] | None  # before each run, untimed
    peer: bool = False  # timed --peer-runs times; its scratch dir is removed after the row
    setup: Callable[[], None] | None = None  # once before the row's runs, untimed
    need_bytes: int = 0  # free disk space the row needs under --work
    timeout_s: float | None = None
    tools: tuple[str, ...] = ()  # on PATH, or the row is skipped


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
    ap.add_argument("--json", type=Path, default=None, help="results, with every run's raw CPU samples")
    ap.add_argument("--rows", default=None, help="only these rows, by number from 0 (e.g. 0,1; the peers are 9-11); "
                    "default all")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                    help="the peer rows: umoci unpack + diff -r, diffoscope, dive (default: on)")
    ap.add_argument("--peer-runs", type=int, default=1, help="timed runs of each peer row (best shown); default 1")
    ap.add_argument("--diffoscope-timeout", type=float, default=bd.DIFFOSCOPE_TIMEOUT_S,
                    help=f"seconds; a run that reaches it is reported as such (default {bd.DIFFOSCOPE_TIMEOUT_S:.0f})")
    ap.add_argument("--no-timeline", action="store_true", help="do not sample CPU over time (to measure its cost)")
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
    # As a user's install has it (pip byte-compiles): without this, a PYTHONDONTWRITEBYTECODE=1 in
    # the environment (this machine's shell sets it) has every run compile inspectr's modules
    # from source again, 80 ms of each start-up. Written to inspectr/**/__pycache__ (gitignored).
    bytecode = compileall.compile_dir(str(HERE.parent / "inspectr"), quiet=1)
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

    peers = args.work / "peers"  # every peer's scratch: removed after each peer row
    scratch, ds_in, ds_tmp, ds_report = peers / "scratch", peers / "diffoscope-in", peers / "tmp", peers / "diffoscope.txt"

    def fresh(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    def umoci_setup() -> None:
        fresh(peers)
        bp.umoci_script(a, b, scratch, peers / "umoci.sh")

    def diffoscope_setup() -> None:
        fresh(peers)
        bd.layer_dirs([("a", a), ("b", b)], ds_in)

    def dive_setup() -> None:
        fresh(peers)
        archives = bp.docker_archives({"a": a, "b": b}, peers)
        bp.dive_script([archives["a"], archives["b"]], peers / "dive.sh")

    unpacked = _unpacked_bytes(a) + _unpacked_bytes(b)
    need = int(unpacked * 1.1) + (256 << 20)  # both images unpacked (umoci's rootfs, diffoscope's temp tars, dive's archives)
    diffoscope = ["env", f"TMPDIR={ds_tmp}", *bd.diffoscope_cmd([ds_in / "a", ds_in / "b"], ds_report, bd.LAYER_TARS_OPTIONS)]
    me = [sys.executable, str(HERE / "bench_speed.py")]
    floor_cold = [sys.executable, str(HERE / "bench_diff.py"), "_baseline", str(a), str(b), "--procs", "2"]
    rows = [
        Row("floor, cold (2 processes)", floor_cold, (0,), None),
        Row("diff, cold (empty cache)", diff, (1,), wipe),
        Row("floor, warm (2 processes)", me + ["_warm_floor", str(a), str(b)], (0,), None),
        Row("diff, warm: A cached, B' top layer new", diff, (1,), a_cached),
        Row("diff, warm, steady: A's points recorded, B' top layer new", diff, (1,), a_steady),
        Row("diff, re-run: both cached, points recorded", diff, (1,), both_steady),
        Row(f"inflate + sha256 of layer {cat_layer} (1 process)", me + ["_inflate", *cat_blobs[cat_layer]], (0,), None),
        Row("cat, first read (layer index cached)", cat, (0,), cat_first),
        Row("cat, steady (seek points recorded)", cat, (0,), cat_steady),
        Row("peer: umoci unpack A, B' + diff -r", [str(peers / "umoci.sh")], (0,), lambda: fresh(scratch), True,
            umoci_setup, need, tools=("umoci", "diff")),
        Row("peer: diffoscope (layer tars)", diffoscope, (0, 1), lambda: fresh(ds_tmp), True, diffoscope_setup, need,
            args.diffoscope_timeout, tools=("diffoscope",)),
        Row("peer: dive --ci A, then B'", [str(peers / "dive.sh")], (0,), None, True, dive_setup, need,
            tools=("dive", "skopeo")),
        # After the peers so that the rows above keep their numbers.
        Row("floor, cold, all three hashes (2 processes)", floor_cold + ["--full"], (0,), None),
    ]
    bl._IDLE_BUDGET[0] = 120.0  # seconds of waiting for a quiet machine, over the whole run
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    chosen = [i for i, r in enumerate(rows) if args.peers or not r.peer] if args.rows is None else \
        [int(x) for x in args.rows.split(",") if x.isdigit()]
    if not chosen or any(i >= len(rows) for i in chosen):
        ap.error(f"--rows: numbers from 0 to {len(rows) - 1}, separated by commas")
    if not args.peers and any(rows[i].peer for i in chosen):
        ap.error("--rows names a peer row (9-11) and --no-peers is given")
    if args.peer_runs < 1:
        ap.error("--peer-runs: at least 1 (--no-peers leaves the peers out)")
    timeline = not args.no_timeline
    results: list[dict[str, Any]] = []
    for i in chosen:
        spec = rows[i]
        name, cmd, ok, prep = spec.name, spec.cmd, spec.ok, spec.prep
        shown = " ".join(cmd)
        if spec.peer:
            shutil.rmtree(peers, ignore_errors=True)  # left by an interrupted run
            args.work.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(args.work).free
            missing = [t for t in spec.tools if shutil.which(t) is None]
            why = f"skipped: {', '.join(missing)} not installed" if missing else None
            if why is None and free < spec.need_bytes:
                why = (f"skipped: needs about {spec.need_bytes / 1e9:.1f} GB free under {args.work} (both images "
                       f"unpacked), {free / 1e9:.1f} GB there")
            if why is not None:
                print(f"{name}: {why}", file=sys.stderr)
                results.append({"index": i, "name": name, "cmd": shown, "skipped": why})
                continue
            if spec.setup is not None:
                spec.setup()
            if cmd[0].endswith(".sh"):  # the script goes with the scratch dir: show its lines
                shown = "; ".join(Path(cmd[0]).read_text().splitlines()[1:])
        runs = []
        try:
            for _ in range(args.peer_runs if spec.peer else args.runs):
                if prep is not None:
                    prep()
                bl.wait_for_quiet(10.0, 0.25)
                r = run_timed(cmd, ok, env, timeline, spec.timeout_s)
                runs.append(r)
                gnu = r["user_s"] + r["sys_s"]
                line = f"{name}: {r['wall_s']:.2f} s, CPU {gnu:.2f} s, {r['maxrss_kb'] // 1024} MiB, " \
                       f"background {r['background_cores']:.2f}"
                if r["timed_out"]:
                    line += f", DID NOT FINISH in {spec.timeout_s:.0f} s"
                if timeline:
                    sm = summarise_timeline(r["timeline"], 100)
                    line += f", sampled CPU {sm['sampled_cpu_s']:.2f} s by {sm['last_sample_s']:.2f} s, " \
                            f"sampler {r['timeline']['sampler_cpu_s'] * 1000:.0f} ms, {sm['spark']}"
                print(line, file=sys.stderr)
            report = bd._describe_report(ds_report) if cmd is diffoscope else None
        finally:
            if spec.peer:
                shutil.rmtree(peers, ignore_errors=True)
        best = min(runs, key=lambda r: r["wall_s"])
        row = {"index": i, "name": name, "cmd": shown, "runs": len(runs), "best_wall_s": best["wall_s"],
               "median_wall_s": statistics.median(r["wall_s"] for r in runs),
               "cpu_s": best["user_s"] + best["sys_s"], "peak_rss_kb": max(r["maxrss_kb"] for r in runs),
               "background_cores": best["background_cores"], "peer": spec.peer}
        if best["timed_out"]:
            row["timed_out_s"] = spec.timeout_s
        if report is not None:
            row["report"] = {k: report.get(k) for k in ("report_bytes", "report_lines", "member_sections")}
        if timeline:
            row |= {"timeline": summarise_timeline(best["timeline"], 100 if spec.peer else None),
                    "sampler_cpu_s": best["timeline"]["sampler_cpu_s"],
                    "samples": [r["timeline"] | {"wall_s": r["wall_s"], "gnu_time_cpu_s": r["user_s"] + r["sys_s"]}
                                for r in runs]}
        results.append(row)
    wipe()
    skipped = [r for r in results if "skipped" in r]
    results = [r for r in results if "skipped" not in r]

    def wall(r: dict[str, Any], key: str = "best_wall_s") -> str:  # a run stopped by its bound shows as "> bound"
        return f"> {r['timed_out_s']:.0f} (did not finish)" if "timed_out_s" in r else f"{r[key]:.2f}"

    lines = [f"Run {started}, {args.runs} runs per row, peers {args.peer_runs} (best wall shown); A = `{a.name}`, "
             f"B' = `{b.name}` (new layers: {new_layers}); cat: layer {cat_layer} of `{cat_image.name}`, `{cat_path}`. "
             f"inspectr's bytecode compiled before the rows: {'yes' if bytecode else 'FAILED (start-ups include compiling)'}.", "",
             "| row | best wall s | median wall s | CPU s | CPU utilisation (cores) | peak RSS MiB | background cores |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['name']} | {wall(r)} | {wall(r, 'median_wall_s')} | {r['cpu_s']:.2f} | "
                     f"{r['cpu_s'] / r['best_wall_s']:.2f} | {r['peak_rss_kb'] / 1024:.0f} | {r['background_cores']:.2f} |")
    lines += [f"| {r['name']} | {r['skipped']} | | | | | |" for r in skipped]
    if timeline and results:
        lines += ["", f"CPU over time, best run of each row: cores busy per {BUCKET_S:g} s (`·` idle, `▄` one core, "
                  "`█` two), the share of wall time with 2 cores busy (>= 1.5), 1 core (>= 0.5) or idle, and the "
                  f"CPU sampled from /proc every {SAMPLE_S * 1000:.0f} ms against GNU time's total. A peer's line "
                  "averages several of those per character (said after its name); its shares do not.", "",
                  "| row | cores over time | 2 cores | 1 core | idle | sampled CPU s | GNU time CPU s | sampler CPU ms |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in results:
            t = r["timeline"]
            per = f" (1 char = {t['char_s']:g} s)" if t["char_s"] != BUCKET_S else ""
            lines.append(f"| {r['name']}{per} | `{t['spark']}` | {t['share']['two']:.0%} | {t['share']['one']:.0%} | "
                         f"{t['share']['idle']:.0%} | {t['sampled_cpu_s']:.2f} | {r['cpu_s']:.2f} | "
                         f"{r['sampler_cpu_s'] * 1000:.0f} |")
    w = {r["index"]: r["best_wall_s"] for r in results}
    ratios = [("cold diff / cold floor", 1, 0, "≤ 1.3x"),
              ("warm diff (A cached, B' top new) / warm floor", 3, 2, "≤ 1.3x"),
              ("warm diff, steady / warm floor", 4, 2, "≤ 1.3x"),
              ("re-run / warm floor", 5, 2, "-"),
              ("cat, steady / inflate of its layer", 8, 6, "≤ 0.1x"),
              ("cat, first read / inflate of its layer", 7, 6, "-"),
              ("cold diff / cold floor with all three hashes", 1, 12, "-")]
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {label} | {w[num] / w[den]:.2f}x | {target} |" for label, num, den, target in ratios
              if num in w and den in w]
    peer_rows = [r for r in results if r["peer"]]
    if peer_rows or skipped:
        def times(r: dict[str, Any], den: int) -> str:
            if den not in w:
                return f"- (row {den} not run)"
            return f"{'> ' if 'timed_out_s' in r else ''}{r['best_wall_s'] / w[den]:.1f}x"

        lines += ["", "| peer | best wall s | × cold floor | × inspectr cold diff |", "|---|---:|---:|---:|"]
        lines += [f"| {r['name']} | {wall(r)} | {times(r, 0)} | {times(r, 1)} |" for r in peer_rows]
        lines += [f"| {r['name']} | {r['skipped']} | | |" for r in skipped]
        lines += [f"\ndiffoscope's report: {r['report']['report_bytes']} bytes, {r['report']['report_lines']} lines, "
                  f"{r['report']['member_sections']} tar members with differences." for r in peer_rows
                  if r.get("report") and r["report"].get("report_lines") is not None]
    lines += ["", "Commands:", ""] + [f"- **{r['name']}**: `{r['cmd']}`" for r in results]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"started": started, "rows": results + skipped,
                                         "by_name": [r["name"] for r in results + skipped]},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
