#!/usr/bin/env python3
"""How long is `inspectr diff`'s text report for two plain rebuilds of a real Debian-based image?
(issue 19: under 80 lines without --full).

Two buildah builds of one recipe, FROM the real Debian 12 rootfs of fixtures/packages (tag
`base`), a few seconds apart, as CI would run them without SOURCE_DATE_EPOCH:

    COPY app/ /opt/app/           a fresh checkout each time: a real tree of ~2 300 files (this
                                  host's Python standard library and dist-packages), every mtime new
    COPY app.conf /etc/app/       the app's configuration
    ENV APP_VERSION=…             the version
    one commit per step, no --timestamp: a layer and a history entry each, whose `created` (and
    the config's) follow the clock

The second build makes a handful of real changes: app.conf edited, one module edited, one file
added, one removed, one made executable, APP_VERSION bumped. Everything else differs only in time
and history. The report is rendered at 100 columns as the terminal shows it; the script prints
the line counts (summary and --full) and exits 1 when the summary has 80 lines or more.

    python3 benchmarks/bench_rebuild_report.py            # as root; buildah, a private vfs store in a temp dir
    python3 benchmarks/bench_rebuild_report.py --keep DIR # keep both OCI layouts in DIR

Needs: buildah (Debian 12: 1.28), root. Takes about 20-40 s on two cores.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE = f"oci:{ROOT}/fixtures/packages/layout:base"
TREES = (Path("/usr/lib/python3.11"), Path("/usr/lib/python3/dist-packages"))
SKIP = ("__pycache__", "test", "tests", "idlelib", "tkinter", "ensurepip")


def _checkout(dest: Path) -> None:
    """A fresh copy of the app's tree: new mtimes on every file and directory, as a clone has."""
    for tree in TREES:
        shutil.copytree(tree, dest / tree.name, symlinks=True, copy_function=shutil.copyfile,
                        ignore=shutil.ignore_patterns(*SKIP, "*.pyc"))


def _buildah(store: Path, *args: str) -> str:
    cmd = ["buildah", "--storage-driver", "vfs", "--root", str(store / "root"), "--runroot", str(store / "run"), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def _build(store: Path, ctx: Path, version: str, out: Path) -> None:
    """One layer and one history entry per step, as `buildah build` of a Containerfile gives."""
    c = _buildah(store, "from", "--quiet", BASE)
    _buildah(store, "copy", "--add-history", c, str(ctx / "app"), "/opt/app/")
    _buildah(store, "commit", "--quiet", "--format", "oci", c, "step1")
    c = _buildah(store, "from", "--quiet", "--pull-never", "step1")
    _buildah(store, "copy", "--add-history", c, str(ctx / "app.conf"), "/etc/app/app.conf")
    _buildah(store, "commit", "--quiet", "--format", "oci", c, "step2")
    c = _buildah(store, "from", "--quiet", "--pull-never", "step2")
    _buildah(store, "config", "--add-history", "--env", f"APP_VERSION={version}", "--cmd", "/usr/bin/jq --version", c)
    _buildah(store, "commit", "--quiet", "--format", "oci", c, f"oci:{out}:app")


def _changes(ctx: Path) -> None:
    """The handful of real changes of the second build."""
    (ctx / "app.conf").write_text("listen = 0.0.0.0:9090\nworkers = 4\n")
    module = ctx / "app" / "python3.11" / "textwrap.py"
    module.write_text(module.read_text().replace("width=70", "width=72", 1))
    (ctx / "app" / "python3.11" / "NEWS.app").write_text("2.0: wider text\n")
    (ctx / "app" / "python3.11" / "this.py").unlink()
    (ctx / "app" / "python3.11" / "uuid.py").chmod(0o755)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="write the two OCI layouts here and keep them")
    args = parser.parse_args()
    from rich.console import Console

    from inspectr.diff.options import DiffOptions
    from inspectr.diff.run import diff_references
    from inspectr.present.diff_text import render_difference
    from inspectr.session import Session

    with tempfile.TemporaryDirectory(prefix="inspectr-rebuild-") as tmp:
        work = Path(tmp)
        out = args.keep or work
        out.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        for n, version in ((1, "1.0.0"), (2, "1.0.1")):
            ctx = work / f"ctx{n}"
            (ctx / "app").mkdir(parents=True)
            _checkout(ctx / "app")
            (ctx / "app.conf").write_text("listen = 0.0.0.0:8080\nworkers = 4\n")
            if n == 2:
                time.sleep(1.1)  # a later build: whole-second timestamps move
                _changes(ctx)
            _build(work, ctx, version, out / f"rebuild-{n}")
        built = time.monotonic() - started
        result = diff_references(f"oci:{out}/rebuild-1:app", f"oci:{out}/rebuild-2:app", DiffOptions(), session=Session(cache=None))
        assert result.difference is not None
        reports = {}
        for full in (False, True):
            console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
            render_difference(result.difference, console, full=full)
            reports[full] = console.export_text()
        if args.keep:
            (out / "report.txt").write_text(reports[False])
        summary, entire = len(reports[False].splitlines()), len(reports[True].splitlines())
        print(reports[False])
        print(f"built in {built:.1f} s; {len(result.difference.changes)} differences "
              f"({', '.join(f'{k} {v}' for k, v in result.difference.counts().items())}); "
              f"text report: {summary} lines, with --full: {entire} lines")
    return 0 if summary < 80 else 1


if __name__ == "__main__":
    sys.exit(main())
