#!/usr/bin/env python3
"""Benchmark `inspectr fleet scan` on the fleet test registry (32 images, 14 repositories,
sharing base layers; tests/fleet_env.py) three ways, in one run:

  fleet embedded   `inspectr fleet scan --from-file REFS` with its default in-process cluster
  fleet cluster    the same with `--scheduler` on a real 2-worker Dask cluster started here
                   (scheduler and workers are separate processes; start-up not counted)
  loop cold        a serial shell-style loop of one-image `inspectr audit docker://…` calls,
                   each with a fresh empty cache, as `for r in …; do inspectr audit $r; done`
                   on fresh CI runners
  loop shared      the same loop with one shared cache, starting empty (the first image to
                   hold a layer pays for it)
  loop warm        the shared-cache loop run again (every layer already indexed)

    python3 benchmarks/bench_fleet.py                     # everything
    python3 benchmarks/bench_fleet.py --only loop         # just the loops (no fleet CLI needed)
    python3 benchmarks/bench_fleet.py --markdown out.md --json out.json

Every run uses fresh cache, data and home directories under a temporary directory, and this
checkout's inspectr (PYTHONPATH). It prints the wall times, the deduplication (layer references
vs distinct layers, by count and by compressed bytes), the speed-up over the cold loop, the
work per distinct layer, a check that each fleet image's findings equal the one-image audit's,
and the machine, as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from fleet_env import FleetRegistry, build_fleet_registry, dask_cluster  # noqa: E402

MODES = ("fleet-embedded", "fleet-cluster", "loop-cold", "loop-shared", "loop-warm")


def _env(home: Path, cache: Path) -> dict[str, str]:
    for d in ("home", "data", "xdg-cache", "tmp"):
        (home / d).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "HOME": str(home / "home"), "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"), "TMPDIR": str(home / "tmp"),
        "INSPECTR_CACHE_DIR": str(cache),
    })
    return env


def _inspectr(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspectr", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)


def _children_cpu() -> float:
    """CPU seconds (user + system) of every reaped child and their reaped children: the CLI and
    the embedded cluster's worker processes it waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _process_cpu(pids: list[int]) -> float:
    """CPU seconds so far of live processes (the external cluster's scheduler and workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def fleet_cli_available() -> bool:
    out = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "--help"], cwd=ROOT, capture_output=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    return out.returncode == 0


def run_fleet(fleet: FleetRegistry, work: Path, refs: Path, scheduler: str | None,
              cluster_pids: list[int] | None = None) -> dict[str, Any]:
    name = "cluster" if scheduler else "embedded"
    env = _env(work / f"fleet-{name}", work / f"fleet-{name}" / "cache")
    args = ["fleet", "scan", *fleet.cli_flags(), "--store", str(work / f"fleet-{name}.sqlite"),
            "--from-file", str(refs), "--format", "json"]
    if scheduler:
        args += ["--scheduler", scheduler]
    cpu0, cluster0 = _children_cpu(), _process_cpu(cluster_pids or [])
    t0 = time.monotonic()
    out = _inspectr(args, env)
    wall = time.monotonic() - t0
    cpu = _children_cpu() - cpu0 + _process_cpu(cluster_pids or []) - cluster0
    if out.returncode not in (0, 1):
        raise SystemExit(f"fleet scan ({name}) failed with exit {out.returncode}:\n{out.stderr[-3000:]}")
    report = json.loads(out.stdout)
    tasks = _task_seconds(work / f"fleet-{name}.sqlite")
    findings = {img["reference"]: img["findings"] for img in report["images"]}
    complete = sum(img["status"] == "complete" for img in report["images"])
    return {"wall_s": wall, "cpu_s": cpu, "layers": report.get("layers", {}), "images": len(report["images"]),
            "complete": complete, "findings": findings, "exit": out.returncode, "tasks": tasks}


def _task_seconds(store: Path) -> dict[str, Any]:
    """Worker seconds of the layer and image tasks, as the store recorded them per task."""
    import sqlite3

    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        n, layer_sum, layer_max, workers = conn.execute(
            "SELECT count(*), sum(seconds), max(seconds), count(DISTINCT worker) FROM layers").fetchone()
        images, image_sum = conn.execute("SELECT count(*), sum(seconds) FROM images").fetchone()
    finally:
        conn.close()
    return {"layer_tasks": n, "layer_task_s": layer_sum or 0.0, "layer_task_max_s": layer_max or 0.0,
            "layer_workers": workers, "image_tasks": images, "image_task_s": image_sum or 0.0}


def run_loop(fleet: FleetRegistry, work: Path, name: str, shared_cache: Path | None) -> dict[str, Any]:
    findings: dict[str, dict[str, int]] = {}
    per_image: list[float] = []
    errors: list[str] = []
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    for i, ref in enumerate(fleet.refs):
        # A fresh cache per call for the cold loop, as separate CI jobs or machines would have.
        cache = shared_cache if shared_cache is not None else work / name / f"cache-{i}"
        env = _env(work / name, cache)
        t = time.monotonic()
        out = _inspectr(["audit", *fleet.cli_flags(), "--format", "json", ref], env)
        per_image.append(time.monotonic() - t)
        if out.returncode not in (0, 1):
            errors.append(f"{ref}: exit {out.returncode}: {out.stderr.strip()[-300:]}")
            continue
        findings[ref] = json.loads(out.stdout)["counts"]
    wall = time.monotonic() - t0
    return {"wall_s": wall, "cpu_s": _children_cpu() - cpu0, "per_image_s": per_image, "findings": findings, "errors": errors}


_BLOB_GET = re.compile(r'"GET /v2/.+?/blobs/(sha256:[0-9a-f]{64}) HTTP/[\d.]+" (\d{3}) (\d+)')


class PullCounter:
    """Layer blob downloads seen in the registry's access log since the last call: how often a
    way of scanning fetched each layer."""

    def __init__(self, fleet: FleetRegistry) -> None:
        self.log = fleet.registry.log_path
        self.layers = set(fleet.layer_refs)
        self.offset = self._size()

    def _size(self) -> int:
        return self.log.stat().st_size if self.log is not None and self.log.exists() else 0

    def take(self) -> dict[str, Any]:
        time.sleep(0.2)  # the registry writes its access log line after the response
        if self.log is None:
            return {}
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            raw = f.read()
        self.offset += len(raw)
        text = raw.decode(errors="replace")
        gets = [(d, int(n)) for d, status, n in _BLOB_GET.findall(text) if status == "200" and d in self.layers]
        counts: dict[str, int] = {}
        for d, _ in gets:
            counts[d] = counts.get(d, 0) + 1
        return {"layer_gets": len(gets), "distinct_layers_got": len(counts), "layer_bytes": sum(n for _, n in gets),
                "fetched_more_than_once": {d: n for d, n in counts.items() if n > 1}}


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    from importlib.metadata import version

    return {"cpu_model": _cpu_model(), "cores": os.cpu_count(), "ram_gib": round(mem_kb / (1 << 20), 1),
            "python": platform.python_version(), "kernel": platform.release(), "dask": version("distributed"),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def dedup_figures(fleet: FleetRegistry) -> dict[str, Any]:
    ref_bytes = sum(fleet.layer_sizes[d] * len(refs) for d, refs in fleet.layer_refs.items())
    distinct_bytes = sum(fleet.layer_sizes[d] for d in fleet.layer_refs)
    return {"images": len(fleet.refs), "repositories": len(fleet.repositories),
            "layer_references": fleet.layer_references, "distinct_layers": fleet.distinct_layers,
            "referenced_bytes": ref_bytes, "distinct_bytes": distinct_bytes,
            "dedup_by_count": fleet.layer_references / fleet.distinct_layers,
            "dedup_by_bytes": ref_bytes / distinct_bytes}


def compare_findings(fleet_result: dict[str, Any], loop_result: dict[str, Any]) -> list[str]:
    """Refs whose fleet findings (counts by severity) differ from the one-image audit's."""
    out = []
    for ref, counts in loop_result["findings"].items():
        got = fleet_result["findings"].get(ref)
        if got != counts:
            out.append(f"{ref}: fleet {got} != audit {counts}")
    return out


def _pulls(run: dict[str, Any]) -> str:
    p = run.get("pulls") or {}
    return f"{p['layer_gets']} ({p['layer_bytes'] / 1e6:.1f})" if "layer_gets" in p else "-"


def _best(rounds: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    """The round with the lowest wall time for MODE (the least disturbed by other load)."""
    runs = [r[mode] for r in rounds if mode in r]
    return min(runs, key=lambda r: r["wall_s"]) if runs else None


def markdown(result: dict[str, Any]) -> str:
    d, m, rounds = result["dedup"], result["machine"], result["rounds"]
    lines = [
        f"Fleet: {d['images']} images in {d['repositories']} repositories; {d['layer_references']} layer "
        f"references, {d['distinct_layers']} distinct layers ({d['dedup_by_count']:.2f}x by count); "
        f"{d['referenced_bytes'] / 1e6:.1f} MB referenced, {d['distinct_bytes'] / 1e6:.1f} MB distinct "
        f"({d['dedup_by_bytes']:.2f}x by compressed bytes). Best of {len(rounds)} round(s); medians in brackets.",
        "",
        "| way | wall s | CPU s | speed-up vs loop cold (wall) | (CPU) | wall s per image "
        "| wall s per layer (fleet: distinct, loops: reference) | layers indexed | layer blob GETs (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    best = {mode: _best(rounds, mode) for mode in MODES}
    cold = best["loop-cold"]
    for mode in MODES:
        r = best[mode]
        if r is None:
            continue
        wall = r["wall_s"]
        median = statistics.median(x[mode]["wall_s"] for x in rounds if mode in x)
        fleet_mode = mode.startswith("fleet")
        # The fleet works on each distinct layer once; a loop on every layer reference.
        worked = d["distinct_layers"] if fleet_mode else d["layer_references"]
        indexed = (f"{r['layers'].get('indexed', '?')} of {r['layers'].get('distinct', '?')} distinct" if fleet_mode
                   else {"loop-cold": "every reference", "loop-shared": "first use of each (cache)"}.get(mode, "none (cached)"))
        speedup = f"{cold['wall_s'] / wall:.2f}x" if cold else "-"
        cpu_speedup = f"{cold['cpu_s'] / r['cpu_s']:.2f}x" if cold else "-"
        lines.append(f"| {mode} | {wall:.1f} [{median:.1f}] | {r['cpu_s']:.1f} | {speedup} | {cpu_speedup} "
                     f"| {wall / d['images']:.2f} | {wall / worked:.3f} | {indexed} | {_pulls(r)} |")
    lines.append("")
    for mode in ("fleet-embedded", "fleet-cluster"):
        t = (best[mode] or {}).get("tasks")
        if t:
            lines.append(f"- {mode}: {t['layer_tasks']} layer tasks on {t['layer_workers']} workers took "
                         f"{t['layer_task_s']:.1f} worker-s ({t['layer_task_s'] / max(1, t['layer_tasks']):.2f} s per "
                         f"distinct layer, slowest {t['layer_task_max_s']:.2f} s); {t['image_tasks']} image tasks "
                         f"{t['image_task_s']:.1f} worker-s ({t['image_task_s'] / max(1, t['image_tasks']):.2f} s per image).")
    for mode in ("fleet-embedded", "fleet-cluster"):
        again = ((best[mode] or {}).get("pulls") or {}).get("fetched_more_than_once")
        if again:
            lines.append(f"- {mode}: layers fetched more than once: "
                         + ", ".join(f"{d[:19]}… ({d_size / 1e6:.2f} MB) x{n}" for d, n in again.items()
                                     for d_size in [result["layer_sizes"].get(d, 0)]))
    starts = [x["cluster_start_s"] for x in rounds if "cluster_start_s" in x]
    if starts:
        lines.append(f"- Cluster start-up (scheduler + workers, not counted above): {min(starts):.1f} s at best.")
    for i, x in enumerate(rounds):
        for mode, diffs in x.get("findings_mismatch", {}).items():
            lines.append(f"- Round {i + 1}, findings of {mode} vs the one-image audits (counts by severity, per image): "
                         + ("equal for every image." if not diffs else f"{len(diffs)} differ: " + "; ".join(diffs[:5])))
    lines += ["", "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in m.items()]
    return "\n".join(lines) + "\n"


def one_round(fleet: FleetRegistry, work: Path, refs: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every way once, each with fresh stores and caches under WORK."""
    runs: dict[str, Any] = {}
    pulls = PullCounter(fleet)
    if args.only in ("all", "fleet"):
        runs["fleet-embedded"] = run_fleet(fleet, work, refs, None)
        runs["fleet-embedded"]["pulls"] = pulls.take()
        print(f"fleet embedded: {runs['fleet-embedded']['wall_s']:.1f} s", file=sys.stderr)
        t0 = time.monotonic()
        with dask_cluster(args.workers, workdir=work / "dask") as cluster:
            runs["cluster_start_s"] = time.monotonic() - t0
            runs["fleet-cluster"] = run_fleet(fleet, work, refs, cluster.address,
                                              [cluster.scheduler_pid, *cluster.worker_pids])
            runs["fleet-cluster"]["pulls"] = pulls.take()
        print(f"fleet cluster: {runs['fleet-cluster']['wall_s']:.1f} s", file=sys.stderr)
    if args.only in ("all", "loop"):
        pulls.take()
        runs["loop-cold"] = run_loop(fleet, work, "loop-cold", None)
        runs["loop-cold"]["pulls"] = pulls.take()
        print(f"loop cold: {runs['loop-cold']['wall_s']:.1f} s", file=sys.stderr)
        if not args.no_warm_loops:
            shared = work / "loop-shared" / "cache"
            runs["loop-shared"] = run_loop(fleet, work, "loop-shared", shared)
            runs["loop-shared"]["pulls"] = pulls.take()
            runs["loop-warm"] = run_loop(fleet, work, "loop-warm", shared)
            runs["loop-warm"]["pulls"] = pulls.take()
            print(f"loop shared: {runs['loop-shared']['wall_s']:.1f} s, warm: {runs['loop-warm']['wall_s']:.1f} s",
                  file=sys.stderr)
    if "fleet-embedded" in runs and "loop-cold" in runs:
        runs["findings_mismatch"] = {m: compare_findings(runs[m], runs["loop-cold"])
                                     for m in ("fleet-embedded", "fleet-cluster")}
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["all", "fleet", "loop"], default="all")
    ap.add_argument("--rounds", type=int, default=1, help="repeat every way; report the best and the median")
    ap.add_argument("--workers", type=int, default=2, help="workers of the --scheduler cluster")
    ap.add_argument("--no-warm-loops", action="store_true", help="skip the shared-cache loops")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    if args.only in ("all", "fleet") and not fleet_cli_available():
        raise SystemExit("`inspectr fleet` is not available in this checkout; run with --only loop")

    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    result: dict[str, Any] = {"machine": machine_info(), "rounds": []}
    try:
        with build_fleet_registry(work / "registry") as fleet:
            result["dedup"] = dedup_figures(fleet)
            result["layer_sizes"] = fleet.layer_sizes
            result["setup_s"] = {"build": round(fleet.build_seconds, 2), "push": round(fleet.push_seconds, 2)}
            print(f"registry {fleet.host}: {len(fleet.refs)} images built in {fleet.build_seconds:.1f} s, "
                  f"pushed in {fleet.push_seconds:.1f} s", file=sys.stderr)
            refs = fleet.write_ref_file(work / "refs.txt")
            for i in range(args.rounds):
                print(f"round {i + 1} of {args.rounds}", file=sys.stderr)
                result["rounds"].append(one_round(fleet, work / f"round-{i}", refs, args))
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    errors = [e for x in result["rounds"] for r in x.values() if isinstance(r, dict) for e in r.get("errors", [])]
    text = markdown(result)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
