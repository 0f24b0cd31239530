#!/usr/bin/env python3
"""Benchmark `inspectr gate` against `inspectr diff` of the same pair, in one run (issue 13).

    python benchmarks/bench_gate.py                  # make_pair.py's default 1 GB pair (built if missing), 3 rounds
    python benchmarks/bench_gate.py --runs 5
    python benchmarks/bench_gate.py --small          # quick check: make_pair.py --files 5000 --scale 0.1 --changes 60

Issue 13 says: "`gate` on a release and rebuild pair of 1 GB inflates each layer once ... a cold
gate costs at most 1.1x a cold `diff` of the same pair plus the signature check, where today it
costs about verify plus diff." This script measures that claim.

The pair: A = benchmarks/work/img-f50000-s1 (make_image.py, ~1.1 GB uncompressed, 5 gzip layers,
61 397 entries), B = A rebuilt with ~300 changed files in layers 2-4 (make_pair.py; layers 0-1
are byte-identical copies, in B's own blob files). Reused when present, built when not.

Timed, rounds interleaved (diff, verify A, verify B, gate, floor; then again), every command a
fresh child under GNU time (`/usr/bin/time`, as bench_ls.py / bench_diff.py do; without it, a
small wrapper process reports getrusage(RUSAGE_CHILDREN) for its one child), stdout to
/dev/null, page cache warm (every blob read once before timing), min and median of `--runs`:

  diff        `inspectr --no-cache diff A B --format json`                          (exit 1 expected)
  verify A    `inspectr --no-cache verify A`                                         (exit 0)
  verify B    `inspectr --no-cache verify B`                                         (exit 0)
  gate        `inspectr --no-cache gate --release A --rebuild B --policy P`          (exit 1: not-reproduced)
              P is `[signers]\\nrequired = false\\n`: there is no signed 1 GB fixture, so no
              signature is checked, and the "plus the signature check" of the target is zero here.
  floor       every layer blob of both images inflated with ISA-L (`isal.igzip`) and the output
              sha256-hashed (the diff_id, checked against the config), one process per image, the
              two in parallel.

`--no-cache`: no layer-index cache is read or written, so every command is cold.

Derived per round: verify A + verify B, and verify A + verify B + diff (what gate used to cost).
Ratios: gate / diff (target <= 1.1), gate / (verify A + verify B + diff), gate / floor; each as
ratio of the minimums, of the medians, and the range of the per-round ratios (rounds are
interleaved, so a per-round ratio compares runs under similar background load).

`inspectr` is this checkout's CLI (`python -c LAUNCH` with PYTHONPATH set to the repository
root, so an editable install that points at another checkout is not what gets measured);
`--inspectr PATH` measures a given executable instead.

Inflations: gate runs once more, in this process, through `inspectr.gate.engine.run_gate` with
`Session(executor=LocalPool(workers=1))` (no cache), so every layer job runs where it can be
counted. Counted per blob: `inspectr.fs.build.index_layer` (a full inflate + tar walk),
`inspectr.fs.build.verify_blob` (a digest-only read of a copy), and every layer stream opened
(`inspectr.fs.layer_index._open_tar_stream`: the index passes and diff's second pass that
re-reads changed files for text diffs) with its uncompressed bytes. The same is done for
`inspectr.diff.engine.diff_images`, for comparison.

The target counts as met only when the wall ratios (of minimums and of medians) and the CPU
ratio (of medians) are all within it. If it is not met (or with `--profile always`), the gate
run is split into phases in-process (verify A, verify B, index_pair, compare_images; and diff's index_pair and
compare_images in a fresh session), and profiled with cProfile (serial, LocalPool(workers=1)).

Wall times on a shared 2-core machine move with the background load; CPU seconds (user + sys of
the command and its workers, from GNU time) move less, so the ratios are given for both. Each
run waits (up to --idle-wait, within --idle-budget) for a quiet moment and reports the
background cores it saw.

Writes benchmarks/work/gate-results.md and .json (`-small` in the names with --small) and prints
the Markdown on stdout, per-run progress on stderr. `--render-only` re-renders the Markdown of
an earlier --json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))  # measure this checkout's inspectr, whatever `pip install -e` points at
import bench_ls as bl  # noqa: E402  (benchmarks/bench_ls.py)
import make_pair as mp  # noqa: E402  (benchmarks/make_pair.py)

TARGET = 1.1
POLICY = "[signers]\nrequired = false\n"
SMALL = {"files": 5000, "scale": 0.1, "changes": 60}
READ = 1 << 18
# This checkout's CLI (the console script does the same); PYTHONPATH=REPO makes it import REPO/inspectr.
LAUNCH = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; sys.exit(main())"


# --------------------------------------------------------------------------- the floor (child)


def _floor_image(image: str) -> dict:
    """Inflate every layer of one image with isal.igzip and sha256 the output; check the diff_ids."""
    from isal import igzip

    t0 = time.perf_counter()
    layers, diff_ids = bl._layers(Path(image))
    usize = 0
    for layer, want in zip(layers, diff_ids):
        h = hashlib.sha256()
        with igzip.open(Path(image) / "blobs" / "sha256" / layer["digest"].split(":", 1)[1], "rb") as fp:
            while data := fp.read(READ):
                h.update(data)
                usize += len(data)
        if "sha256:" + h.hexdigest() != want:
            raise SystemExit(f"floor: {image}: layer {layer['digest']}: diff_id mismatch")
    return {"image": image, "layers": len(layers), "uncompressed": usize, "seconds": time.perf_counter() - t0}


def floor_main(images: list[str]) -> int:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(len(images)) as pool:
        done = pool.map(_floor_image, images, chunksize=1)
    print(json.dumps(done))
    return 0


# --------------------------------------------------------------------------- measuring

_WRAPPER = """
import os, resource, sys, time
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status = os.waitpid(pid, 0)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as fp:
    fp.write(f"{ru.ru_maxrss} {ru.ru_utime} {ru.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _run_rusage(cmd: list[str], ok: tuple[int, ...], env: dict | None = None) -> dict:
    """Without GNU time: a small wrapper forks and execs cmd, then reports RUSAGE_CHILDREN (its
    only child). fork+exec, not vfork: the maxrss carried over exec is the wrapper's (~10 MiB)."""
    with tempfile.NamedTemporaryFile("r", prefix="bench-rusage-") as rus, tempfile.TemporaryFile() as err, \
            open(os.devnull, "wb") as devnull:
        busy0 = bl.busy_cpu_s()
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, "-c", _WRAPPER, rus.name, *cmd], stdout=devnull, stderr=err, env=env).returncode
        wall = time.perf_counter() - t0
        busy = bl.busy_cpu_s() - busy0
        err.seek(0)
        stderr = err.read().decode(errors="replace").strip()
        if rc not in ok:
            raise SystemExit(f"command failed (exit {rc}, expected {ok}): {' '.join(cmd)}\n{stderr[-2000:]}")
        maxrss, user, system = rus.read().split()
    out = {"wall_s": wall, "maxrss_kb": int(maxrss), "user_s": float(user), "sys_s": float(system), "exit": rc,
           "timed_out": False, "background_cores": max(0.0, (busy - float(user) - float(system)) / wall)}
    if stderr:
        out["stderr"] = stderr[-500:]
    return out


def measure(cmd: list[str], ok: tuple[int, ...], quiet: tuple[float, float], env: dict | None = None) -> dict:
    if quiet[0] > 0:
        bl.wait_for_quiet(*quiet)
    if os.access(bl.GNU_TIME, os.X_OK):
        return bl.run_measured(cmd, ok=ok, env=env)
    return _run_rusage(cmd, ok, env)


ROWS = ("diff", "verify A", "verify B", "gate", "floor")


def _stats(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "all": values}


def summarise(runs: dict[str, list[dict]]) -> dict:
    n = len(runs["gate"])
    wall = {k: [r["wall_s"] for r in v] for k, v in runs.items()}
    wall["verify A + verify B"] = [wall["verify A"][i] + wall["verify B"][i] for i in range(n)]
    wall["verify A + verify B + diff"] = [wall["verify A + verify B"][i] + wall["diff"][i] for i in range(n)]
    cpu = {k: [r["user_s"] + r["sys_s"] for r in v] for k, v in runs.items()}
    cpu["verify A + verify B"] = [cpu["verify A"][i] + cpu["verify B"][i] for i in range(n)]
    cpu["verify A + verify B + diff"] = [cpu["verify A + verify B"][i] + cpu["diff"][i] for i in range(n)]
    rows = {}
    for name in wall:
        rows[name] = {"wall": _stats(wall[name]), "cpu": _stats(cpu[name])}
        if name in runs:
            rows[name]["peak_rss_kb"] = max(r["maxrss_kb"] for r in runs[name])
            rows[name]["background_cores"] = _stats([r["background_cores"] for r in runs[name]])
            rows[name]["exits"] = sorted({r["exit"] for r in runs[name]})
    ratios = {}
    for label, den in (("gate / diff", "diff"), ("gate / (verify A + verify B + diff)", "verify A + verify B + diff"),
                       ("gate / floor", "floor")):
        per_round = [wall["gate"][i] / wall[den][i] for i in range(n)]
        ratios[label] = {"of_min": min(wall["gate"]) / min(wall[den]),
                         "of_median": statistics.median(wall["gate"]) / statistics.median(wall[den]),
                         "per_round": per_round, "per_round_median": statistics.median(per_round),
                         "cpu_of_min": min(cpu["gate"]) / min(cpu[den]),
                         "cpu_of_median": statistics.median(cpu["gate"]) / statistics.median(cpu[den]),
                         "cpu_per_round": [cpu["gate"][i] / cpu[den][i] for i in range(n)]}
    return {"rows": rows, "ratios": ratios}


# --------------------------------------------------------------------------- counting inflations (in-process)


def count_inflations(a: str, b: str, policy_path: Path, what: str) -> dict:
    """Run gate (or diff) once in this process, serially, and count layer reads per blob."""
    from inspectr.fs import build, layer_index
    from inspectr.session import LocalPool, Session

    counts: dict[str, dict[str, int]] = {"index_layer": {}, "verify_blob": {}, "tar_streams": {}}
    streamed: list[tuple[str, object]] = []  # (blob, its uncompressed-byte counter)

    def where(key: str) -> str:
        side = "A" if key.startswith(a + "/") else "B" if key.startswith(b + "/") else "?"
        return f"{side}:{os.path.basename(key.split('@', 1)[0])[:12]}"

    def bump(kind: str, key: str) -> None:
        counts[kind][where(key)] = counts[kind].get(where(key), 0) + 1

    real_index, real_verify, real_open = build.index_layer, build.verify_blob, layer_index._open_tar_stream

    def index_layer(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        bump("index_layer", source.blob.key)
        return real_index(source, *args, **kwargs)

    def verify_blob(source):  # type: ignore[no-untyped-def]
        bump("verify_blob", source.blob.key)
        return real_verify(source)

    def open_tar_stream(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_open(source, *args, **kwargs)
        bump("tar_streams", source.blob.key)
        streamed.append((where(source.blob.key), out[-1]))
        return out

    build.index_layer, build.verify_blob, layer_index._open_tar_stream = index_layer, verify_blob, open_tar_stream
    session = Session(executor=LocalPool(workers=1))
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        if what == "gate":
            from inspectr.gate.engine import run_gate
            from inspectr.gate.policy import load_gate_policy

            report = run_gate(a, b, load_gate_policy(policy_path), session=session)
            outcome = report.verdict
        else:
            from inspectr import open_image
            from inspectr.diff.engine import diff_images

            diff = diff_images(open_image(a, session=session), open_image(b, session=session), session=session)
            outcome = diff.verdict.value if diff is not None else "identical"
    finally:
        build.index_layer, build.verify_blob, layer_index._open_tar_stream = real_index, real_verify, real_open
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    per_digest: dict[str, int] = {}
    for key, n in counts["index_layer"].items():
        per_digest[key.split(":", 1)[1]] = per_digest.get(key.split(":", 1)[1], 0) + n
    return {"what": what, "outcome": outcome, "serial_wall_s": wall, "serial_cpu_s": cpu, **counts,
            "distinct_layers_inflated": len(per_digest),
            "full_inflations": sum(counts["index_layer"].values()),
            "digest_only_reads": sum(counts["verify_blob"].values()),
            "tar_streams_total": sum(counts["tar_streams"].values()),
            "uncompressed_bytes_streamed": sum(getattr(c, "n", 0) for _, c in streamed),
            "inflations_per_digest": per_digest}


def inflation_sentence(c: dict, layer_count: int) -> str:
    per = c["inflations_per_digest"]
    once = all(n == 1 for n in per.values())
    files_once = all(n == 1 for n in c["index_layer"].values())
    more = {d: n for d, n in per.items() if n > 1}
    head = (f"each of the {len(per)} distinct layers inflated once (full index passes: {c['full_inflations']})" if once else
            f"{c['full_inflations']} full index passes over {len(per)} distinct layers: {len(per) - len(more)} inflated once, "
            + ", ".join(f"{d}… ×{n}" for d, n in more.items())
            + (" (every blob file once, but a layer that both images hold, by digest, once per copy)" if files_once else ""))
    second = c["tar_streams_total"] - c["full_inflations"]
    return (f"{head}; {c['digest_only_reads']} digest-only reads of a copy (sha256 of the gzip bytes, no inflate); "
            f"{second} more (partial) inflations by the second pass that re-reads changed files for text diffs, "
            f"stopping at the last wanted file; {c['uncompressed_bytes_streamed'] / 1e9:.2f} GB inflated in all "
            f"({layer_count} layer blobs in the pair)")


# --------------------------------------------------------------------------- where the time goes


def phases(a: str, b: str, policy_path: Path) -> list[tuple[str, float]]:
    """Wall time of gate's steps in-process (default executor: 2 worker processes), then diff's."""
    from inspectr import open_image
    from inspectr.diff.engine import compare_images, index_pair
    from inspectr.diff.options import DiffOptions
    from inspectr.gate.policy import load_gate_policy
    from inspectr.session import Session
    from inspectr.verify.engine import Trust, verify_image

    policy = load_gate_policy(policy_path)
    rows = []
    s = Session()
    t = time.perf_counter()
    verify_image(a, Trust(require_signature=policy.require_signature), session=s)
    rows.append(("gate: verify A (integrity walk, indexes kept in the session)", time.perf_counter() - t))
    t = time.perf_counter()
    verify_image(b, Trust(), session=s)
    rows.append(("gate: verify B", time.perf_counter() - t))
    t = time.perf_counter()
    ia, ib = open_image(a, session=s), open_image(b, session=s)
    pair = index_pair(ia, ib, session=s)
    rows.append(("gate: open both + index_pair (verified indexes reused)", time.perf_counter() - t))
    t = time.perf_counter()
    compare_images(pair, DiffOptions(acceptances=policy.acceptances), session=s)
    rows.append(("gate: compare_images (incl. re-reading changed files)", time.perf_counter() - t))
    s = Session()
    t = time.perf_counter()
    ia, ib = open_image(a, session=s), open_image(b, session=s)
    pair = index_pair(ia, ib, session=s)
    rows.append(("diff: open both + index_pair (fresh session)", time.perf_counter() - t))
    t = time.perf_counter()
    compare_images(pair, DiffOptions(), session=s)
    rows.append(("diff: compare_images", time.perf_counter() - t))
    return rows


def profile_gate(a: str, b: str, policy_path: Path, top: int = 25) -> str:
    import cProfile

    from inspectr.gate.engine import run_gate
    from inspectr.gate.policy import load_gate_policy
    from inspectr.session import LocalPool, Session

    prof = cProfile.Profile()
    prof.enable()
    run_gate(a, b, load_gate_policy(policy_path), session=Session(executor=LocalPool(workers=1)))
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    return text[text.find("   ncalls"):] if "   ncalls" in text else text


# --------------------------------------------------------------------------- report


def verdict(r: dict) -> str:
    """The target on wall time (minimums and medians) and on CPU time (medians) together: on a
    shared machine the wall figures alone can meet or miss it by luck of the background load."""
    wall_ok = r["of_min"] <= TARGET and r["of_median"] <= TARGET
    cpu_ok = r["cpu_of_median"] <= TARGET
    if wall_ok == cpu_ok:
        return "met" if wall_ok else "missed"
    return f"wall {'met' if wall_ok else 'missed'}, CPU {'met' if cpu_ok else 'missed'}: not shown"


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def markdown(res: dict) -> str:
    m, p = res["machine"], res["machine"]["parallel_probe"]
    a, b = res["pair"]["a"], res["pair"]["b"]
    s = res["summary"]
    rows, ratios = s["rows"], s["ratios"]
    out = [
        f"# `inspectr gate` vs `inspectr diff` ({'small pair' if res['small'] else '1 GB pair'})",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}, "
        f"isal {m['isal']}. inspectr {m['inspectr_git']} (source sha256 {res['inspectr_source_sha256']}, "
        f"imported from `{m.get('inspectr_imported_from', '?')}`).",
        f"Parallel probe: 1 GiB sha256 in 1 process {p['one_proc_s']:.2f} s, in each of 2 concurrent processes "
        f"{p['two_procs_s']:.2f} s (2-process speedup {p['speedup_2p']:.2f}x of an ideal 2x).",
        f"Run {res['started']}, total {res['total_s']:.0f} s. {res['runs']} interleaved rounds; every command a fresh child under "
        f"{res['rss_method']}; `--no-cache` (cold); page cache warm.",
        "",
        f"- **A** `{a['path']}`: {len(a['layers'])} gzip layers, {a['entries']} entries, {a['uncompressed_bytes'] / 1e9:.3f} GB "
        f"uncompressed, {a['compressed_bytes'] / 1e9:.3f} GB gzip; {'reused' if a.get('reused') else 'generated'}.",
        f"- **B** `{b['path']}`: {b['changed_files']} changed files, layers {b['changed_layers']} rebuilt, the others "
        f"byte-identical copies; {'reused' if b.get('reused') else 'generated'}.",
        f"- Policy `{res['policy_path']}`: `[signers] required = false` — no signature is checked (there is no signed "
        f"1 GB fixture), so the target's \"plus the signature check\" is 0 s here.",
        "",
        "| command | wall min s | wall median s | CPU s median | peak RSS MiB | background cores (median) | exit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("diff", "verify A", "verify B", "verify A + verify B", "verify A + verify B + diff", "gate", "floor"):
        r = rows[name]
        label = res["labels"].get(name, name)
        bg = f"{r['background_cores']['median']:.2f}" if "background_cores" in r else "-"
        ex = ",".join(map(str, r["exits"])) if "exits" in r else "-"
        out.append(f"| {label} | {r['wall']['min']:.2f} | {r['wall']['median']:.2f} | {r['cpu']['median']:.2f} | "
                   f"{_mib(r.get('peak_rss_kb'))} | {bg} | {ex} |")
    out += ["", "| ratio | wall, of minimums | wall, of medians | wall, per round | CPU, of medians | CPU, per round | target |",
            "|---|---:|---:|---|---:|---|---|"]
    for label, r in ratios.items():
        target = f"≤ {TARGET}: **{verdict(r)}**" if label == "gate / diff" else "-"
        out.append(f"| {label} | {r['of_min']:.2f}x | {r['of_median']:.2f}x | {', '.join(f'{x:.2f}' for x in r['per_round'])} | "
                   f"{r['cpu_of_median']:.2f}x | {', '.join(f'{x:.2f}' for x in r['cpu_per_round'])} | {target} |")
    out.append("")
    for key in ("gate", "diff"):
        c = res["inflations"].get(key)
        if c:
            out.append(f"- Inflations, `{key}` in-process and serial (`LocalPool(workers=1)`, {c['serial_wall_s']:.1f} s, "
                       f"outcome `{c['outcome']}`): {inflation_sentence(c, len(a['layers']) + len(b['layers']))}. "
                       f"Full passes by blob: {c['index_layer']}; digest-only: {c['verify_blob']}.")
    out.append("")
    if res.get("phases"):
        out += ["In-process phases (default executor, 2 worker processes):", "", "| phase | wall s |", "|---|---:|"]
        out += [f"| {name} | {sec:.2f} |" for name, sec in res["phases"]]
        out.append("")
    if res.get("profile"):
        out += ["cProfile of `run_gate`, serial (`LocalPool(workers=1)`), top functions by own time:", "", "```",
                res["profile"].rstrip(), "```", ""]
    if res.get("warning"):
        out += [f"**WARNING**: {res['warning']}", ""]
    out += ["Commands (`inspectr` below is this checkout's CLI: "
            f"`{sys.executable} -c \"{LAUNCH}\"` with PYTHONPATH={REPO}, unless --inspectr was given):", ""]
    out += [f"- {name}: `{cmd}`" for name, cmd in res["commands"].items()]
    out += ["", "Reproduce:", "", "```", *res["reproduce"], "```", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_floor":
        return floor_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds (min and median reported); default 3")
    ap.add_argument("--small", action="store_true", help="the small pair: --files 5000 --scale 0.1 --changes 60")
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--changes", type=int, default=300)
    ap.add_argument("--change-seed", type=int, default=7)
    ap.add_argument("--inspectr", default=None,
                    help="an inspectr executable to measure instead of this checkout's (default: `python -c LAUNCH` "
                         "with PYTHONPATH set to the repository root)")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="phases + cProfile of gate: when gate/diff does not meet the target (auto), always, never")
    ap.add_argument("--idle-wait", type=float, default=10.0, help="wait up to this long for a quiet moment before each run")
    ap.add_argument("--idle-budget", type=float, default=120.0, help="total seconds of such waiting in the run")
    ap.add_argument("--idle-threshold", type=float, default=0.25, help="'quiet': other processes use fewer cores than this")
    ap.add_argument("--json", type=Path, default=None, help="default benchmarks/work/gate-results[-small].json")
    ap.add_argument("--md", type=Path, default=None, help="default benchmarks/work/gate-results[-small].md")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: recompute the summary of the results in --json (or the default) and re-render --md")
    args = ap.parse_args(argv)
    if args.render_only:
        suffix = "-small" if args.small else ""
        args.json = args.json or args.work / f"gate-results{suffix}.json"
        args.md = args.md or args.work / f"gate-results{suffix}.md"
        res = json.loads(args.json.read_text())
        res["summary"] = summarise(res["raw_runs"])
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        args.md.write_text(markdown(res))
        print(markdown(res))
        return 0
    if args.small:
        args.files, args.scale, args.changes = SMALL["files"], SMALL["scale"], SMALL["changes"]
    suffix = "-small" if args.small else ""
    args.json = args.json or args.work / f"gate-results{suffix}.json"
    args.md = args.md or args.work / f"gate-results{suffix}.md"
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    bl._IDLE_BUDGET[0] = args.idle_budget
    args.work.mkdir(parents=True, exist_ok=True)

    a_info, b_info = mp.ensure_pair(args.work, args.files, args.scale, args.seed, "isal:2", args.changes, args.change_seed)
    A, B = a_info["path"], b_info["path"]
    print(f"A {A} ({'reused' if a_info.get('reused') else 'generated'}), B {B} ({'reused' if b_info.get('reused') else 'generated'})",
          file=sys.stderr)
    for info in (a_info, b_info):  # warm the page cache
        for layer in info["layers"]:
            with open(mp._blob(Path(info["path"]), layer["digest"]), "rb", buffering=0) as fp:
                while fp.read(1 << 22):
                    pass
    policy_path = args.work / "gate-policy-unsigned.toml"
    policy_path.write_text(POLICY)

    fingerprint = bl.source_fingerprint()
    machine = bl.machine_info()
    import inspectr

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    ins = ([args.inspectr] if args.inspectr else [sys.executable, "-c", LAUNCH]) + ["--no-cache"]
    machine["inspectr_imported_from"] = str(Path(inspectr.__file__).resolve().parent)
    cmds = {
        "diff": (ins + ["diff", A, B, "--format", "json"], (1,)),
        "verify A": (ins + ["verify", A], (0,)),
        "verify B": (ins + ["verify", B], (0,)),
        "gate": (ins + ["gate", "--release", A, "--rebuild", B, "--policy", str(policy_path)], (1,)),
        "floor": ([sys.executable, str(Path(__file__).resolve()), "_floor", A, B], (0,)),
    }
    quiet = (args.idle_wait, args.idle_threshold)
    runs: dict[str, list[dict]] = {name: [] for name in ROWS}
    print(f"{args.runs} rounds", file=sys.stderr)
    for i in range(args.runs):
        for name in ROWS:
            cmd, ok = cmds[name]
            r = measure(cmd, ok, quiet, env)
            runs[name].append(r)
            print(f"  [{i + 1}/{args.runs}] {name:<9} {r['wall_s']:7.2f} s  peak RSS {r['maxrss_kb'] / 1024:6.0f} MiB  "
                  f"CPU {r['user_s'] + r['sys_s']:6.2f} s  exit {r['exit']}  background {r['background_cores']:.2f} cores",
                  file=sys.stderr, flush=True)

    res: dict = {"machine": machine, "started": started, "runs": args.runs, "small": args.small,
                 "rss_method": "GNU time (`/usr/bin/time`, %M: largest single process of the tree)" if os.access(bl.GNU_TIME, os.X_OK)
                 else "a wrapper reporting getrusage(RUSAGE_CHILDREN).ru_maxrss (largest process; includes the ~10 MiB wrapper at exec)",
                 "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                 "pair": {"a": a_info, "b": {k: v for k, v in b_info.items() if k != "changes"}},
                 "policy_path": str(policy_path), "policy": POLICY,
                 "commands": {name: " ".join(cmds[name][0]).replace(f"{sys.executable} -c {LAUNCH}", "inspectr") for name in ROWS},
                 "labels": {"diff": "(1) `inspectr diff A B`", "verify A": "(2a) `inspectr verify A`", "verify B": "(2b) `inspectr verify B`",
                            "verify A + verify B": "(2) verify A + verify B (same round)",
                            "verify A + verify B + diff": "(1)+(2): what gate cost before issue 13",
                            "gate": "(3) `inspectr gate --release A --rebuild B`",
                            "floor": "(4) floor: ISA-L inflate + sha256, 1 process per image, in parallel"},
                 "raw_runs": runs}
    res["summary"] = summarise(runs)

    print("counting inflations (gate, then diff, in-process, serial)", file=sys.stderr, flush=True)
    res["inflations"] = {"gate": count_inflations(A, B, policy_path, "gate"), "diff": count_inflations(A, B, policy_path, "diff")}
    r = res["summary"]["ratios"]["gate / diff"]
    missed = verdict(r) != "met"
    res["target_missed"] = missed
    if args.profile == "always" or (args.profile == "auto" and missed):
        print("phases and cProfile of gate", file=sys.stderr, flush=True)
        res["phases"] = phases(A, B, policy_path)
        res["profile"] = profile_gate(A, B, policy_path)

    res["total_s"] = time.perf_counter() - t_start
    res["inspectr_source_sha256"] = bl._combined(fingerprint)
    warning = bl.source_changed_warning(fingerprint)
    if warning:
        res["warning"] = warning
    flags = ["--small"] if args.small else [f"--{k.replace('_', '-')} {getattr(args, k)}" for k, d in
                                              (("files", 50_000), ("scale", 1.0), ("seed", 1), ("changes", 300), ("change_seed", 7))
                                              if getattr(args, k) != d]
    res["reproduce"] = ["cd /work/main", "apt-get install -y time   # GNU time, for peak RSS",
                        f"python benchmarks/bench_gate.py --runs {args.runs}" + "".join(" " + f for f in flags)]
    text = markdown(res)
    args.md.write_text(text)
    args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(text)
    print(f"(total benchmark time {res['total_s']:.0f} s; {args.md}, {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
