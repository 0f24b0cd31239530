"""The fleet store: a SQLite database of what scans found (docs/formats/fleet-store.md).

Only the client writes it, one transaction per completed task result, so an interrupted scan
leaves every finished layer and image behind and a rerun does only the rest. Layers keep their
index (the layer cache's encoding), so a rerun never indexes a layer again. The schema carries
a version; a store of another version is refused, never migrated silently.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..errors import UsageError
from ..fs.cache import VERSION as INDEX_VERSION
from ..fs.cache import decode_index
from ..fs.layer_index import LayerIndex

if TYPE_CHECKING:  # annotations only: `fleet query` reads the store without loading the engines
    from .graph import ImageResult, LayerResult

__all__ = ["SCHEMA_VERSION", "StoreError", "FleetStore", "default_store_path"]

SCHEMA_VERSION = 1
_MAX_INDEX_BYTES = 1 << 30

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE images (
  id INTEGER PRIMARY KEY,
  ref TEXT NOT NULL, platform TEXT NOT NULL DEFAULT '', manifest_digest TEXT NOT NULL,
  config_digest TEXT, scanned_at TEXT NOT NULL, status TEXT NOT NULL, error_class TEXT, error TEXT,
  file_count INTEGER, worker TEXT, seconds REAL, trust TEXT NOT NULL DEFAULT '',
  UNIQUE (ref, platform));
CREATE TABLE layers (
  digest TEXT NOT NULL, media_type TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL, diff_id TEXT,
  indexed_at TEXT NOT NULL, entry_count INTEGER, index_format INTEGER NOT NULL, index_bytes BLOB,
  worker TEXT, pid INTEGER, seconds REAL,
  PRIMARY KEY (digest, media_type));
CREATE TABLE image_layers (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, position INTEGER NOT NULL,
  digest TEXT NOT NULL, media_type TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL,
  PRIMARY KEY (image_id, position));
CREATE TABLE files (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, path TEXT NOT NULL,
  layer INTEGER NOT NULL, layer_digest TEXT, sha256 TEXT, mode INTEGER, uid INTEGER, gid INTEGER,
  kind TEXT NOT NULL, size INTEGER);
CREATE TABLE packages (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, name TEXT NOT NULL,
  version TEXT NOT NULL, arch TEXT, ecosystem TEXT NOT NULL, purl TEXT, layer INTEGER, layer_digest TEXT);
CREATE TABLE findings (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, rule TEXT NOT NULL,
  severity TEXT NOT NULL, path TEXT, layer INTEGER, layer_digest TEXT, visible INTEGER,
  message TEXT, allowed_by TEXT, evidence TEXT);
CREATE TABLE verifications (
  image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE, verdict TEXT NOT NULL,
  ok INTEGER NOT NULL, signed INTEGER NOT NULL, signers TEXT, details TEXT);
CREATE INDEX files_path ON files(path);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_image ON files(image_id);
CREATE INDEX packages_name ON packages(name);
CREATE INDEX packages_image ON packages(image_id);
CREATE INDEX findings_rule ON findings(rule);
CREATE INDEX findings_image ON findings(image_id);
CREATE INDEX image_layers_digest ON image_layers(digest);
"""

# Children first: deleting an image's rows by hand, without relying on the foreign-key pragma.
_IMAGE_TABLES = ("files", "packages", "findings", "verifications", "image_layers")


class StoreError(UsageError):
    """A store that cannot be used: another schema version, not a fleet store, unreadable."""

    error_class = "fleet-store"


def default_store_path() -> Path:
    """$XDG_DATA_HOME/inspectr/fleet.sqlite, else ~/.local/share/inspectr/fleet.sqlite."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "inspectr" / "fleet.sqlite"


def _text(value: str | None) -> str | None:
    """Text from an image as SQLite can hold it: a byte that is not UTF-8 (kept by the tar
    reader as a surrogate) is written as \\xHH, the form docs/formats/fleet-store.md names."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_version(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse anything but a fleet store of SCHEMA_VERSION (StoreError, exit 2)."""
    try:
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{path}: not an inspectr fleet store ({err})") from None
    if len(rows) != 1 or rows[0][0] != SCHEMA_VERSION:
        found = rows[0][0] if len(rows) == 1 else "unknown"
        raise StoreError(f"{path}: fleet store schema version {found}, this inspectr reads version {SCHEMA_VERSION}",
                         hint="scan into a new --store, or use the inspectr that wrote it")


class FleetStore:
    """The store, opened for writing by the scan's client. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fresh = not path.exists()
            if not fresh and not stat.S_ISREG(path.stat().st_mode):
                raise StoreError(f"{path}: the fleet store is not a regular file")
            self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
            self._fresh = fresh
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"{path}: cannot open the fleet store: {err}") from None
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")  # `fleet query` may read while a scan writes
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                with self._transaction():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self.conn.execute(statement)
                    self.conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            else:
                check_version(self.conn, path)
        except sqlite3.DatabaseError as err:
            self.conn.close()
            raise StoreError(f"{path}: not an inspectr fleet store ({err})") from None
        except BaseException:
            self.conn.close()
            raise

    def __enter__(self) -> "FleetStore":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        empty = self._fresh and exc_type is not None and not self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM images) OR EXISTS (SELECT 1 FROM layers)").fetchone()[0]
        self.close()
        if empty:  # a scan that failed before any result leaves no store it created behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        self.conn.close()

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: object, *rest: object) -> None:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _transaction(self) -> "FleetStore._Tx":
        return FleetStore._Tx(self.conn)

    # -- layers ----------------------------------------------------------------------------

    def stored_layers(self) -> set[tuple[str, str]]:
        """(digest, media type) of every layer whose index this inspectr can read back."""
        rows = self.conn.execute("SELECT digest, media_type FROM layers WHERE index_format = ? AND index_bytes IS NOT NULL",
                                 (INDEX_VERSION,))
        return {(d, m) for d, m in rows}

    def load_layer(self, digest: str, media_type: str | None) -> LayerIndex | None:
        """The stored index of a layer, or None when it is missing or unreadable (re-indexed)."""
        row = self.conn.execute("SELECT index_bytes FROM layers WHERE digest = ? AND media_type = ? AND index_format = ?",
                                (digest, media_type or "", INDEX_VERSION)).fetchone()
        if row is None or row[0] is None:
            return None
        import zstandard

        try:
            doc = json.loads(zstandard.ZstdDecompressor().decompress(row[0], max_output_size=_MAX_INDEX_BYTES))
            return decode_index(doc, 0)
        except (ValueError, KeyError, TypeError, zstandard.ZstdError):
            return None

    def put_layer(self, result: LayerResult) -> None:
        """One finished layer task (an index, or its error, which is not kept: a rerun retries)."""
        if result.index is None or result.encoded is None:
            return
        with self._transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO layers VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (result.digest, result.media_type or "", result.size, result.index.diff_id, _now(),
                        len(result.index.entries), INDEX_VERSION, result.encoded, result.worker, result.pid,
                        result.seconds))

    # -- images ----------------------------------------------------------------------------

    def complete_images(self, trust: str = "") -> set[tuple[str, str, str]]:
        """(ref, platform asked for, manifest digest) of every image scanned completely, under
        the trust inputs whose fingerprint is `trust` (other inputs may give another verdict)."""
        rows = self.conn.execute("SELECT ref, platform, manifest_digest FROM images WHERE status = 'complete' AND trust = ?",
                                 (trust,))
        return {(r, p, m) for r, p, m in rows}

    def failing_images(self, refs: Iterable[str]) -> set[str]:
        """Of these stored references, those a scan counts as failing: not complete, not
        verified, or holding a high or critical finding no rule allows. The one definition
        (ScanReport.failing adds only images that failed before any task)."""
        wanted = set(refs)
        rows = self.conn.execute(
            "SELECT i.ref FROM images i LEFT JOIN verifications v ON v.image_id = i.id"
            " WHERE i.status != 'complete' OR v.ok IS NULL OR v.ok = 0 OR EXISTS (SELECT 1 FROM findings f"
            " WHERE f.image_id = i.id AND f.severity IN ('high', 'critical') AND (f.allowed_by IS NULL OR f.allowed_by = ''))")
        return {ref for (ref,) in rows if ref in wanted}

    def put_image(self, result: ImageResult, platform_key: str = "") -> None:
        """One finished image task: its rows replace what an earlier scan of the same reference
        (and platform asked for) left, in one transaction."""
        with self._transaction() as tx:
            old = tx.execute("SELECT id FROM images WHERE ref = ? AND platform = ?", (result.reference, platform_key)).fetchone()
            if old is not None:
                for table in _IMAGE_TABLES:
                    tx.execute(f"DELETE FROM {table} WHERE image_id = ?", (old[0],))
                tx.execute("DELETE FROM images WHERE id = ?", (old[0],))
            cur = tx.execute(
                "INSERT INTO images (ref, platform, manifest_digest, config_digest, scanned_at, status, error_class, error,"
                " file_count, worker, seconds, trust) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (result.reference, platform_key, result.manifest_digest, result.config_digest or None, _now(), result.status,
                 result.error_class, _text(result.error), len(result.files) if result.status == "complete" else None,
                 result.worker, result.seconds, result.trust))
            image_id = cur.lastrowid
            tx.executemany("INSERT INTO image_layers VALUES (?,?,?,?,?)",
                           [(image_id, i, d, m or "", s) for i, (d, m, s) in enumerate(result.layers)])
            digests = [d for d, _, _ in result.layers]
            tx.executemany("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?)",
                           [(image_id, _text(path), layer, digests[layer] if 0 <= layer < len(digests) else None, sha, mode, uid,
                             gid, kind, size) for path, layer, sha, mode, uid, gid, kind, size in result.files])
            tx.executemany("INSERT INTO packages VALUES (?,?,?,?,?,?,?,?)",
                           [(image_id, _text(p["name"]), _text(p["version"]), _text(p["arch"]), p["ecosystem"], _text(p["purl"]), p["layer"],
                             p["layer_digest"]) for p in result.packages])
            tx.executemany("INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?,?)",
                           [(image_id, f["rule"], f["severity"], _text(f["path"]), f["layer"], f["layer_digest"],
                             int(bool(f["visible"])), _text(f["message"]), _text(f["allowed_by"]),
                             json.dumps(f["evidence"], sort_keys=True))
                            for f in result.findings])
            if result.verification:
                v = result.verification
                tx.execute("INSERT INTO verifications VALUES (?,?,?,?,?,?)",
                           (image_id, v["verdict"], int(v["ok"]), int(v["signed"]), json.dumps(v["signers"]),
                            json.dumps({"signatures": v["signatures"], "failed_checks": v["failed_checks"]}, sort_keys=True)))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in ("images", "layers", "files", "packages", "findings"):
            out[table] = int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        return out

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(sql, params)
