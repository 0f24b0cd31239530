"""`fleet scan` and `fleet query` end to end (issue 18): a real docker-registry holding 32 images
that share base layers (tests/fleet_env.py), a real `dask scheduler` with two `dask worker`
processes, and the SQLite store. One scan is shared by the module; the worker-kill and the
interrupt-and-rerun tests run scans of their own."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from fleet_env import AGENT_PACKAGE, SECRET_PATH, UNIQUE_PATH, DaskCluster, FleetRegistry, dask_cluster
from inspectr.audit.engine import audit_image
from inspectr.fleet.query import Query, open_readonly, run_query
from inspectr.fleet.scan import ScanOptions, ScanReport, open_cluster, scan_fleet
from inspectr.fleet.store import FleetStore
from inspectr.fleet.targets import Target, expand_targets
from inspectr.fs.build import index_layers
from inspectr.fs.cache import LayerCache
from inspectr.fs.tree import apply_layers
from inspectr.packages.inventory import read_inventory
from inspectr.packages.versions import compare_versions
from inspectr.registry import RegistryOptions, RegistrySettings
from inspectr.session import Session
from inspectr.verify.engine import verify_image

REPO = Path(__file__).resolve().parent.parent


def _session(cache: Path) -> Session:
    return Session(registry=RegistrySettings(RegistryOptions(tls_verify=False), cache_dir=cache))


def _one_per_repository(fleet: FleetRegistry) -> list[str]:
    """A smaller fleet for the tests that scan again: the first image of each repository."""
    first: dict[str, str] = {}
    for ref in sorted(fleet.refs):
        first.setdefault(fleet.expected[ref]["repo"], ref)
    return sorted(first.values())


def _scan(address: str, refs: list[str], store_path: Path, cache: Path, **kw: Any) -> ScanReport:
    session = _session(cache)
    with open_cluster(address) as executor, FleetStore(store_path) as store:
        return scan_fleet([Target(r) for r in refs], store, session=replace(session, executor=executor), **kw)


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    with dask_cluster(2) as running:
        yield running


@pytest.fixture(scope="module")
def scanned(fleet_registry: FleetRegistry, cluster: DaskCluster, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[ScanReport, Path, list[str]]:
    """Every image of the registry, found through its catalog, scanned once on the cluster."""
    tmp = tmp_path_factory.mktemp("fleet-scan")
    session = _session(tmp / "cache")
    targets = expand_targets([f"docker://{fleet_registry.host}/**"], session=session, remote=True)
    refs = [t.reference for t in targets]
    report = _scan(cluster.address, refs, tmp / "fleet.sqlite", tmp / "cache")
    return report, tmp / "fleet.sqlite", refs


def _stored(store: Path) -> dict[str, dict[str, Any]]:
    """What the store holds per image, read with plain SQL (not through inspectr's queries)."""
    conn = sqlite3.connect(store)
    out: dict[str, dict[str, Any]] = {}
    for image_id, ref, status, files in conn.execute("SELECT id, ref, status, file_count FROM images"):
        out[ref] = {
            "status": status, "file_count": files,
            "files": conn.execute("SELECT count(*) FROM files WHERE image_id = ?", (image_id,)).fetchone()[0],
            "findings": sorted(conn.execute("SELECT rule, severity, path, layer, visible, message FROM findings "
                                            "WHERE image_id = ?", (image_id,))),
            "packages": sorted(conn.execute("SELECT ecosystem, name, version, arch, layer FROM packages WHERE image_id = ?",
                                            (image_id,))),
            "verdict": conn.execute("SELECT verdict FROM verifications WHERE image_id = ?", (image_id,)).fetchone()[0],
            "layers": [d for d, in conn.execute("SELECT digest FROM image_layers WHERE image_id = ? ORDER BY position",
                                                (image_id,))],
        }
    conn.close()
    return out


def test_the_catalog_glob_finds_every_image_and_each_is_scanned(scanned: tuple[ScanReport, Path, list[str]],
                                                                 fleet_registry: FleetRegistry) -> None:
    report, store, refs = scanned
    assert sorted(refs) == sorted(fleet_registry.refs)
    assert len(refs) >= 30
    assert sorted(i.reference for i in report.images) == sorted(fleet_registry.refs)
    assert report.planned == [] and report.layer_errors == []
    stored = _stored(store)
    for ref, facts in fleet_registry.expected.items():
        assert stored[ref]["status"] == "complete", ref
        assert stored[ref]["layers"] == facts["layers"], ref


def test_fleet_results_equal_the_one_image_commands_for_every_image(scanned: tuple[ScanReport, Path, list[str]],
                                                                    fleet_registry: FleetRegistry,
                                                                    tmp_path: Path) -> None:
    _, store, refs = scanned
    stored = _stored(store)
    cache = LayerCache(tmp_path / "index-cache")  # as the CLI's default layer cache, warm after the first image
    for ref in refs:
        # The one-image path, as `inspectr audit`, `verify` and `ls` run it, each from its own session.
        def session() -> Session:
            return replace(_session(tmp_path / "cache"), cache=cache)

        image = session().open_image(ref)
        audit = audit_image(image, session=session())
        verdict = verify_image(ref, session=session()).verdict
        indexes = index_layers(image, session=session())
        tree = apply_layers(indexes, image.limits)
        inventory = read_inventory(image, indexes, tree)
        got = stored[ref]
        assert got["findings"] == sorted((f.rule, f.severity.value, f.path, f.layer, int(f.visible), f.message)
                                         for f in audit.findings), ref
        assert got["verdict"] == verdict, ref
        assert got["files"] == got["file_count"] == sum(1 for _ in tree.walk()), ref
        assert got["packages"] == sorted((p.ecosystem, p.name, p.version, p.arch, p.layer) for p in inventory.packages), ref
        # And against the environment's own reading of the layers it built.
        facts = fleet_registry.expected[ref]
        assert {n for e, n, v, a, l in got["packages"] if e == "deb"} == set(facts["packages"]), ref
        assert set(facts["secret_paths"]) <= {f[2] for f in got["findings"] if f[0] == "secret"}, ref


def test_each_distinct_layer_digest_is_indexed_exactly_once_on_the_workers(
        scanned: tuple[ScanReport, Path, list[str]], fleet_registry: FleetRegistry, cluster: DaskCluster) -> None:
    report, store, _ = scanned
    counts = Counter(record.digest for record in report.indexed)  # from each task's own metadata
    assert counts == Counter({digest: 1 for digest in fleet_registry.layer_refs})
    assert [i.reference for i in report.images if i.reindexed] == []  # no image task indexed a layer again
    assert fleet_registry.layer_references > 2 * fleet_registry.distinct_layers  # sharing made it worth it
    assert {record.pid for record in report.indexed} <= set(cluster.worker_pids)
    conn = sqlite3.connect(store)
    pids = {pid for pid, in conn.execute("SELECT pid FROM layers")}
    conn.close()
    assert pids <= set(cluster.worker_pids) and os.getpid() not in pids


def _images(store: Path, query: Query) -> list[str]:
    conn = open_readonly(store)
    try:
        return run_query(conn, query).images
    finally:
        conn.close()


def test_queries_for_a_path_a_package_a_secret_and_a_shared_layer_return_exactly_the_expected_images(
        scanned: tuple[ScanReport, Path, list[str]], fleet_registry: FleetRegistry) -> None:
    _, store, _ = scanned
    fleet = fleet_registry
    assert fleet.refs_with_path(UNIQUE_PATH) and len(fleet.refs_with_path(UNIQUE_PATH)) < len(fleet.refs)
    assert _images(store, Query("path", UNIQUE_PATH)) == fleet.refs_with_path(UNIQUE_PATH)
    assert _images(store, Query("path", "etc/fleet/**")) == fleet.refs_with_path("etc/fleet/*")
    at_or_below = fleet.refs_with(lambda e: AGENT_PACKAGE in e["packages"]
                                  and compare_versions("deb", e["packages"][AGENT_PACKAGE], "1.0-1") <= 0)
    assert at_or_below and len(at_or_below) < len(fleet.refs_with(lambda e: AGENT_PACKAGE in e["packages"]))
    assert _images(store, Query("package", f"{AGENT_PACKAGE}<=1.0-1")) == at_or_below
    assert _images(store, Query("package", AGENT_PACKAGE)) == fleet.refs_with(lambda e: AGENT_PACKAGE in e["packages"])
    secrets = fleet.refs_with(lambda e: e["has_secret"])
    conn = open_readonly(store)
    found = run_query(conn, Query("finding", "secret", "critical"))
    conn.close()
    path = found.columns.index("path")
    assert SECRET_PATH in {p for ref in secrets for p in fleet.expected[ref]["secret_paths"]}
    assert secrets and sorted({row[0] for row in found.rows
                               if row[path] in fleet.expected[row[0]]["secret_paths"]}) == secrets
    assert set(secrets) <= set(found.images)  # other secrets (a private key) are found too
    digest, holders = max(fleet.shared_layers.items(), key=lambda kv: (len(kv[1]) < len(fleet.refs), len(kv[1])))
    assert 1 < len(holders) < len(fleet.refs)
    assert _images(store, Query("shared-layer", digest)) == sorted(holders)
    conn = open_readonly(store)
    shared = run_query(conn, Query("shared-layer"))
    duplicated = run_query(conn, Query("duplicated-layers"))
    conn.close()
    assert {row[0]: row[2] for row in shared.rows} == {d: len(refs) for d, refs in fleet.shared_layers.items()}
    saved = [row[3] for row in duplicated.rows]
    assert saved == sorted(saved, reverse=True)
    assert _images(store, Query("unsigned")) == sorted(fleet.refs)  # nothing in this registry is signed


def test_killing_one_worker_mid_scan_still_completes_with_the_same_results(
        scanned: tuple[ScanReport, Path, list[str]], fleet_registry: FleetRegistry, tmp_path: Path) -> None:
    _, first_store, _ = scanned
    refs = _one_per_repository(fleet_registry)
    with dask_cluster(2, workdir=tmp_path / "dask") as doomed:
        killed: list[int] = []

        def kill_after_first_results(done: int, total: int) -> None:
            if done >= 2 and not killed:
                doomed.kill_worker(0)  # SIGKILL, while the other tasks of this scan are queued or running
                killed.append(doomed.worker_pids[0])

        report = _scan(doomed.address, refs, tmp_path / "fleet.sqlite", tmp_path / "cache",
                       progress=kill_after_first_results)
        assert killed and doomed.live_worker_count() == 1
    assert report.planned == [] and report.layer_errors == []
    assert sorted(i.reference for i in report.images) == sorted(refs)
    again, before = _stored(tmp_path / "fleet.sqlite"), _stored(first_store)
    assert again == {ref: before[ref] for ref in refs}


def test_an_interrupted_scan_rerun_indexes_only_the_layers_it_had_not_finished(
        scanned: tuple[ScanReport, Path, list[str]], fleet_registry: FleetRegistry, cluster: DaskCluster,
        tmp_path: Path) -> None:
    _, first_store, _ = scanned
    refs = _one_per_repository(fleet_registry)
    layers = {digest for ref in refs for digest in fleet_registry.expected[ref]["layers"]}
    store_path = tmp_path / "fleet.sqlite"

    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt  # what Ctrl-C raises in the client

    with pytest.raises(KeyboardInterrupt):
        _scan(cluster.address, refs, store_path, tmp_path / "cache", progress=interrupt)
    with FleetStore(store_path) as store:
        finished = {digest for digest, _ in store.stored_layers()}
    assert 0 < len(finished) < len(layers)
    report = _scan(cluster.address, refs, store_path, tmp_path / "cache")
    counts = Counter(record.digest for record in report.indexed)
    assert set(counts) == layers - finished
    assert set(counts.values()) == {1}
    assert report.layers_stored == len(finished)
    first = _stored(first_store)
    assert _stored(store_path) == {ref: first[ref] for ref in refs}
    # A third run finds every image complete: nothing is submitted.
    third = _scan(cluster.address, refs, store_path, tmp_path / "cache")
    assert sorted(third.skipped) == sorted(refs) and third.indexed == [] and third.images == []
    # --rescan scans every image again, from the indexes the store keeps: still no layer indexed.
    fourth = _scan(cluster.address, refs, store_path, tmp_path / "cache", options=ScanOptions(rescan=True))
    assert sorted(i.reference for i in fourth.images) == sorted(refs) and fourth.indexed == []
    assert fourth.layers_stored == len(layers)
    assert _stored(store_path) == {ref: first[ref] for ref in refs}


def test_cli_scan_on_the_embedded_cluster_then_query(fleet_registry: FleetRegistry, tmp_path: Path) -> None:
    # The embedded LocalCluster (the default), a file of references plus a local layout, the
    # real CLI in its own process; then `fleet query` in JSON.
    refs = fleet_registry.refs_with_path(UNIQUE_PATH)[:1] + fleet_registry.refs_with(lambda e: e["has_secret"])[:1]
    targets = tmp_path / "targets.txt"
    targets.write_text("# two registry images\n" + "\n".join(refs) + "\n\n")
    local = f"oci:{REPO}/fixtures/packages/layout:base"
    store = tmp_path / "fleet.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO), INSPECTR_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CI", None)
    scan = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "scan", "--workers", "1", "--tls-verify=false",
                           "--from-file", str(targets), local, "--store", str(store), "-f", "json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    doc = json.loads(scan.stdout)
    assert doc["kind"] == "fleet-scan"
    assert sorted(i["reference"] for i in doc["images"]) == sorted([*refs, local])
    assert all(i["status"] == "complete" for i in doc["images"])
    assert scan.returncode == 1  # the image with a secret fails the scan
    assert doc["failing"] == fleet_registry.refs_with(lambda e: e["has_secret"])[:1]
    assert fleet_registry.secret not in scan.stdout + scan.stderr
    query = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "query", "--store", str(store), "--path",
                            UNIQUE_PATH, "-f", "json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout)["images"] == refs[:1]
    none = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "query", "--store", str(store), "--path",
                           "no/such/path"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert none.returncode == 1 and "0 row(s)" in none.stdout


def test_a_local_path_is_refused_with_a_scheduler(cluster: DaskCluster, tmp_path: Path) -> None:
    local = f"oci:{REPO}/fixtures/packages/layout:base"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "scan", "--scheduler", cluster.address, local,
                           "--store", str(tmp_path / "s.sqlite")], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"inspectr: error[usage]: {local}: a local image cannot be scanned on a --scheduler")
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "s.sqlite").exists()


def test_trust_inputs_reach_the_workers_and_a_change_of_them_rescans(tmp_path: Path) -> None:
    # verify on the workers with the client's key (its bytes travel, not its path): the signed
    # layout verifies, the unsigned busybox fails, a wrong key fails both; a rerun under the
    # same inputs skips complete images, under other inputs scans them again.
    sigs = REPO / "fixtures" / "signatures"
    signed, unsigned = str(sigs / "cosign-layout"), str(REPO / "fixtures" / "oci-busybox")
    store = tmp_path / "trust.sqlite"

    def scan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "inspectr", "fleet", "scan", "--workers", "1", "--store", str(store),
                               "-f", "json", *args, signed, unsigned], capture_output=True, text=True, timeout=300, cwd=REPO)

    def verdicts(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
        doc = json.loads(result.stdout)
        return {Path(i["reference"]).name: i["verdict"] for i in doc["images"]}

    first = scan("--key", str(sigs / "cosign-a.pub"))
    assert first.returncode == 1, first.stderr
    assert verdicts(first) == {"cosign-layout": "verified", "oci-busybox": "no-signature"}
    unsigned_rows = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "query", "--store", str(store), "--unsigned",
                                    "-f", "json"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert [Path(r["ref"]).name for r in json.loads(unsigned_rows.stdout)["rows"]] == ["oci-busybox"]
    again = scan("--key", str(sigs / "cosign-a.pub"))
    assert json.loads(again.stdout)["images"] == []  # same inputs: nothing to do
    # ...but the rerun still answers for the fleet: the skipped busybox fails as stored
    assert again.returncode == 1 and [Path(r).name for r in json.loads(again.stdout)["failing"]] == ["oci-busybox"]
    other = scan("--key", str(sigs / "cosign-b.pub"))
    assert verdicts(other)["cosign-layout"] != "verified" and other.returncode == 1
    bad = scan("--key", str(sigs / "README.md"))
    assert bad.returncode == 2 and "not a PEM public key" in bad.stderr and bad.stderr.count("\n") == 1


def test_a_schedulers_dashboard_link_is_printed_and_served(fleet_registry: FleetRegistry, tmp_path: Path) -> None:
    # With bokeh installed (the test extra) Dask serves its dashboard; fleet scan names it on
    # stderr before the scan starts, and the page answers. (The embedded cluster's link shows
    # only on a terminal, with the progress: tests/test_conventions.py.)
    import re
    import urllib.request

    env = dict(os.environ, PYTHONPATH=str(REPO))
    with dask_cluster(1, dashboard=True) as running:
        assert running.dashboard is not None
        proc = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "scan", "--scheduler", running.address,
                               "--tls-verify=false", "--store", str(tmp_path / "d.sqlite"), *fleet_registry.refs[:2]],
                              capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        first = proc.stderr.splitlines()[0] if proc.stderr else ""
        found = re.fullmatch(r"inspectr: Dask dashboard: (http://127\.0\.0\.1:\d+/status)", first)
        assert found and found.group(1) == running.dashboard, proc.stderr
        with urllib.request.urlopen(found.group(1), timeout=10) as resp:
            assert resp.status == 200 and b"Dask" in resp.read()
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr


def test_bad_input_found_while_planning_is_one_line_and_leaves_no_store(tmp_path: Path) -> None:
    # An unreadable local image is bad input (exit 2): the store this run created, still empty,
    # is removed, and stderr holds the error alone (no dashboard link in a pipe).
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not an image\n")
    store = tmp_path / "s.sqlite"
    done = subprocess.run([sys.executable, "-m", "inspectr", "fleet", "scan", "--workers", "1", "--store", str(store),
                           str(bad)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"inspectr: error[image-not-found]: {bad}: not a tar archive, OCI layout or dir: image"]
    assert list(tmp_path.glob("s.sqlite*")) == []
