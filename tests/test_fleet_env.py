"""The fleet tests' environment itself (tests/fleet_env.py): the 32-image registry holds what
`.expected` says, as the registry serves it and as inspectr's one-image commands read it, and
the Dask cluster really runs separate worker processes that can be killed and leave nothing
behind."""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path

import pytest

from clirun import run_main
from fleet_env import (AGENT_PACKAGE, FAKE_AWS_KEY, SECRET_PATH, UNIQUE_PATH, FleetRegistry, build_fleet_layout,
                       dask_cluster, processes_in_group)

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def _get(fleet: FleetRegistry, path: str, accept: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    conn = fleet.registry.connection()
    try:
        conn.request("GET", path, headers={"Accept": accept})
        resp: http.client.HTTPResponse = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _ref(fleet: FleetRegistry, dest: str) -> str:
    return f"docker://{fleet.host}/{dest}"


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


# -- the registry -----------------------------------------------------------------------------


def test_fleet_is_30_plus_images_in_several_repositories_sharing_layers(fleet_registry: FleetRegistry) -> None:
    fleet = fleet_registry
    assert len(fleet.refs) >= 30 and len(set(fleet.refs)) == len(fleet.refs)
    assert len(fleet.repositories) >= 10
    debian_base = fleet.expected[_ref(fleet, "debian/base:bookworm")]["layers"][0]
    assert len(fleet.layer_refs[debian_base]) >= 20
    # Deduplication has something to save: fewer than half the layer references are distinct.
    assert fleet.distinct_layers * 2 < fleet.layer_references
    # Images share one, two and three lower layers with some image of another manifest.
    shared_depths = set()
    for ref, e in fleet.expected.items():
        best = max(_common_prefix(e["layers"], o["layers"]) for r, o in fleet.expected.items()
                   if o["manifest_digest"] != e["manifest_digest"])
        shared_depths.add(best)
    assert {1, 2, 3} <= shared_depths
    # One layer digest sits under two different bases (Debian and busybox).
    assert any({fleet.expected[r]["base"] for r in refs} >= {"debian", "busybox"} for refs in fleet.shared_layers.values())
    assert fleet.build_seconds + fleet.push_seconds < 60


def test_the_fleet_is_built_byte_for_byte_the_same_every_time(fleet_registry: FleetRegistry, tmp_path: Path) -> None:
    _, again, _ = build_fleet_layout(tmp_path / "layout")
    first = {f"{e['repo']}:{e['tag']}": e["manifest_digest"] for e in fleet_registry.expected.values()}
    assert {dest: e["manifest_digest"] for dest, e in again.items()} == first
    assert len(set(first.values())) == len(first) - 1  # one alias tag


def test_the_registry_serves_exactly_the_expected_manifests(fleet_registry: FleetRegistry) -> None:
    fleet = fleet_registry
    status, _, body = _get(fleet, "/v2/_catalog?n=1000")
    assert status == 200
    assert sorted(json.loads(body)["repositories"]) == fleet.repositories
    for ref, e in fleet.expected.items():
        status, headers, body = _get(fleet, f"/v2/{e['repo']}/manifests/{e['tag']}", MANIFEST_ACCEPT)
        assert status == 200, ref
        assert headers["Docker-Content-Digest"] == e["manifest_digest"], ref
        assert [d["digest"] for d in json.loads(body)["layers"]] == e["layers"], ref
    # The four Debian images went up byte for byte: their digests are the fixture's.
    facts = json.loads((ROOT / "fixtures/packages/expected.json").read_text())["images"]
    for name, dest in [("base", "debian/base:bookworm"), ("app-v1", "debian/app:v1"), ("app-v2", "debian/app:v2"),
                       ("tampered", "debian/tampered:latest")]:
        assert fleet.expected[_ref(fleet, dest)]["manifest_digest"] == facts[name]["manifest_digest"]


def test_inspectr_opens_every_ref_with_the_expected_layers(fleet_registry: FleetRegistry) -> None:
    from inspectr.registry import RegistryOptions, RegistrySettings
    from inspectr.session import Session

    session = Session(registry=RegistrySettings(options=RegistryOptions(tls_verify=False)))
    for ref, e in fleet_registry.expected.items():
        image = session.open_image(ref)
        assert str(image.manifest_digest) == e["manifest_digest"], ref
        assert [str(layer.digest) for layer in image.layers] == e["layers"], ref
        assert [str(layer.diff_id) for layer in image.layers] == e["diff_ids"], ref


@pytest.mark.parametrize("dest", ["team-c/unique:1.0", "team-c/leaky:1.0", "team-b/tool-ca:1", "team-c/scratch:1.0",
                                  "busybox/layered:latest"])
def test_inspectr_ls_lists_the_expected_files(fleet_registry: FleetRegistry, capsys: pytest.CaptureFixture[str],
                                              dest: str) -> None:
    ref = _ref(fleet_registry, dest)
    code, out, err = run_main(capsys, "ls", *fleet_registry.cli_flags(), "--format", "json", ref)
    assert code == 0, err
    files = {e["path"] for e in json.loads(out) if e["type"] != "dir"}
    assert files == fleet_registry.expected[ref]["files"]


def test_unique_path_and_path_queries(fleet_registry: FleetRegistry) -> None:
    fleet = fleet_registry
    assert fleet.refs_with_path(UNIQUE_PATH) == [_ref(fleet, "team-c/unique:1.0")]
    assert fleet.expected[_ref(fleet, "team-c/unique:1.0")]["unique_path"] == UNIQUE_PATH
    assert fleet.expected[_ref(fleet, "team-a/web:1.0")]["unique_path"] is None
    # The deleted credential is in no merged tree.
    assert fleet.refs_with_path(SECRET_PATH) == []
    assert len(fleet.refs_with_path("etc/fleet/ca-bundle.txt")) == 8 + 1 + 6 + 2 + 2 + 1  # web, worker, tool-ca, agent, leaky


def test_the_deleted_credential_is_where_expected_and_audit_finds_it(fleet_registry: FleetRegistry,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    fleet = fleet_registry
    leaky = _ref(fleet, "team-c/leaky:1.0")
    assert leaky in fleet.refs_with(lambda e: e["has_secret"])
    assert fleet.expected[leaky]["secret_paths"] == [SECRET_PATH]
    assert fleet.expected[leaky]["secret_visible"] is False
    code, out, err = run_main(capsys, "audit", *fleet.cli_flags(), "--format", "json", leaky)
    assert FAKE_AWS_KEY not in out + err
    secrets = [f for f in json.loads(out)["findings"] if f["rule"] == "secret"]
    assert [(f["path"], f["visible"]) for f in secrets] == [(SECRET_PATH, False)], out
    assert code == 1


def test_has_secret_is_exactly_where_inspectr_audit_finds_secrets(fleet_registry: FleetRegistry,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Audit a set of images that together hold every layer but the one-file image-id layers, so
    # a credential anywhere else in the fleet that .expected missed would show up here.
    fleet = fleet_registry
    ids = {e["id_layer"] for e in fleet.expected.values()} - {None}
    todo = set(fleet.layer_refs) - ids
    cover = []
    while todo:
        ref = max(fleet.refs, key=lambda r: len(todo & set(fleet.expected[r]["layers"])))
        cover.append(ref)
        todo -= set(fleet.expected[ref]["layers"])
    assert len(cover) < len(fleet.refs) // 2
    for ref in cover:
        _, out, _ = run_main(capsys, "audit", *fleet.cli_flags(), "--format", "json", ref)
        paths = sorted({f["path"] for f in json.loads(out)["findings"] if f["rule"] == "secret"})
        assert paths == fleet.expected[ref]["secret_paths"], ref
    assert sorted(fleet.refs_with(lambda e: e["has_secret"])) == sorted(
        [_ref(fleet, "team-c/leaky:1.0"), _ref(fleet, "busybox/layered:latest")])


def test_packages_match_the_fixture_facts_and_inspectr_sbom(fleet_registry: FleetRegistry,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    fleet = fleet_registry
    facts = json.loads((ROOT / "fixtures/packages/expected.json").read_text())["images"]
    for name, dest in [("base", "debian/base:bookworm"), ("app-v2", "debian/app:v2"), ("tampered", "debian/tampered:latest")]:
        want = dict(line.split("\t")[:2] for line in facts[name]["dpkg_query"])
        assert fleet.expected[_ref(fleet, dest)]["packages"] == want
    versions = {r: e["packages"].get(AGENT_PACKAGE) for r, e in fleet.expected.items() if AGENT_PACKAGE in e["packages"]}
    assert versions == {_ref(fleet, "team-b/agent:1.0"): "1.0-1", _ref(fleet, "team-b/agent:2.0"): "2.0-1"}
    assert fleet.expected[_ref(fleet, "busybox/busybox:latest")]["packages"] == {}
    ref = _ref(fleet, "team-b/agent:1.0")
    code, out, err = run_main(capsys, "sbom", *fleet.cli_flags(), "--format", "json", ref)
    assert code == 0, err
    deb = {p["name"]: p["version"] for p in json.loads(out)["packages"] if p["ecosystem"] == "deb"}
    assert deb == fleet.expected[ref]["packages"]


# -- the Dask cluster -------------------------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(pid, 0) until reaped
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_dask_cluster_runs_real_workers_and_survives_a_kill(tmp_path: Path) -> None:
    from distributed import Client

    # Local functions: the scheduler and workers cannot import this test module, so these go by
    # value (cloudpickle), while fleet tasks are inspectr functions the workers import.
    def whoami() -> tuple[int, str, str]:
        import inspectr

        return os.getpid(), str(inspectr.__file__), os.environ["INSPECTR_CACHE_DIR"]

    def slow_pid(seconds: float) -> int:
        time.sleep(seconds)
        return os.getpid()

    with dask_cluster(2, workdir=tmp_path / "dask") as cluster:
        pids = cluster.worker_pids
        assert cluster.address.startswith("tcp://127.0.0.1:")
        assert len(set(pids)) == 2 and cluster.scheduler_pid not in pids and os.getpid() not in pids
        with Client(cluster.address, timeout="10s") as client:  # type: ignore[no-untyped-call]
            workers = sorted(client.nthreads())
            assert len(workers) == 2
            # A task pinned to each worker runs in that worker's own process, with this
            # checkout's inspectr and a cache of its own under the cluster's directory.
            seen = [client.submit(whoami, pure=False, workers=[w]).result(timeout=30) for w in workers]
            assert {pid for pid, _, _ in seen} == set(pids)
            assert all(path.startswith(str(ROOT / "inspectr")) for _, path, _ in seen)
            assert all(cache.startswith(str(tmp_path / "dask")) for _, _, cache in seen)
            assert len({cache for _, _, cache in seen}) == 2

            # Kill the worker running a task: the scheduler reruns it on the other one.
            victim = next(addr for addr, pid in client.run(os.getpid).items() if pid == pids[0])
            future = client.submit(slow_pid, 3.0, pure=False, workers=[victim], allow_other_workers=True)
            deadline = time.monotonic() + 20
            while not client.processing(workers=[victim]).get(victim) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.processing(workers=[victim]).get(victim), "the task never started on the victim"
            cluster.kill_worker(0)
            assert _gone(pids[0])
            assert future.result(timeout=60) == pids[1]
            cluster.wait_for_workers(1)
    for pid in [*pids, cluster.scheduler_pid]:
        assert _gone(pid), pid
        assert processes_in_group(pid) == []


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_dask_cluster_reports_a_worker_that_cannot_start(tmp_path: Path) -> None:
    # A worker that exits at once: the context manager must say so with its log, not hang,
    # and still stop the scheduler it started.
    work = tmp_path / "dask"
    with pytest.raises(RuntimeError, match="exited at start") as err:
        with dask_cluster(1, workdir=work, nthreads=-5, startup_timeout_s=20):
            pass
    assert "worker 0" in str(err.value)
    assert "Scheduler at" in (work / "scheduler.log").read_text()
    assert _processes_mentioning(str(work)) == []
