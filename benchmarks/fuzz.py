#!/usr/bin/env python3
"""The long fuzzing run (issue 20): structured mutants of the fixture images through the real CLI,
for a wall-clock budget, with a summary of what was run and what went wrong.

    python3 benchmarks/fuzz.py --minutes 20 --seed 1            # the documented run (2 jobs)
    python3 benchmarks/fuzz.py --minutes 1 --seed 7 --jobs 1     # a quick look
    python3 benchmarks/fuzz.py --replay 1:1234                   # mutant 1234 of seed 1 again, kept
    python3 benchmarks/fuzz.py --atheris --minutes 10            # the pure parsers in untrusted/

Mutant N of seed S is a pure function of (S, N): its draws come from random.Random("S:N"), so
`--replay S:N` rebuilds it byte for byte and runs the same command lines. The mutators, the
runner and the anomaly rules are tests/fuzz/ (the CI part is tests/test_fuzz.py).

Every mutant runs `ls`, `inspect`, `verify`, `diff` (against the original fixture), `audit`,
`cat` and `export` in forked children of a worker, each bounded by --timeout seconds (SIGKILL
to its process group). Anomalies are defined in tests/fuzz/runner.py. A mutant with an anomaly
is kept under OUT/anomalies/N/ (the image, and report.txt with the command lines); the others
are deleted. OUT/summary.json and OUT/summary.md are rewritten every 30 s and at the end.

`--atheris` runs libFuzzer (atheris) on the parsers in inspectr/untrusted/ that take bytes, one
target at a time in a child process, seeded with the fixtures' own documents and layers. A target
fails on any exception that is not an InspectrError (or the documented PayloadError).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# `import fuzz` must find the package tests/fuzz/, not this script: benchmarks/ leaves the path.
sys.path = [str(REPO / "tests"), str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from fuzz.campaign import ALL_TARGETS, exercise  # noqa: E402
from fuzz.corpus import CORPUS, load_seed  # noqa: E402
from fuzz.draw import RandomDraw  # noqa: E402
from fuzz.runner import Runner  # noqa: E402


# == the mutation campaign =======================================================================


def one_mutant(seed: int, index: int, work: Path, runner: Runner, targets: tuple[str, ...]) -> dict[str, Any]:
    draw = RandomDraw(f"{seed}:{index}")
    spec = draw.choice(CORPUS)
    workdir = work / f"m{index}"
    outcome = exercise(draw, load_seed(spec), workdir, runner, targets)
    record = {
        "index": index,
        "seed_image": spec.name,
        "families": outcome.mutant.families,
        "notes": outcome.mutant.notes,
        "runs": [{"target": r.target, "outcome": r.outcome(), "seconds": round(r.seconds, 3),
                  "anomalies": r.anomalies} for r in outcome.runs],
        "anomalies": outcome.anomalies,
    }
    if outcome.anomalies:
        record["report"] = outcome.report()
        (workdir / "report.txt").write_text(outcome.report() + f"\n\nreplay: python3 benchmarks/fuzz.py --replay {seed}:{index}\n")
    else:
        shutil.rmtree(workdir)
    return record


def _worker(job: int, jobs: int, seed: int, deadline: float, work: Path, timeout: float, targets: tuple[str, ...],
            results: "multiprocessing.Queue[dict[str, Any] | None]") -> None:
    runner = Runner(timeout=timeout)
    index = job
    while time.time() < deadline:
        results.put(one_mutant(seed, index, work, runner, targets))
        index += jobs
    results.put(None)


class Summary:
    def __init__(self, seed: int, minutes: float, jobs: int, timeout: float, targets: tuple[str, ...]) -> None:
        self.seed, self.minutes, self.jobs, self.timeout, self.targets = seed, minutes, jobs, timeout, targets
        self.started = time.time()
        self.mutants = 0
        self.runs = 0
        self.by_target: dict[str, Counter[str]] = defaultdict(Counter)
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.families: Counter[str] = Counter()
        self.seed_images: Counter[str] = Counter()
        self.anomalies: list[dict[str, Any]] = []
        self.anomalous_runs: Counter[str] = Counter()  # runs (not rule hits) with an anomaly, per target
        self.slowest: list[tuple[float, str, int]] = []

    def add(self, record: dict[str, Any]) -> None:
        self.mutants += 1
        self.seed_images[record["seed_image"]] += 1
        self.families.update(set(record["families"]))
        for run in record["runs"]:
            self.runs += 1
            self.by_target[run["target"]][run["outcome"]] += 1
            self.seconds[run["target"]].append(run["seconds"])
            self.slowest.append((run["seconds"], run["target"], record["index"]))
            if run["anomalies"]:
                self.anomalous_runs[run["target"]] += 1
        self.slowest = sorted(self.slowest, reverse=True)[:10]
        if record["anomalies"]:
            self.anomalies.append({k: record[k] for k in ("index", "seed_image", "notes", "anomalies")})

    def as_json(self) -> dict[str, Any]:
        elapsed = time.time() - self.started
        targets = {}
        for target, outcomes in sorted(self.by_target.items()):
            secs = sorted(self.seconds[target])
            targets[target] = {
                "runs": sum(outcomes.values()),
                "anomalous_runs": self.anomalous_runs[target],
                "outcomes": dict(sorted(outcomes.items())),
                "seconds_median": secs[len(secs) // 2] if secs else None,
                "seconds_max": secs[-1] if secs else None,
            }
        return {
            "seed": self.seed, "minutes_asked": self.minutes, "jobs": self.jobs, "run_timeout_seconds": self.timeout,
            "elapsed_seconds": round(elapsed, 1), "mutants": self.mutants, "runs": self.runs,
            "anomalies": len(self.anomalies), "anomalous_runs": sum(self.anomalous_runs.values()),
            "rule_hits": sum(len(a["anomalies"]) for a in self.anomalies),
            "targets": targets, "families": dict(sorted(self.families.items())),
            "seed_images": dict(sorted(self.seed_images.items())),
            "slowest_runs": [{"seconds": s, "target": t, "mutant": i} for s, t, i in self.slowest],
            "anomaly_list": self.anomalies, "machine": machine(),
        }

    def write(self, out: Path) -> None:
        data = self.as_json()
        (out / "summary.json").write_text(json.dumps(data, indent=1) + "\n")
        (out / "summary.md").write_text(markdown(data))


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"# Fuzzing run: seed {data['seed']}, {data['elapsed_seconds'] / 60:.1f} min, {data['jobs']} jobs",
        "",
        f"- mutants: **{data['mutants']}**, runs: **{data['runs']}**, anomalies: **{data['anomalies']}** "
        f"(mutants with at least one anomalous run; {data['anomalous_runs']} anomalous runs, {data['rule_hits']} rule hits)",
        f"- per-run bound: {data['run_timeout_seconds']} s; slowest run: "
        + (f"{data['slowest_runs'][0]['seconds']} s ({data['slowest_runs'][0]['target']}, mutant {data['slowest_runs'][0]['mutant']})"
           if data["slowest_runs"] else "none"),
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}",
        f"- inspectr commit {m['commit']}{' (with uncommitted changes)' if m['dirty'] else ''}; "
        + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
        "",
        "| target | runs | anomalous runs | median s | max s | outcomes (exit status or error class) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for target, t in data["targets"].items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(t["outcomes"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| `{target}` | {t['runs']} | {t['anomalous_runs']} | {t['seconds_median']} | {t['seconds_max']} | {outcomes} |")
    lines += ["", "Mutation families (mutants that used each): "
              + ", ".join(f"{k} {v}" for k, v in data["families"].items()), "",
              "Seed images (mutants of each): " + ", ".join(f"{k} {v}" for k, v in data["seed_images"].items()), ""]
    if data["anomaly_list"]:
        lines += ["## Anomalies", ""]
        for a in data["anomaly_list"]:
            lines.append(f"- mutant {a['index']} of {a['seed_image']} ({'; '.join(a['notes'])[:200]}): "
                         + "; ".join(x[:200] for x in a["anomalies"][:3]))
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / (1 << 20)
    except (OSError, ValueError, IndexError):
        mem = 0.0
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "inspectr"],
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "unknown", False
    libraries = {}
    from importlib import metadata
    for name in ("click", "rich", "zstandard", "isal", "cryptography", "atheris"):
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "kernel": platform.release(),
            "python": platform.python_version(), "commit": commit, "dirty": dirty, "libraries": libraries,
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def campaign(args: argparse.Namespace) -> int:
    out = Path(args.out or HERE / "work" / f"fuzz-{args.seed}")
    if out.exists():
        shutil.rmtree(out)
    work = out / "anomalies"
    work.mkdir(parents=True)
    targets = tuple(args.targets.split(",")) if args.targets else ALL_TARGETS
    summary = Summary(args.seed, args.minutes, args.jobs, args.timeout, targets)
    deadline = time.time() + args.minutes * 60
    for spec in CORPUS:
        load_seed(spec)  # read the fixtures once, before the workers fork
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[dict[str, Any] | None] = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(j, args.jobs, args.seed, deadline, work, args.timeout, targets, results))
               for j in range(args.jobs)]
    for w in workers:
        w.start()
    running, last_write = len(workers), 0.0
    try:
        while running:
            try:
                record = results.get(timeout=5)
            except queue.Empty:
                if not any(w.is_alive() for w in workers):
                    break
                continue
            if record is None:
                running -= 1
                continue
            summary.add(record)
            if record["anomalies"]:
                print(record.get("report", ""), flush=True)
            if time.time() - last_write > 30:
                summary.write(out)
                last_write = time.time()
                print(f"{summary.mutants} mutants, {summary.runs} runs, {len(summary.anomalies)} anomalies", flush=True)
    finally:
        for w in workers:
            w.join(timeout=60)
        summary.write(out)
    print((out / "summary.md").read_text())
    return 1 if summary.anomalies else 0


def replay(args: argparse.Namespace) -> int:
    seed_text, _, index_text = args.replay.partition(":")
    out = Path(args.out or tempfile.mkdtemp(prefix="inspectr-replay-"))
    out.mkdir(parents=True, exist_ok=True)
    if (out / f"m{index_text}").exists():
        shutil.rmtree(out / f"m{index_text}")
    draw = RandomDraw(f"{int(seed_text)}:{int(index_text)}")
    spec = draw.choice(CORPUS)
    targets = tuple(args.targets.split(",")) if args.targets else ALL_TARGETS
    outcome = exercise(draw, load_seed(spec), out / f"m{index_text}", Runner(timeout=args.timeout), targets)
    print(outcome.report())
    return 1 if outcome.anomalies else 0


# == atheris on the pure parsers ================================================================

ATHERIS_TARGETS = ("tar", "gzip", "zstd", "json-model", "paths", "passwd", "www-auth", "nested", "secrets", "pkgdb",
                   "sigpayload", "bundle")


def _atheris_input(name: str) -> Any:
    """TestOneInput for one target. Expected failures (InspectrError; PayloadError for signature
    payloads) are swallowed; anything else reaches atheris as a crash."""
    import io

    from inspectr.errors import InspectrError
    from inspectr.limits import Limits

    limits = Limits(max_pax_bytes=1 << 16, max_path_bytes=4096, max_entries_per_layer=10_000, max_layer_bytes=64 << 20,
                    max_member_bytes=64 << 20)

    def drain(reader: Any) -> None:
        total = 0
        while total < (64 << 20):
            chunk = reader.read(1 << 16)
            if not chunk:
                return
            total += len(chunk)

    if name == "tar":
        from inspectr.fs.layer_index import index_tar_bytes

        def run(data: bytes) -> None:
            index_tar_bytes(data, 0, limits)
    elif name in ("gzip", "zstd"):
        from inspectr.mediatypes import Compression
        from inspectr.untrusted.decompress import PeekReader, open_decompressed

        kind = Compression.GZIP if name == "gzip" else Compression.ZSTD
        magic = b"\x1f\x8b" if name == "gzip" else b"\x28\xb5\x2f\xfd"

        def run(data: bytes) -> None:
            raw = data if data.startswith(magic) else magic + data
            drain(open_decompressed(PeekReader(io.BytesIO(raw)), kind, "layer 0", lambda code, message: None))
    elif name == "json-model":
        from inspectr.model import DockerSaveEntry, ImageConfig, Index, Manifest
        from inspectr.untrusted.jsonload import load_json

        def run(data: bytes) -> None:
            doc = load_json(data, "doc", limits)
            for parse in (Index.from_json, Manifest.from_json, ImageConfig.from_json, DockerSaveEntry.parse_list):
                try:
                    parse(doc, "doc")
                except InspectrError:
                    pass
    elif name == "paths":
        from inspectr.untrusted.paths import normalise_name

        def run(data: bytes) -> None:
            normalise_name(data, limits)
    elif name == "passwd":
        from inspectr.untrusted.passwd import find_group, find_user, member_gids, parse_group, parse_passwd

        def run(data: bytes) -> None:
            users, groups = parse_passwd(data, limits=limits), parse_group(data, limits=limits)
            for who in ("root", "0", "app", "1000"):
                find_user(users, who)
                find_group(groups, who)
                member_gids(groups, who)
    elif name == "www-auth":
        from inspectr.untrusted.www_auth import parse_challenges

        def run(data: bytes) -> None:
            parse_challenges(data.decode("latin-1").split("\n"))
    elif name == "nested":
        from inspectr.untrusted.nested import archive_fingerprint, pyc_body, shadow_without_lastchange, strip_build_id

        def run(data: bytes) -> None:
            strip_build_id(data)
            archive_fingerprint(data, max_members=1000, max_bytes=16 << 20)
            shadow_without_lastchange(data)
            pyc_body(data)
    elif name == "secrets":
        from inspectr.untrusted.secrets import decode_capability, redact_secrets, redact_value, scan_content

        def run(data: bytes) -> None:
            scan_content(data)
            text = data.decode("utf-8", "surrogateescape")
            redact_secrets(text)
            redact_value({"a": [text]})
            decode_capability(data)
    elif name == "pkgdb":
        from inspectr.untrusted import pkgdb

        def run(data: bytes) -> None:
            pkgdb.parse_dpkg_status(data)
            pkgdb.parse_dpkg_list(data)
            pkgdb.parse_apk_installed(data)
            pkgdb.parse_python_metadata(data)
            pkgdb.parse_python_record(data, "usr/lib/python3/dist-packages")
            pkgdb.parse_npm_package(data)
    elif name == "sigpayload":
        from inspectr.untrusted.sigpayload import PayloadError, parse_sigstore_json, parse_simple_signing

        def run(data: bytes) -> None:
            for parse in (parse_simple_signing, parse_sigstore_json):
                try:
                    parse(data)
                except PayloadError:
                    pass
    elif name == "bundle":
        from inspectr.untrusted.bundle import parse_bundle, parse_statement
        from inspectr.untrusted.sigpayload import PayloadError

        def run(data: bytes) -> None:
            for media_type in ("application/vnd.dev.sigstore.bundle.v0.3+json", "application/vnd.dev.sigstore.bundle+json;version=0.1"):
                try:
                    parse_bundle(data, media_type)
                except PayloadError:
                    pass
            try:
                parse_statement(data)
            except PayloadError:
                pass
    else:
        raise SystemExit(f"unknown atheris target {name!r}; known: {', '.join(ATHERIS_TARGETS)}")

    def test_one_input(data: bytes) -> None:
        try:
            run(data)
        except InspectrError:
            pass

    return test_one_input


def _atheris_seeds(name: str, corpus_dir: Path) -> None:
    """Start from real bytes: the fixtures' layers (plain and compressed) and JSON documents."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    from fuzz.tarfmt import sniff
    n = 0
    for spec in CORPUS[:12]:
        seed = load_seed(spec)
        for path, node in seed.nodes.items():
            if node.kind != "file" or len(node.data) > (256 << 10):
                continue
            data = node.data
            if name == "tar" and path in seed.uncompressed:
                data = seed.uncompressed[path]
            elif name in ("gzip", "zstd") and sniff(data) != name:
                continue
            elif name in ("json-model", "sigpayload", "bundle") and not data.startswith(b"{"):
                continue
            if len(data) <= (256 << 10):
                (corpus_dir / f"seed-{n}").write_bytes(data)
                n += 1


def atheris_child(args: argparse.Namespace) -> None:
    import atheris

    with atheris.instrument_imports(include=["inspectr"]):
        test_one_input = _atheris_input(args.atheris_target)
    atheris.Setup([sys.argv[0], *args.libfuzzer], test_one_input)
    atheris.Fuzz()


def atheris_campaign(args: argparse.Namespace) -> int:
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install atheris)", file=sys.stderr)
        return 2
    out = Path(args.out or HERE / "work" / "atheris")
    out.mkdir(parents=True, exist_ok=True)
    names = args.atheris_only.split(",") if args.atheris_only else list(ATHERIS_TARGETS)
    seconds = max(10, int(args.minutes * 60 / len(names)))
    results = {}
    for name in names:
        corpus = out / "corpus" / name
        _atheris_seeds(name, corpus)
        crashes = out / "crashes" / name
        crashes.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, __file__, "--atheris-target", name, "--",
               f"-max_total_time={seconds}", f"-timeout={int(args.timeout)}", "-rss_limit_mb=2048", "-max_len=65536",
               f"-artifact_prefix={crashes}/", f"-seed={args.seed}", str(corpus)]
        started = time.time()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 3 + 120)
        log = done.stderr
        (out / f"{name}.log").write_text(log)
        execs = 0
        for line in log.splitlines():
            if line.startswith("Done ") and " runs in " in line:
                execs = int(line.split()[1])
        if not execs:
            for line in log.splitlines():
                if line.startswith("#") and line[1:].split()[0].isdigit():
                    execs = max(execs, int(line[1:].split()[0]))
        found = sorted(p.name for p in crashes.iterdir())
        results[name] = {"seconds": round(time.time() - started, 1), "execs": execs, "exit": done.returncode,
                         "crashes": found, "tail": log.strip().splitlines()[-12:] if found or done.returncode else []}
        print(f"{name}: {execs} execs in {results[name]['seconds']} s, exit {done.returncode}, {len(found)} crash files", flush=True)
    (out / "atheris.json").write_text(json.dumps({"targets": results, "machine": machine()}, indent=1) + "\n")
    return 1 if any(r["crashes"] or r["exit"] not in (0,) for r in results.values()) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed; mutant N draws from Random('SEED:N')")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    parser.add_argument("--timeout", type=float, default=20.0, help="bound of one run, seconds (default 20)")
    parser.add_argument("--targets", help=f"comma-separated subset of {','.join(ALL_TARGETS)}")
    parser.add_argument("--out", help="output directory (default benchmarks/work/fuzz-SEED)")
    parser.add_argument("--replay", metavar="SEED:N", help="rebuild and rerun one mutant, keeping it")
    parser.add_argument("--atheris", action="store_true", help="fuzz the pure parsers in untrusted/ with atheris")
    parser.add_argument("--atheris-only", metavar="T1,T2", help=f"atheris targets (default all: {','.join(ATHERIS_TARGETS)})")
    parser.add_argument("--atheris-target", help=argparse.SUPPRESS)
    parser.add_argument("libfuzzer", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atheris_target:
        atheris_child(args)
        return 0
    if args.atheris:
        return atheris_campaign(args)
    if args.replay:
        return replay(args)
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
