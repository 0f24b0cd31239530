#!/usr/bin/env python3
"""Benchmark the HTML diff report (issue 19): a 50 000-change report in headless Chromium.

    python3 benchmarks/bench_html.py                      # 50 000 changes, 5 runs, Markdown on stdout
    python3 benchmarks/bench_html.py --append docs/benchmarks.md
    python3 benchmarks/bench_html.py --changes 5000 --runs 1   # quick check
    python3 benchmarks/bench_html.py --screenshot docs/images/diff-report.png   # the docs' screenshot, then exit

The report: a synthetic Difference (no images are read) with `--changes` changes in a tree of
usr/lib/pkgNNN/... paths: mostly timestamp, history and ownership-names changes, with noise,
build-id and content ones mixed in; a third accepted by a policy; 5% with a text diff of 6-30
lines; 1% content changes no package change explains. It is rendered by inspectr.present.html
and loaded from a file:// URL in Chromium started as tests/browser.py starts it (fresh profile per
run). Measured per run:

  first rows  navigation start -> the `inspectr-first-rows` mark the page's script sets one frame
              after it drew the first rows (the JSON parsed, the first 200 rows in the DOM, painted)
  filter      a click on the largest class's checkbox -> the list redrawn and a frame painted
              (performance.now() around the click, ended in a requestAnimationFrame + setTimeout)
  unfilter    the same click again (the class shown again)
  search      the search box's input handler, from the event to the redraw, less its 80 ms debounce

Target (issue 19): first rows and filter both under 2 s. Medians of `--runs` runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from browser import missing, start_chromium  # noqa: E402  (tests/browser.py)

from inspectr.diff.difference import Cause, Change, Difference, FieldChange, Side, Verdict  # noqa: E402
from inspectr.diff.run import DiffResult  # noqa: E402
from inspectr.present.html import diff_html  # noqa: E402

SECTION = "## HTML report (issue 19)"
TARGET_S = 2.0
# (cause, weight): a rebuild's usual mix, mostly metadata noise and a few real changes.
MIX = [(Cause.TIMESTAMP, 55), (Cause.HISTORY, 8), (Cause.OWNERSHIP_NAMES, 10), (Cause.NOISE, 8), (Cause.BUILD_ID, 7),
       (Cause.NESTED_ARCHIVE, 2), (Cause.CONTENT, 10)]


def synthetic_difference(n: int, seed: int = 19) -> Difference:
    rng = random.Random(seed)
    causes = [c for c, w in MIX for _ in range(w)]
    layers = [f"/bin/sh -c apt-get install -y pkg-group-{i} && rm -rf /var/lib/apt/lists/*" for i in range(6)]
    changes = []
    for i in range(n):
        cause = rng.choice(causes)
        path = f"usr/lib/pkg{i // 400:03d}/sub{(i // 40) % 10}/file-{i:06d}.{rng.choice(['so', 'py', 'conf', 'txt', 'json'])}"
        layer = rng.randrange(6)
        a, b = Side(layer, layers[layer]), Side(layer, layers[layer] + " (rebuilt)")
        kind = rng.choices(["modified", "added", "removed"], [8, 1, 1])[0]
        if cause is Cause.TIMESTAMP:
            fields = [FieldChange("mtime", 1_700_000_000_000_000_000 + i, 1_790_000_000_000_000_000 + i, cause)]
        elif cause is Cause.OWNERSHIP_NAMES:
            fields = [FieldChange("uname", "root", "builder", cause)]
        else:
            fields = [FieldChange("sha256", f"{i:064x}", f"{i + 1:064x}", cause), FieldChange("size", 100 + i, 120 + i, cause)]
        diff = None
        if cause is Cause.CONTENT and rng.random() < 0.5 or rng.random() < 0.01:
            lines = rng.randrange(6, 31)
            body = "".join(f" context line {j}\n" if j % 3 else f"-old value {j} = {i}\n+new value {j} = {i + 1}\n" for j in range(lines))
            diff = f"--- a/{path}\n+++ b/{path}\n@@ -1,{lines} +1,{lines} @@\n{body}"
        explained = None if cause is not Cause.CONTENT else rng.random() > 0.1
        changes.append(Change("file", path, kind, cause, fields, a=a if kind != "added" else None, b=b if kind != "removed" else None,
                              content_diff=diff, accepted_by="policy rebuild.toml: known rebuild noise" if rng.random() < 0.33 else None,
                              owners=("libpkg 1.0-1", "libpkg 1.0-2") if explained is not None else None, explained=explained))
    changes.sort(key=lambda c: c.path)
    d = Difference({"reference": "oci:bench/a:latest", "format": "oci-layout", "layers": 6},
                   {"reference": "oci:bench/b:latest", "format": "oci-layout", "layers": 6},
                   Verdict.DIFFERENT, changes, f"different: {n} synthetic differences", ["content: real content changes: review them"])
    return d


def _first_rows(driver: object) -> float:
    return float(driver.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByName('inspectr-first-rows')[0].startTime"))


_CLICK = """
const [selector, done] = arguments;
const t0 = performance.now();
document.querySelector(selector).click();
requestAnimationFrame(() => setTimeout(() => done([performance.now() - t0, document.querySelectorAll('#list .row').length])));
"""
_SEARCH = """
const [text, done] = arguments;
const box = document.getElementById('search');
const before = document.documentElement.dataset.renders;
const t0 = performance.now();
box.value = text;
box.dispatchEvent(new Event('input'));
(function wait() {
  if (document.documentElement.dataset.renders !== before) {
    requestAnimationFrame(() => setTimeout(() => done([performance.now() - t0 - 80, document.querySelectorAll('#list .row').length])));
  } else setTimeout(wait, 1);
})();
"""


def measure(page: Path, runs: int) -> dict[str, list[float]]:
    from selenium.webdriver.support.ui import WebDriverWait

    out: dict[str, list[float]] = {"first rows": [], "filter": [], "unfilter": [], "search": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-html-") as profile:
            driver = start_chromium(Path(profile))
            try:
                driver.set_script_timeout(30)
                driver.get(page.as_uri())
                WebDriverWait(driver, 60, poll_frequency=0.01).until(
                    lambda d: d.execute_script("return document.documentElement.dataset.ready === '1'"))
                out["first rows"].append(_first_rows(driver) / 1000)
                largest = "#classes input[data-cause='%d']" % list(Cause).index(Cause.TIMESTAMP)
                ms, rows = driver.execute_async_script(_CLICK, largest)
                assert rows > 0, "the filter left no rows"
                out["filter"].append(ms / 1000)
                ms, _ = driver.execute_async_script(_CLICK, largest)
                out["unfilter"].append(ms / 1000)
                ms, rows = driver.execute_async_script(_SEARCH, "sub7/file-0")
                assert rows > 0, "the search found nothing"
                out["search"].append(ms / 1000)
            finally:
                driver.quit()
    return out


def machine() -> list[tuple[str, str]]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0")
    chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip() or "?"
    import selenium

    return [("CPU", f"{cpu}, {os.cpu_count()} cores"), ("memory", f"{int(mem) / 1024 / 1024:.1f} GiB"),
            ("OS", f"{platform.system()} {platform.release()}"), ("browser", f"{chromium}, headless=new"),
            ("Python / selenium", f"{platform.python_version()} / {selenium.__version__}")]


def report(n: int, runs: int, render_s: float, size: int, results: dict[str, list[float]]) -> str:
    lines = [f"{SECTION}", "",
             f"`benchmarks/bench_html.py --changes {n} --runs {runs}`: a synthetic diff of {n:,} changes "
             f"(mixed classes, a third accepted, 5% with text diffs), rendered by `inspectr.present.html` "
             f"in {render_s:.2f} s to one {size / 1e6:.1f} MB file, loaded from file:// in headless Chromium "
             f"(fresh profile per run). Median of {runs} runs (min-max); target under {TARGET_S:.0f} s.", "",
             "| step | median | min | max | target |", "|---|---:|---:|---:|---|"]
    for step, values in results.items():
        target = f"< {TARGET_S:.0f} s: {'met' if statistics.median(values) < TARGET_S else 'MISSED'}" if step in ("first rows", "filter") else ""
        lines.append(f"| {step} | {statistics.median(values):.3f} s | {min(values):.3f} s | {max(values):.3f} s | {target} |")
    lines += ["", "| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in machine()]
    lines += ["", "first rows: navigation start to the page's `inspectr-first-rows` mark (JSON parsed, first 200 rows "
              "drawn, one frame later). filter/unfilter: a click on the timestamp checkbox (the largest class) to "
              "the redrawn list painted. search: the search box's input event to the redraw, less the 80 ms debounce.", ""]
    return "\n".join(lines)


def screenshot(target: Path) -> None:
    """The app-v1 -> app-v2 report of fixtures/packages, with etc/app/app.conf's diff open."""
    from inspectr.diff.options import DiffOptions
    from inspectr.diff.run import diff_references
    from inspectr.session import Session

    os.chdir(ROOT)  # the references as the docs write them, relative to the repository
    layout = "fixtures/packages/layout"
    result = diff_references(f"oci:{layout}:app-v1", f"oci:{layout}:app-v2", DiffOptions(), session=Session())
    with tempfile.TemporaryDirectory(prefix="bench-html-") as tmp:
        page = Path(tmp) / "app.html"
        page.write_text(diff_html(result), encoding="ascii")
        driver = start_chromium(Path(tmp) / "profile", width=1100, height=1215)
        try:
            driver.get(page.as_uri())
            time.sleep(0.3)
            driver.execute_script("""
              for (const s of document.querySelectorAll('#list .row .path'))
                if (s.textContent === 'etc/app/app.conf') s.click();
              document.querySelector('#tree-root summary').parentNode.open = true;""")
            time.sleep(0.3)
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
    print(f"{target}: {len(png)} bytes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--append", type=Path, help="append the Markdown section to this file (docs/benchmarks.md)")
    ap.add_argument("--keep", type=Path, help="also keep the generated report here")
    ap.add_argument("--screenshot", type=Path, help="write the app-v1 -> app-v2 report's screenshot here and exit")
    args = ap.parse_args()
    why = missing()
    if why:
        sys.exit(f"bench_html: {why}")
    if args.screenshot:
        screenshot(args.screenshot)
        return
    d = synthetic_difference(args.changes)
    t0 = time.perf_counter()
    page_text = diff_html(DiffResult(d, d.a, d.b))
    render_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="bench-html-") as tmp:
        page = args.keep or Path(tmp) / "report.html"
        page.write_text(page_text, encoding="ascii")
        results = measure(page, args.runs)
    text = report(args.changes, args.runs, render_s, len(page_text), results)
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as fp:
            fp.write("\n" + text)


if __name__ == "__main__":
    main()
