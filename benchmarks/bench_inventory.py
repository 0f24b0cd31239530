#!/usr/bin/env python3
"""Benchmark package inventories (issue 17): `inspectr sbom` and `inspectr audit` against `inspectr ls`.

    python benchmarks/bench_inventory.py                 # both images (built or reused), 3 interleaved rounds
    python benchmarks/bench_inventory.py --runs 5
    python benchmarks/bench_inventory.py --debian-cap 200000000 --runs 1     # quick check

Issue 17 says: "Inventory parsing is one pass over data that the layer index already holds, or
one batched content pass. Measure the cost on the 1 GB image in benchmarks/: it must stay under
20% of `ls`." This script measures that on two images, both under benchmarks/work/:

  synthetic  make_image.py's default image (img-f50000-s1: 5 gzip layers, ~1.1 GB, 61 397
             entries, no package database): reused when its stamp matches, built when not
             (as bench_ls.py / bench_gate.py do). It shows what evidence capture costs an image
             with nothing to find (every `bin/` file is 0755, so still scanned for Go build info).
  debian     a real Debian image made from this machine's installed system (`debian-host-*`):
             the dpkg-owned files of the installed packages, taken whole, smallest package first
             (plus containernetworking-plugins when installed, for Go binaries), until the cap
             (--debian-cap, default 1e9 bytes of file content); /etc whole; /var/lib/dpkg with a
             status file and info/ files for exactly the packages taken; /bin, /sbin, /lib, /lib64
             as the symlinks they are. Three gzip layers, as `apt-get install` layers would be:
             layer 0 the Priority required/important packages, /etc and the dpkg database;
             layers 1 and 2 the other packages, balanced by bytes; every layer writes a new
             var/lib/dpkg/status listing the packages installed so far. Paths are canonical
             (parent symlinks resolved, so /bin/bash is usr/bin/bash), files are read whole
             before their header is written (a file that changes size is never a torn member),
             unreadable and special files are skipped, members are in sorted order, mtimes are
             whole seconds (no PAX header per file). Rebuilt when the host's dpkg status or the
             parameters change. Compression isal level 2 (make_image.py's `_Sink`).

Timed, as separate CLI processes under GNU time (`/usr/bin/time`: wall, user+sys, peak RSS of
the largest process), stdout to /dev/null, page cache warm, rounds interleaved (all commands
on image 1, then image 2, then the next round), min and median of --runs:

  ls cold          `inspectr --cache-dir FRESH ls -f json IMG`      (fresh, empty cache each run,
  sbom cold        `inspectr --cache-dir FRESH sbom -f json IMG`     deleted untimed afterwards:
  ls cold @base    the same ls, at the commit before issue 17        the full verified index pass,
                   (a `git worktree` of --base-rev, 79d4706,         plus writing the cache)
                   PYTHONPATH pointing at it)
  ls warm          `inspectr --cache-dir WARM ls -f json IMG`        (WARM populated untimed before
  sbom warm        `inspectr --cache-dir WARM sbom -f json IMG`      the rounds by one run of each;
  audit warm       `inspectr --cache-dir WARM audit -f json IMG`     a hit still sha256s every blob)
                   (debian only; audit re-reads the package-owned files for their md5s, one
                   batched content pass, and exits 1 when it has findings)
  audit cold       `inspectr --cache-dir FRESH audit -f json IMG`, now and @base (debian only;
  audit cold @base  --no-audit-cold skips them): the secret-scanning index pass plus, now, the md5
                   pass; at the base commit, plus the re-read of the package databases it did then
  floor            every layer inflated with ISA-L and sha256'd (the diff_id), one process per
                   core (bench_ls.py's floor, `--procs` = cores)

Then, in one child process per image (--phase-reps times, median), warm `sbom -f json` step by
step: open, index_layers (cache hit), apply_layers, read_inventory (the evidence parse itself),
inventory_to_json, and present/json.json_text's encode / may_hold_secret / redact + re-encode.

Ratios: (sbom - ls) / ls, warm and cold, against the issue's 20% target; cold ls now / cold ls
at the base commit (the cost of evidence capture in the index pass); audit warm / ls warm. Each
is given for the medians, the minimums, and per round (rounds are interleaved, so a per-round
ratio compares runs made under similar background load), in wall time and in CPU time.

When a warm sbom misses the target (or with --profile always), one warm sbom (and one warm
audit) per image runs under cProfile in a child process, and the top functions by own time are
reported.

`inspectr` is this checkout's CLI (`python -c LAUNCH`, PYTHONPATH = repository root), as in
bench_gate.py. Prints Markdown on stdout (progress on stderr) and writes
benchmarks/work/inventory-results.md and .json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import os
import pstats
import shutil
import stat
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
# This checkout's inspectr, or (in the children of a --new-rev run) the pinned worktree's.
sys.path.insert(0, os.environ.get("INSPECTR_BENCH_TREE", str(REPO)))
import bench_ls as bl  # noqa: E402  (benchmarks/bench_ls.py)
import make_image  # noqa: E402  (benchmarks/make_image.py)

TARGET = 0.20
BASE_REV = "79d4706"
BASE_TREE = Path("/tmp/inspectr-base")
NEW_TREE = Path("/tmp/inspectr-bench-new")  # with --new-rev
LAUNCH = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; sys.exit(main())"
GO_PACKAGES = ("containernetworking-plugins",)  # Go binaries, for the build-info evidence, when installed
DEBIAN_LAYERS = 3


# --------------------------------------------------------------------------- the Debian image


def _dpkg_stanzas(text: str) -> list[tuple[str, dict[str, str]]]:
    """(raw stanza text, fields) of a dpkg status file, in file order."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        out.append((block.strip("\n") + "\n", fields))
    return out


def _canonical(path: str) -> str | None:
    """PATH with its parent directories' symlinks resolved, relative to / (no leading slash)."""
    parent, base = os.path.split(path)
    if base in ("", ".", ".."):
        return None
    real = os.path.join(os.path.realpath(parent or "/"), base)
    return real.lstrip("/") or None


def plan_debian(cap: int, dpkg: Path = Path("/var/lib/dpkg")) -> dict:
    """Which installed packages go into which layer, and the paths each layer holds."""
    status_text = (dpkg / "status").read_text(errors="surrogateescape")
    info = dpkg / "info"
    packages = []  # (name, arch, info-name, priority, raw stanza)
    for raw, fields in _dpkg_stanzas(status_text):
        if fields.get("Status") != "install ok installed" or "Package" not in fields:
            continue
        name, arch = fields["Package"], fields.get("Architecture", "")
        for info_name in (f"{name}:{arch}", name):
            if (info / f"{info_name}.list").exists():
                break
        else:
            continue
        packages.append({"name": name, "arch": arch, "info": info_name, "priority": fields.get("Priority", ""),
                         "stanza": raw, "order": len(packages)})
    owner: dict[str, str] = {}
    for p in packages:  # paths (canonical) and the bytes of the regular files each package owns first
        files, size = [], 0
        for line in (info / f"{p['info']}.list").read_text(errors="surrogateescape").splitlines():
            path = _canonical(line) if line.startswith("/") else None
            if path is None or path.startswith("etc/") or path == "etc":
                continue  # /etc goes in whole, in layer 0
            try:
                st = os.lstat("/" + path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                if path not in owner:  # a file two packages list (a diversion) counts once
                    size += st.st_size
            elif not (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            owner.setdefault(path, p["name"])
            files.append(path)
        p["paths"], p["bytes"] = files, size
    chosen: list[dict] = [p for p in packages if p["name"] in GO_PACKAGES]
    budget = cap - sum(p["bytes"] for p in chosen)
    for p in sorted((p for p in packages if p["name"] not in GO_PACKAGES), key=lambda p: (p["bytes"], p["info"])):
        if p["bytes"] > budget:
            break
        chosen.append(p)
        budget -= p["bytes"]
    base = [p for p in chosen if p["priority"] in ("required", "important")]
    rest = sorted((p for p in chosen if p not in base), key=lambda p: (-p["bytes"], p["info"]))
    layers: list[list[dict]] = [base] + [[] for _ in range(DEBIAN_LAYERS - 1)]
    for p in rest:  # largest first into the lighter upper layer
        min(layers[1:], key=lambda layer: (sum(q["bytes"] for q in layer), layers.index(layer))).append(p)
    for layer in layers:
        layer.sort(key=lambda p: p["order"])
    return {"status_sha256": hashlib.sha256(status_text.encode(errors="surrogateescape")).hexdigest(),
            "installed": len(packages), "layers": layers}


def _walk(root: str) -> list[str]:
    """Every path under /ROOT (canonical, sorted), not following symlinks."""
    out = []
    top = "/" + root
    if not os.path.isdir(top) or os.path.islink(top):
        return [root] if os.path.lexists(top) else []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = dirpath.lstrip("/")
        out.append(rel)
        out += [f"{rel}/{n}" for n in sorted(filenames)]
        out += [f"{rel}/{n}" for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
    return out


def debian_layer_members(plan: dict, i: int) -> tuple[list[str], dict[str, bytes]]:
    """Layer i's paths from the host, and the files written for it (var/lib/dpkg/status)."""
    layers = plan["layers"]
    paths: set[str] = set()
    synthetic: dict[str, bytes] = {}
    if i == 0:
        for link in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if os.path.islink("/" + link):
                paths.add(link)
        paths.update(_walk("etc"))
        for path in _walk("var/lib/dpkg"):
            if not path.startswith(("var/lib/dpkg/info/", "var/lib/dpkg/status")) and \
                    path not in ("var/lib/dpkg/lock", "var/lib/dpkg/lock-frontend"):
                paths.add(path)
    # info/<package>.<suffix>: a suffix has no dot, a package name may (python3 vs python3.11.list)
    info_files: dict[str, list[str]] = {}
    for f in sorted(Path("/var/lib/dpkg/info").iterdir()):
        if f.is_file() and not f.is_symlink() and "." in f.name:
            info_files.setdefault(f.name.rsplit(".", 1)[0], []).append(str(f).lstrip("/"))
    for p in layers[i]:
        paths.update(p["paths"])
        paths.update(info_files.get(p["info"], ()))
    installed = sorted((p for layer in layers[: i + 1] for p in layer), key=lambda p: p["order"])
    stanzas = [p["stanza"] for p in installed]  # in the host status file's order
    synthetic["var/lib/dpkg/status"] = "\n".join(stanzas).encode(errors="surrogateescape")
    for path in list(paths) + list(synthetic):  # parent directories, as real layer tars have them
        parent = path.rpartition("/")[0]
        while parent and parent not in paths:
            paths.add(parent)
            parent = parent.rpartition("/")[0]
    paths -= synthetic.keys()
    return sorted(paths), synthetic


def _write_debian_layer(args: tuple[dict, int, str]) -> dict:
    plan, i, tmp_path = args
    t0 = time.perf_counter()
    paths, synthetic = debian_layer_members(plan, i)
    names = sorted(set(paths) | synthetic.keys(), key=lambda p: p.split("/"))
    skipped = {"unreadable": 0, "special": 0}
    files = 0
    with open(tmp_path, "wb") as fp:
        sink = make_image._Sink(fp, "isal:2")
        tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]
        for name in names:
            if name in synthetic:
                data = synthetic[name]
                ti = tarfile.TarInfo(name)
                st = os.stat("/var/lib/dpkg/status")
                ti.size, ti.mode, ti.mtime, ti.uname, ti.gname = len(data), 0o644, int(st.st_mtime), "root", "root"
                tar.addfile(ti, io.BytesIO(data))
                files += 1
                continue
            try:
                ti = tar.gettarinfo("/" + name, arcname=name)
            except OSError:
                skipped["unreadable"] += 1
                continue
            if ti is None or not (ti.isreg() or ti.isdir() or ti.issym() or ti.islnk()):
                skipped["special"] += 1
                continue
            ti.mtime = int(ti.mtime)
            if ti.isreg():
                try:
                    with open("/" + name, "rb") as src:
                        data = src.read()
                except OSError:
                    skipped["unreadable"] += 1
                    continue
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
                files += 1
            else:
                tar.addfile(ti)
        tar.close()
        sink.close()
    return {"tmp": tmp_path, "digest": "sha256:" + sink.blob.hexdigest(), "diff_id": "sha256:" + sink.diff.hexdigest(),
            "size": sink.csize, "uncompressed": sink.usize, "entries": len(names), "files": files,
            "packages": len(plan["layers"][i]), "skipped": skipped, "seconds": round(time.perf_counter() - t0, 2)}


def make_debian(out: Path, cap: int) -> dict:
    t0 = time.perf_counter()
    plan = plan_debian(cap)
    if out.exists():
        shutil.rmtree(out)
    (out / "blobs" / "sha256").mkdir(parents=True)
    tasks = [(plan, i, str(out / f".layer{i}.tmp")) for i in range(len(plan["layers"]))]
    with multiprocessing.get_context("fork").Pool(min(len(tasks), os.cpu_count() or 1)) as pool:
        layers = pool.map(_write_debian_layer, tasks, chunksize=1)
    for info in layers:
        os.replace(info["tmp"], out / "blobs" / "sha256" / info["digest"].split(":", 1)[1])
    config = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": [info["diff_id"] for info in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"bench_inventory.py debian layer {i}"}
                    for i in range(len(layers))],
    }
    config_desc = make_image._put_blob(out, make_image._dump(config))
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": make_image.GZIP_LAYER, "digest": info["digest"], "size": info["size"]} for info in layers],
    }
    manifest_desc = make_image._put_blob(out, make_image._dump(manifest))
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
                                                "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    (out / "index.json").write_bytes(make_image._dump(index))
    (out / "oci-layout").write_bytes(make_image._dump({"imageLayoutVersion": "1.0.0"}))
    summary = {
        "path": str(out.resolve()),
        "params": debian_params(cap, plan["status_sha256"]),
        "manifest_digest": manifest_desc["digest"],
        "installed_packages": plan["installed"],
        "packages": sum(len(layer) for layer in plan["layers"]),
        "packages_per_layer": [len(layer) for layer in plan["layers"]],
        "go_packages": [p["name"] for layer in plan["layers"] for p in layer if p["name"] in GO_PACKAGES],
        "layers": [{k: v for k, v in info.items() if k != "tmp"} for info in layers],
        "entries": sum(info["entries"] for info in layers),
        "uncompressed_bytes": sum(info["uncompressed"] for info in layers),
        "compressed_bytes": sum(info["size"] for info in layers),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out.parent / (out.name + ".json")).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{out}: {len(layers)} layers, {summary['packages']} of {plan['installed']} installed packages "
          f"{summary['packages_per_layer']}, {summary['entries']} entries, {summary['uncompressed_bytes'] / 1e9:.3f} GB "
          f"uncompressed, {summary['compressed_bytes'] / 1e9:.3f} GB gzip, {summary['seconds']} s", file=sys.stderr)
    return summary


def debian_params(cap: int, status_sha256: str) -> dict:
    return {"cap": cap, "layers": DEBIAN_LAYERS, "go_packages": list(GO_PACKAGES), "dpkg_status_sha256": status_sha256,
            "compress": "isal:2", "format": 3}


def ensure_debian(out: Path, cap: int) -> dict:
    stamp = out.parent / (out.name + ".json")
    status_sha = hashlib.sha256(Path("/var/lib/dpkg/status").read_bytes()).hexdigest()
    if stamp.exists() and (out / "index.json").exists():
        try:
            summary = json.loads(stamp.read_text())
            if summary.get("params") == debian_params(cap, status_sha) and all(
                    (out / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]).stat().st_size == layer["size"]
                    for layer in summary["layers"]):
                summary["reused"] = True
                summary["path"] = str(out.resolve())
                return summary
        except (OSError, ValueError, KeyError):
            pass
    return make_debian(out, cap)


# --------------------------------------------------------------------------- measuring


def _warm_page_cache(info: dict) -> None:
    for layer in info["layers"]:
        with open(Path(info["path"]) / "blobs" / "sha256" / layer["digest"].split(":", 1)[1], "rb", buffering=0) as fp:
            while fp.read(1 << 22):
                pass


def _env(root: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(root), INSPECTR_BENCH_TREE=str(root), INSPECTR_CACHE_DIR="/nonexistent-use-cache-dir")


def _fingerprint(root: Path) -> dict[str, str]:
    """sha256 of each .py file under ROOT/inspectr (bench_ls.source_fingerprint, for any tree)."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((root / "inspectr").rglob("*.py"))}


def _worktree(tree: Path, rev: str) -> bool:
    """A detached git worktree of REV at TREE; True when made here (and to be removed)."""
    want = subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], capture_output=True, text=True).stdout.strip()
    if tree.exists():
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        if head != want:
            raise SystemExit(f"{tree} exists at {head or '?'}, not {rev}: remove it (git worktree remove)")
        return False
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev], check=True,
                   stdout=subprocess.DEVNULL)
    return True


# Every child runs here, never in the checkout: `python -c` puts the working directory first on
# sys.path, ahead of PYTHONPATH, so a child started in /work/main imports /work/main/inspectr
# whatever PYTHONPATH says (the @base rows would then measure the new code).
NEUTRAL_CWD = "/"


def check_import(env: dict, want: Path) -> str:
    """Where a child with ENV imports inspectr from; SystemExit unless it is WANT/inspectr."""
    got = subprocess.run([sys.executable, "-c", "import inspectr; print(inspectr.__file__)"], env=env, cwd=NEUTRAL_CWD,
                         capture_output=True, text=True, check=True).stdout.strip()
    if Path(got).resolve().parent != (want / "inspectr").resolve():
        raise SystemExit(f"a child meant to run {want} imports inspectr from {got}")
    return got


def measure(cmd: list[str], ok: tuple[int, ...], env: dict, quiet: tuple[float, float], fresh_cache: Path | None) -> dict:
    if quiet[0] > 0:
        bl.wait_for_quiet(*quiet)
    try:
        return bl.run_measured(cmd, ok=ok, env=env, cwd=NEUTRAL_CWD)
    finally:
        if fresh_cache is not None and fresh_cache.exists():
            shutil.rmtree(fresh_cache)
            os.sync()  # the cache's write-back must not land in the next run


def profile_main(out: str, argv: list[str]) -> int:
    """Child: run the CLI with argv under cProfile, stats to OUT."""
    import cProfile

    from inspectr.cli import main as cli_main

    sys.argv = ["inspectr", *argv]
    prof = cProfile.Profile()
    code = 0
    prof.enable()
    try:
        cli_main(argv)  # argv given: main() returns through SystemExit instead of ending the process
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        prof.disable()
        prof.dump_stats(out)
    return 0 if code in (0, 1) else code


PHASES = ("open image", "index_layers (cache hit: blob sha256 + cache decode)", "apply_layers (merged tree)",
          "read_inventory (parse the kept evidence)", "inventory_to_json", "json_text: encode, indent=2",
          "json_text: may_hold_secret(text)", "json_text: redact_value + encode again", "write to /dev/null")


def phases_main(cache_dir: str, image: str, reps: int) -> int:
    """Child: what `inspectr --cache-dir CACHE sbom -f json IMAGE` does, step by step, `reps` times
    in fresh sessions; prints {phase: [seconds, ...]} as JSON. The steps are those of
    cli/sbom_cmd.py, packages/inventory.image_inventory and present/json.json_text."""
    import json as _json

    from inspectr.fs.build import index_layers
    from inspectr.fs.cache import LayerCache
    from inspectr.fs.tree import apply_layers
    from inspectr.packages.inventory import read_inventory
    from inspectr.present.inventory import inventory_to_json
    from inspectr.present.json import FORMAT_VERSION
    from inspectr.session import Session
    from inspectr.untrusted.secrets import may_hold_secret, redact_value

    out: dict[str, list[float]] = {name: [] for name in PHASES}
    facts: dict = {}
    for _ in range(reps):
        times = []
        t = time.perf_counter()
        session = Session(cache=LayerCache(Path(cache_dir)))
        img = session.open_image(image)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        indexes = index_layers(img, session=session)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        tree = apply_layers(indexes, img.limits)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        inventory = read_inventory(img, indexes, tree)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        doc = {"format_version": FORMAT_VERSION, "kind": "inventory", **inventory_to_json(inventory)}
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        text = _json.dumps(doc, indent=2, ensure_ascii=True)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        again = may_hold_secret(text)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        if again:
            text = _json.dumps(redact_value(doc), indent=2, ensure_ascii=True)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        with open(os.devnull, "w") as fp:
            fp.write(text + "\n")
        times.append(time.perf_counter() - t)
        for name, sec in zip(PHASES, times):
            out[name].append(sec)
        t = time.perf_counter()
        compact = _json.dumps(doc, ensure_ascii=True)
        facts = {"second_encode": again, "json_bytes": len(text), "evidence_bytes": sum(len(e[3]) for i in indexes for e in i.evidence),
                 "evidence_items": sum(len(i.evidence) for i in indexes), "package_files": sum(len(p.files) for p in inventory.packages),
                 "compact_c_encode_s": time.perf_counter() - t, "compact_bytes": len(compact)}
        del indexes, tree, inventory, doc, text, compact
    print(_json.dumps({"phases": out, "facts": facts}))
    return 0


def profile_top(stats_path: str, top: int) -> str:
    buf = io.StringIO()
    st = pstats.Stats(stats_path, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    body = text[text.find("   ncalls"):] if "   ncalls" in text else text
    total = f"total {st.total_tt:.2f} s in the main process (workers, if any, not seen)\n"  # type: ignore[attr-defined]
    return total + "\n".join(line.replace(str(REPO) + "/", "") for line in body.rstrip().splitlines())


def _stats(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "all": values}


def summarise(runs: dict[str, list[dict]]) -> dict:
    rows = {}
    for name, rs in runs.items():
        rows[name] = {"wall": _stats([r["wall_s"] for r in rs]), "cpu": _stats([r["user_s"] + r["sys_s"] for r in rs]),
                      "peak_rss_kb": max(r["maxrss_kb"] for r in rs),
                      "background_cores": _stats([r["background_cores"] for r in rs]),
                      "exits": sorted({r["exit"] for r in rs})}
    ratios = {}

    def ratio(label: str, num: str, den: str, minus: bool) -> None:
        if num not in runs or den not in runs:
            return
        f = (lambda a, b: (a - b) / b) if minus else (lambda a, b: a / b)
        n = len(runs[num])
        w = {k: [r["wall_s"] for r in runs[k]] for k in (num, den)}
        c = {k: [r["user_s"] + r["sys_s"] for r in runs[k]] for k in (num, den)}
        ratios[label] = {"kind": "excess" if minus else "ratio",
                         "of_median": f(statistics.median(w[num]), statistics.median(w[den])),
                         "of_min": f(min(w[num]), min(w[den])),
                         "per_round": [f(w[num][i], w[den][i]) for i in range(n)],
                         "cpu_of_median": f(statistics.median(c[num]), statistics.median(c[den])),
                         "cpu_per_round": [f(c[num][i], c[den][i]) for i in range(n)]}

    ratio("(sbom warm − ls warm) / ls warm", "sbom warm", "ls warm", True)
    ratio("(sbom cold − ls cold) / ls cold", "sbom cold", "ls cold", True)
    ratio("ls cold / ls cold @base (evidence capture in the index pass)", "ls cold", "ls cold @base", False)
    ratio("sbom cold / ls cold @base", "sbom cold", "ls cold @base", False)
    ratio("(audit warm − ls warm) / ls warm", "audit warm", "ls warm", True)
    ratio("audit warm / ls cold", "audit warm", "ls cold", False)
    ratio("audit cold / audit cold @base", "audit cold", "audit cold @base", False)
    ratio("ls cold / floor", "ls cold", "floor", False)
    ratio("sbom cold / floor", "sbom cold", "floor", False)
    return {"rows": rows, "ratios": ratios}


def verdict(r: dict) -> str:
    wall = r["of_median"] < TARGET and r["of_min"] < TARGET
    cpu = r["cpu_of_median"] < TARGET
    if wall and cpu:
        return "met"
    if not wall and not cpu:
        return f"missed ({max(r['of_median'], r['cpu_of_median']):.0%} at worst, against 20%)"
    return f"wall {'met' if wall else 'missed'}, CPU {'met' if cpu else 'missed'}"


# --------------------------------------------------------------------------- report


def _mib(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def markdown(res: dict) -> str:
    m, p = res["machine"], res["machine"]["parallel_probe"]
    out = [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}, "
        f"isal {m['isal']}, zstandard {m['zstandard']}. inspectr {m['inspectr_git']} (source sha256 "
        f"{res['inspectr_source_sha256']}); base for \"@base\": {res['base_rev']} (git worktree {BASE_TREE}). "
        f"Children import inspectr from {res.get('imported_from', {}).get('new', '?')} and, for @base, "
        f"{res.get('imported_from', {}).get('base', '?')} (checked before the rounds).",
        f"Parallel probe: 1 GiB sha256 in 1 process {p['one_proc_s']:.2f} s, in each of 2 concurrent processes "
        f"{p['two_procs_s']:.2f} s (2-process speedup {p['speedup_2p']:.2f}x of an ideal 2x).",
        f"Run {res['started']}, {res['total_s']:.0f} s in all. {res['runs']} interleaved rounds; every command a fresh "
        f"process under GNU time (peak RSS = largest single process); page cache warm.",
        "",
    ]
    for key, img in res["images"].items():
        info = img["info"]
        if key == "debian":
            desc = (f"{len(info['layers'])} gzip layers, {info['packages']} of the host's {info['installed_packages']} installed "
                    f"dpkg packages (per layer {info['packages_per_layer']}; Go: {', '.join(info['go_packages']) or 'none'}), "
                    f"{info['entries']} entries")
        else:
            desc = f"{len(info['layers'])} gzip layers, {info['entries']} entries, no package database"
        out.append(f"- **{key}** `{info['path']}`: {desc}, {info['uncompressed_bytes'] / 1e9:.3f} GB uncompressed, "
                   f"{info['compressed_bytes'] / 1e9:.3f} GB gzip; {'reused' if info.get('reused') else 'built'}.")
        if img.get("sbom_facts"):
            out.append(f"  sbom found {img['sbom_facts']}.")
        if img.get("audit_facts"):
            out.append(f"  audit: {img['audit_facts']}.")
    out.append("")
    for key, img in res["images"].items():
        s = img["summary"]
        out += [f"#### {key}", "",
                "| command | wall min s | wall median s | CPU s median | peak RSS MiB | background cores (median) | exit |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for name, r in s["rows"].items():
            out.append(f"| {res['labels'].get(name, name)} | {r['wall']['min']:.2f} | {r['wall']['median']:.2f} | "
                       f"{r['cpu']['median']:.2f} | {_mib(r['peak_rss_kb'])} | {r['background_cores']['median']:.2f} | "
                       f"{','.join(map(str, r['exits']))} |")
        out += ["", "| ratio | wall, of medians | wall, of minimums | wall, per round | CPU, of medians | CPU, per round | target |",
                "|---|---:|---:|---|---:|---|---|"]
        for label, r in s["ratios"].items():
            fmt = _pct if r["kind"] == "excess" else (lambda x: f"{x:.2f}x")
            target = f"< 20%: **{verdict(r)}**" if label.startswith("(sbom") else "-"
            out.append(f"| {label} | {fmt(r['of_median'])} | {fmt(r['of_min'])} | {', '.join(fmt(x) for x in r['per_round'])} | "
                       f"{fmt(r['cpu_of_median'])} | {', '.join(fmt(x) for x in r['cpu_per_round'])} | {target} |")
        out.append("")
    for key, img in res["images"].items():
        ph = img.get("phases")
        if not ph:
            continue
        warm_ls = img["summary"]["rows"]["ls warm"]["wall"]["median"]
        cold_ls = img["summary"]["rows"]["ls cold"]["wall"]["median"]
        f = ph["facts"]
        out += [f"`sbom -f json` warm on {key}, step by step in one process (median of {len(next(iter(ph['phases'].values())))}; "
                f"% of the median `ls` warm / cold wall time above):", "",
                "| step | median s | % of ls warm | % of ls cold |", "|---|---:|---:|---:|"]
        total = 0.0
        for name, secs in ph["phases"].items():
            med = statistics.median(secs)
            total += med
            out.append(f"| {name} | {med:.3f} | {med / warm_ls:.1%} | {med / cold_ls:.1%} |")
        out.append(f"| total (without interpreter start and imports) | {total:.3f} | {total / warm_ls:.1%} | {total / cold_ls:.1%} |")
        out += ["", f"Evidence kept by the indexes: {f['evidence_items']} items, {f['evidence_bytes'] / 1e6:.1f} MB. "
                f"Inventory: {f['package_files']} package files. Output {f['json_bytes'] / 1e6:.1f} MB of JSON; "
                f"json_text encoded it {'twice (a trigger substring somewhere in the document: the whole of it redacted and encoded again)' if f['second_encode'] else 'once'}. "
                f"For scale: the same document, compact (C encoder, no indent), encodes in {f['compact_c_encode_s']:.3f} s.", ""]
    for key, img in res["images"].items():
        for what, text in img.get("profiles", {}).items():
            text = "\n".join(text.splitlines()[: res.get("profile_lines", 25) + 2])
            out += [f"cProfile of one {what} on {key} (main process), top functions by own time:", "", "```", text, "```", ""]
    if res.get("warning"):
        out += [f"**WARNING**: {res['warning']}", ""]
    out += ["Commands (`inspectr` = `python -c LAUNCH` with PYTHONPATH=" + (f"{NEW_TREE} (--new-rev {res['params'].get('new_rev')})"
            if res["params"].get("new_rev") else "the repository root") + "; "
            f"`inspectr@base` = the same with PYTHONPATH={BASE_TREE}; FRESH = a new empty --cache-dir per run, deleted "
            "untimed after it; WARM = one --cache-dir per image, populated before the rounds):", ""]
    out += [f"- {name}: `{cmd}`" for name, cmd in res["commands"].items()]
    out += ["", "Reproduce:", "", "```", *res["reproduce"], "```", ""]
    return "\n".join(out)


def _sbom_facts(doc: dict) -> str:
    pkgs = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(pkgs, list):
        return "?"
    by: dict[str, int] = {}
    for p in pkgs:
        t = p.get("type") or p.get("ecosystem") or p.get("kind") or "?"
        by[t] = by.get(t, 0) + 1
    if not pkgs:
        return "0 packages"
    return f"{len(pkgs)} packages ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))})"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_profile":
        return profile_main(argv[1], argv[2:])
    if argv and argv[0] == "_phases":
        return phases_main(argv[1], argv[2], int(argv[3]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds (min and median reported); default 3")
    ap.add_argument("--debian-cap", type=int, default=1_000_000_000, help="bytes of file content in the Debian image; default 1e9")
    ap.add_argument("--images", default="synthetic,debian", help="which images, comma-separated; default both")
    ap.add_argument("--no-audit-cold", action="store_true",
                    help="skip cold `audit` now and @base on the Debian image (about 35 s a round)")
    ap.add_argument("--phase-reps", type=int, default=3, help="in-process repetitions of warm sbom's phases; default 3 (0: skip)")
    ap.add_argument("--new-rev", default=None,
                    help="measure a clean git worktree of this commit (at /tmp/inspectr-bench-new) instead of this "
                         "checkout's working tree: for runs while the working tree is being edited")
    ap.add_argument("--base-rev", default=BASE_REV, help=f"the commit before issue 17, for `ls cold @base`; default {BASE_REV}")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="cProfile one warm sbom and audit per image: when a warm target is missed (auto), always, never")
    ap.add_argument("--idle-wait", type=float, default=10.0, help="wait up to this long for a quiet moment before each run")
    ap.add_argument("--idle-budget", type=float, default=120.0, help="total seconds of such waiting in the run")
    ap.add_argument("--idle-threshold", type=float, default=0.25, help="'quiet': other processes use fewer cores than this")
    ap.add_argument("--profile-lines", type=int, default=25, help="functions shown per profile; default 25")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: recompute the ratios of the results in --json (or the default) and re-render --md")
    ap.add_argument("--json", type=Path, default=None, help="default benchmarks/work/inventory-results.json")
    ap.add_argument("--md", type=Path, default=None, help="default benchmarks/work/inventory-results.md")
    args = ap.parse_args(argv)
    args.json = args.json or args.work / "inventory-results.json"
    args.md = args.md or args.work / "inventory-results.md"
    if args.render_only:
        res = json.loads(args.json.read_text())
        for img in res["images"].values():
            img["summary"] = summarise(img["raw_runs"])
        res["profile_lines"] = args.profile_lines
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        args.md.write_text(markdown(res))
        print(markdown(res))
        return 0
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    bl._IDLE_BUDGET[0] = args.idle_budget
    args.work.mkdir(parents=True, exist_ok=True)
    wanted = [x.strip() for x in args.images.split(",") if x.strip()]

    infos: dict[str, dict] = {}
    if "synthetic" in wanted:
        infos["synthetic"] = make_image.ensure_image(args.work / "img-f50000-s1", 1.0, 50_000, 1, "isal:2")
    if "debian" in wanted:
        infos["debian"] = ensure_debian(args.work / f"debian-host-c{args.debian_cap}", args.debian_cap)
    for key, info in infos.items():
        print(f"{key}: {info['path']} ({'reused' if info.get('reused') else 'built'}), "
              f"{info['uncompressed_bytes'] / 1e9:.3f} GB uncompressed", file=sys.stderr)
        _warm_page_cache(info)

    made: list[Path] = []
    if _worktree(BASE_TREE, args.base_rev):
        made.append(BASE_TREE)
    new_root = REPO
    if args.new_rev:
        if _worktree(NEW_TREE, args.new_rev):
            made.append(NEW_TREE)
        new_root = NEW_TREE
    fresh_root = Path(tempfile.mkdtemp(prefix="inspectr-bench-inv-"))
    try:
        fingerprint = _fingerprint(new_root)
        machine = bl.machine_info()
        if args.new_rev:
            short = subprocess.run(["git", "-C", str(NEW_TREE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                   text=True).stdout.strip()
            machine["inspectr_git"] = f"{short} (a clean git worktree of {args.new_rev} at {NEW_TREE})"
        new_env, base_env = _env(new_root), _env(BASE_TREE)
        imported_from = {"new": check_import(new_env, new_root), "base": check_import(base_env, BASE_TREE)}
        ins = [sys.executable, "-c", LAUNCH]
        fresh = fresh_root / "fresh"
        quiet = (args.idle_wait, args.idle_threshold)
        images: dict[str, dict] = {}
        plans: dict[str, list[tuple[str, list[str], tuple[int, ...], dict, Path | None]]] = {}
        commands: dict[str, str] = {}
        for key, info in infos.items():
            img = info["path"]
            warm = fresh_root / f"warm-{key}"
            rows = [
                ("ls cold", ins + ["--cache-dir", str(fresh), "ls", "-f", "json", img], (0,), new_env, fresh),
                ("sbom cold", ins + ["--cache-dir", str(fresh), "sbom", "-f", "json", img], (0,), new_env, fresh),
                ("ls cold @base", ins + ["--cache-dir", str(fresh), "ls", "-f", "json", img], (0,), base_env, fresh),
                ("ls warm", ins + ["--cache-dir", str(warm), "ls", "-f", "json", img], (0,), new_env, None),
                ("sbom warm", ins + ["--cache-dir", str(warm), "sbom", "-f", "json", img], (0,), new_env, None),
            ]
            if key == "debian":
                rows.append(("audit warm", ins + ["--cache-dir", str(warm), "audit", "-f", "json", img], (0, 1), new_env, None))
                if not args.no_audit_cold:
                    rows += [("audit cold", ins + ["--cache-dir", str(fresh), "audit", "-f", "json", img], (0, 1), new_env, fresh),
                             ("audit cold @base", ins + ["--cache-dir", str(fresh), "audit", "-f", "json", img], (0, 1), base_env,
                              fresh)]
            cores = os.cpu_count() or 1
            rows.append(("floor", [sys.executable, str(HERE / "bench_ls.py"), "_floor", img, "--procs",
                                   str(min(cores, len(info["layers"])))], (0,), new_env, None))
            plans[key] = rows
            # Populate WARM (untimed) and keep what sbom and audit found, for the report.
            warm.mkdir(mode=0o700)
            facts: dict = {}
            for name, cmd, ok, env, _ in rows:
                if name not in ("ls warm", "sbom warm", "audit warm"):
                    continue
                t = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, env=env, cwd=NEUTRAL_CWD)
                if proc.returncode not in ok:
                    raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr.decode(errors='replace')[-2000:]}")
                print(f"  [{key} populate] {name:<14} {time.perf_counter() - t:6.2f} s, {len(proc.stdout)} bytes of output",
                      file=sys.stderr, flush=True)
                try:
                    doc = json.loads(proc.stdout)
                except ValueError:
                    doc = None
                if name == "sbom warm" and doc is not None:
                    facts["sbom_facts"] = _sbom_facts(doc)
                    (args.work / f"inventory-sbom-{Path(info['path']).name}.json").write_bytes(proc.stdout)
                if name == "audit warm":
                    (args.work / f"inventory-audit-{Path(info['path']).name}.json").write_bytes(proc.stdout)
                    facts["audit_facts"] = f"exit {proc.returncode}, {len(proc.stdout)} bytes of JSON"
                    if isinstance(doc, dict):
                        rules: dict[str, int] = {}
                        for finding in doc.get("findings", []):
                            rules[finding.get("rule", "?")] = rules.get(finding.get("rule", "?"), 0) + 1
                        facts["audit_facts"] += (f"; package_integrity {doc.get('package_integrity')}; findings by rule "
                                                 f"{dict(sorted(rules.items()))}")
            images[key] = {"info": info, **facts}
            for name, cmd, _, env, _ in rows:
                text = " ".join(cmd).replace(f"{sys.executable} -c {LAUNCH}", "inspectr@base" if env is base_env else "inspectr")
                commands[f"{name} ({key})"] = text.replace(str(fresh), "FRESH").replace(str(warm), "WARM")

        runs: dict[str, dict[str, list[dict]]] = {key: {name: [] for name, *_ in rows} for key, rows in plans.items()}
        print(f"{args.runs} rounds", file=sys.stderr)
        for i in range(args.runs):
            for key, rows in plans.items():
                for name, cmd, ok, env, cleanup in rows:
                    r = measure(cmd, ok, env, quiet, cleanup)
                    runs[key][name].append(r)
                    print(f"  [{i + 1}/{args.runs}] {key:<9} {name:<14} {r['wall_s']:7.2f} s  CPU {r['user_s'] + r['sys_s']:6.2f} s  "
                          f"peak RSS {r['maxrss_kb'] / 1024:6.0f} MiB  exit {r['exit']}  background {r['background_cores']:.2f}",
                          file=sys.stderr, flush=True)
        if args.phase_reps > 0:
            for key, info in infos.items():
                proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "_phases", str(fresh_root / f"warm-{key}"),
                                       info["path"], str(args.phase_reps)], env=new_env, capture_output=True, check=True,
                                      cwd=NEUTRAL_CWD)
                images[key]["phases"] = json.loads(proc.stdout)
                print(f"  phases {key}: done", file=sys.stderr, flush=True)
        missed = False
        for key in plans:
            images[key]["summary"] = summarise(runs[key])
            images[key]["raw_runs"] = runs[key]
            r = images[key]["summary"]["ratios"].get("(sbom warm − ls warm) / ls warm")
            missed = missed or (r is not None and verdict(r) != "met")
        if args.profile == "always" or (args.profile == "auto" and missed):
            for key, rows in plans.items():
                profiles = {}
                for name, cmd, ok, env, _ in rows:
                    if name not in ("sbom warm", "audit warm"):
                        continue
                    stats_path = str(fresh_root / f"{key}-{name.replace(' ', '-')}.prof")
                    pcmd = [sys.executable, str(Path(__file__).resolve()), "_profile", stats_path, *cmd[len(ins):]]
                    subprocess.run(pcmd, env=env, stdout=subprocess.DEVNULL, check=True, cwd=NEUTRAL_CWD)
                    profiles[name] = profile_top(stats_path, 25)
                    print(f"  profiled {key} {name}", file=sys.stderr, flush=True)
                images[key]["profiles"] = profiles

        res: dict = {
            "machine": machine, "started": started, "runs": args.runs, "base_rev": args.base_rev,
            "imported_from": imported_from,
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "images": images, "commands": commands,
            "labels": {"ls cold": "`ls` cold (fresh cache)", "sbom cold": "`sbom` cold (fresh cache)",
                       "ls cold @base": f"`ls` cold at {args.base_rev} (no evidence capture)",
                       "ls warm": "`ls` warm (cache hit)", "sbom warm": "`sbom` warm (cache hit)",
                       "audit warm": "`audit` warm (cache hit + md5 content pass)",
                       "audit cold": "`audit` cold (index with secret scan + md5 content pass)",
                       "audit cold @base": f"`audit` cold at {args.base_rev} (no package checks)",
                       "floor": "floor: ISA-L inflate + sha256, 1 process per core"},
        }
        res["profile_lines"] = args.profile_lines
        res["total_s"] = time.perf_counter() - t_start
        res["inspectr_source_sha256"] = bl._combined(fingerprint)
        after = _fingerprint(new_root)
        if after != fingerprint:
            changed = sorted(k for k in fingerprint.keys() | after.keys() if fingerprint.get(k) != after.get(k))
            res["warning"] = f"inspectr's source changed while the benchmark ran; changed files: {', '.join(changed)}"
        flags = "" if args.runs == 3 else f" --runs {args.runs}"
        flags += "" if args.debian_cap == 1_000_000_000 else f" --debian-cap {args.debian_cap}"
        flags += f" --new-rev {args.new_rev}" if args.new_rev else ""
        res["reproduce"] = ["cd /work/main", "apt-get install -y time   # GNU time, for peak RSS",
                            f"python benchmarks/bench_inventory.py{flags}"]
        text = markdown(res)
        args.md.write_text(text)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(text)
        print(f"(total benchmark time {res['total_s']:.0f} s; {args.md}, {args.json})")
        return 0
    finally:
        shutil.rmtree(fresh_root, ignore_errors=True)
        for tree in made:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)


if __name__ == "__main__":
    sys.exit(main())
