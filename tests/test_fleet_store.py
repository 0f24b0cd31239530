"""The fleet store and its queries on a real SQLite file, without a cluster: results written by
the client as the tasks would return them, read back by `fleet query` (issue 18)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from builders import TarBuilder
from clirun import run_main
from inspectr.fleet.graph import ImageResult, LayerResult, encode_layer
from inspectr.fleet.query import Query, QueryError, open_readonly, run_query
from inspectr.fleet.store import SCHEMA_VERSION, FleetStore, StoreError
from inspectr.fs.layer_index import index_tar_bytes

BASE, APP, OLD = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
SHA = hashlib.sha256(b"hello\n").hexdigest()


def _image(ref: str, layers: list[tuple[str, int]], files: list[str], packages: list[tuple[str, str]],
           findings: list[tuple[str, str, str]] = (), signed: bool = False, ok: bool = True) -> ImageResult:  # type: ignore[assignment]
    return ImageResult(
        ref, "linux/amd64", "sha256:" + hashlib.sha256(ref.encode()).hexdigest(), "sha256:" + "f" * 64,
        layers=[(d, "application/vnd.oci.image.layer.v1.tar+gzip", size) for d, size in layers],
        files=[(path, len(layers) - 1, SHA if path.endswith("hello") else None, 0o644, 0, 0, "file", 6) for path in files],
        packages=[{"name": n, "version": v, "arch": "amd64", "ecosystem": "deb", "purl": f"pkg:deb/debian/{n}@{v}",
                   "layer": 0, "layer_digest": layers[0][0]} for n, v in packages],
        findings=[{"rule": rule, "severity": severity, "path": path, "layer": 0, "layer_digest": layers[0][0],
                   "visible": False, "message": "redacted AKIA****************", "allowed_by": None, "evidence": {}}
                  for rule, severity, path in findings],
        verification={"verdict": "verified" if ok else "integrity-failed", "ok": ok, "signed": signed, "signers": [],
                      "signatures": [], "failed_checks": []})


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "fleet.sqlite"
    with FleetStore(path) as db:
        db.put_image(_image("docker://r/a:1", [(BASE, 1000), (APP, 10)], ["usr/bin/hello", "etc/os-release"],
                            [("libxz", "5.6.0-1"), ("bash", "5.2-1")], [("secret", "critical", "app/.env")]))
        db.put_image(_image("docker://r/b:1", [(BASE, 1000), (OLD, 500)], ["etc/os-release", "opt/b/x"],
                            [("libxz", "5.6.1-1")], signed=True))
        db.put_image(_image("docker://r/c:1", [(OLD, 500)], ["opt/c/\udce9t\u00e9"], [("libxz", "5.4.1-1")], ok=False))
    return path


def _ask(store: Path, *args: str, **kw: object) -> list[str]:
    conn = open_readonly(store)
    try:
        return run_query(conn, Query(*args, **kw)).images  # type: ignore[arg-type]
    finally:
        conn.close()


def test_queries_answer_each_question_with_exactly_the_matching_images(store: Path) -> None:
    assert _ask(store, "path", "etc/os-release") == ["docker://r/a:1", "docker://r/b:1"]
    assert _ask(store, "path", "opt/**") == ["docker://r/b:1", "docker://r/c:1"]
    assert _ask(store, "path", "usr/*/hello") == ["docker://r/a:1"]
    assert _ask(store, "path", "usr/*") == ["docker://r/a:1"]  # a directory's glob matches what is below it
    assert _ask(store, "sha256", f"sha256:{SHA}") == ["docker://r/a:1"]
    assert _ask(store, "package", "libxz<=5.6.0-1") == ["docker://r/a:1", "docker://r/c:1"]  # dpkg's order
    assert _ask(store, "package", "libxz<=5.6.0") == ["docker://r/c:1"]  # 5.6.0-1 sorts after 5.6.0
    assert _ask(store, "package", "libxz") == ["docker://r/a:1", "docker://r/b:1", "docker://r/c:1"]
    assert _ask(store, "finding", "secret", "high") == ["docker://r/a:1"]
    assert _ask(store, "finding", "*", "critical") == ["docker://r/a:1"]
    assert _ask(store, "unsigned") == ["docker://r/a:1", "docker://r/c:1"]
    assert _ask(store, "unverified") == ["docker://r/c:1"]
    assert _ask(store, "shared-layer", OLD) == ["docker://r/b:1", "docker://r/c:1"]


def test_shared_and_duplicated_layers_rank_by_bytes_saved(store: Path) -> None:
    conn = open_readonly(store)
    shared = run_query(conn, Query("shared-layer"))
    dup = run_query(conn, Query("duplicated-layers"))
    conn.close()
    assert [(r[0], r[2]) for r in shared.rows] == [(BASE, 2), (OLD, 2)]
    assert [(r[0], r[3]) for r in dup.rows] == [(BASE, 1000), (OLD, 500)]


def test_a_path_that_is_not_utf8_is_stored_with_its_bytes_escaped(store: Path) -> None:
    conn = sqlite3.connect(store)
    paths = [p for p, in conn.execute("SELECT path FROM files WHERE path LIKE 'opt/c/%'")]
    conn.close()
    assert paths == ["opt/c/\\xe9t\u00e9"]


def test_rescanning_an_image_replaces_its_rows_in_one_transaction(store: Path) -> None:
    with FleetStore(store) as db:
        db.put_image(_image("docker://r/a:1", [(BASE, 1000)], ["etc/os-release"], [("libxz", "5.8.1-1")]))
        counts = db.counts()
    assert counts["images"] == 3
    assert _ask(store, "package", "libxz<=5.6.0-1") == ["docker://r/c:1"]
    assert _ask(store, "path", "usr/**") == []


def test_layers_keep_their_index_so_a_rerun_need_not_index_them_again(tmp_path: Path) -> None:
    index = index_tar_bytes(TarBuilder().add_dir("etc").add_file("etc/hello", b"hello\n").finish())
    result = LayerResult(BASE, "application/vnd.oci.image.layer.v1.tar+gzip", 123, index=index, encoded=encode_layer(index),
                         worker="tcp://127.0.0.1:1", pid=42, seconds=0.5)
    with FleetStore(tmp_path / "s.sqlite") as db:
        db.put_layer(result)
        db.put_layer(LayerResult(APP, None, 1, error_class="digest-mismatch", error="bad"))  # failures are retried
        assert db.stored_layers() == {(BASE, "application/vnd.oci.image.layer.v1.tar+gzip")}
        back = db.load_layer(BASE, "application/vnd.oci.image.layer.v1.tar+gzip")
    assert back is not None
    assert back.entries == index.entries and back.diff_id == index.diff_id


def test_sql_is_read_only_and_cannot_attach_another_file(store: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = store.read_bytes()
    for sql in ("DELETE FROM images", "UPDATE images SET ref = 'x'", "DROP TABLE files",
                f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other", "PRAGMA query_only = OFF",
                "CREATE TABLE t (x)", "SELECT 1; DELETE FROM images"):
        code, out, err = run_main(capsys, "fleet", "query", "--store", str(store), "--sql", sql)
        assert code == 2, sql
        assert err.startswith("inspectr: error[fleet-query]: query failed:") and len(err.splitlines()) == 1, (sql, err)
    assert store.read_bytes() == before
    assert not (tmp_path / "other.db").exists()
    code, out, _ = run_main(capsys, "fleet", "query", "--store", str(store), "--sql",
                            "SELECT ref FROM images ORDER BY ref", "--max-rows", "2")
    assert code == 0
    assert "docker://r/a:1" in out and "docker://r/c:1" not in out and "more matched" in out


def test_a_query_over_its_time_budget_stops(store: Path) -> None:
    conn = open_readonly(store)
    forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(QueryError, match="longer than 0.2 s"):
        run_query(conn, Query("sql", forever, max_seconds=0.2))
    conn.close()


def test_a_store_of_another_schema_version_is_refused(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(store)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, this inspectr reads version {SCHEMA_VERSION}"):
        FleetStore(store)
    code, out, err = run_main(capsys, "fleet", "query", "--store", str(store), "--unsigned")
    assert code == 2 and out == ""
    assert err == (f"inspectr: error[fleet-store]: {store}: fleet store schema version {SCHEMA_VERSION + 1}, "
                   f"this inspectr reads version {SCHEMA_VERSION}\n")


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE images (x)")
    conn.commit()
    conn.close()
    code, _, err = run_main(capsys, "fleet", "query", "--store", str(other), "--unsigned")
    assert code == 2 and err.startswith(f"inspectr: error[fleet-store]: {other}: not an inspectr fleet store")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    code, _, err = run_main(capsys, "fleet", "query", "--store", str(text), "--unsigned")
    assert code == 2 and err.startswith(f"inspectr: error[fleet-store]: {text}:")
    code, _, err = run_main(capsys, "fleet", "query", "--store", str(tmp_path / "missing.sqlite"), "--unsigned")
    assert code == 2 and "no fleet store here" in err


def test_query_flags_name_exactly_one_question(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "fleet", "query", "--store", str(store), "--unsigned", "--path", "etc/**")
    assert code == 2 and "give exactly one question" in err
    code, out, _ = run_main(capsys, "fleet", "query", "--store", str(store), "--path", "no/such/**")
    assert code == 1 and "0 row(s)" in out
    with pytest.raises(QueryError, match="expected 64 hex digits"):
        conn = open_readonly(store)
        try:
            run_query(conn, Query("sha256", "sha256:xyz"))
        finally:
            conn.close()
