"""`fleet query`: the questions users ask of a fleet store, and read-only SQL for the rest.

The store is opened read-only three ways over: a `mode=ro` URI, `PRAGMA query_only`, and an
authorizer that allows reading and nothing else (no writes, ATTACH, PRAGMA or schema changes),
so `--sql` cannot change the store or reach another file. Every query is bounded in rows and in
time.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..globs import compile_glob
from ..packages.versions import compare_versions
from .store import StoreError, check_version

__all__ = ["Query", "QueryResult", "QueryError", "open_readonly", "run_query", "QUESTIONS"]

QUESTIONS = ("path", "sha256", "package", "finding", "unsigned", "unverified", "shared-layer", "duplicated-layers", "sql")
_SEVERITIES = ("info", "low", "medium", "high", "critical")
_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                           getattr(sqlite3, "SQLITE_RECURSIVE", 33)})


class QueryError(UsageError):
    """A query that cannot run: refused SQL, a syntax error, over its time budget."""

    error_class = "fleet-query"


@dataclass(frozen=True)
class Query:
    """One question: `question` is one of QUESTIONS; `argument` its value (a glob, a digest,
    NAME[<=VERSION], RULE, SQL); `severity` the least severity of findings to list."""

    question: str
    argument: str = ""
    severity: str | None = None
    max_rows: int = 1000
    max_seconds: float = 30.0


@dataclass
class QueryResult:
    question: str
    argument: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False  # more rows matched than max_rows

    @property
    def images(self) -> list[str]:
        """The distinct image references among the rows (when the rows name images)."""
        if "ref" not in self.columns:
            return []
        i = self.columns.index("ref")
        return sorted({row[i] for row in self.rows})


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def open_readonly(path: Path) -> sqlite3.Connection:
    """The store at `path`, read-only; StoreError when it is missing, not a store, or of
    another schema version."""
    if not path.is_file():
        raise StoreError(f"{path}: no fleet store here (run `inspectr fleet scan` first, or give --store PATH)")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        conn.execute("PRAGMA query_only = ON")
        check_version(conn, path)
    except sqlite3.Error as err:
        raise StoreError(f"{path}: cannot read the fleet store: {err}") from None
    conn.set_authorizer(_authorize)
    return conn


def _select(conn: sqlite3.Connection, query: Query, sql: str, params: tuple[Any, ...] = (),
            keep: Any = None) -> tuple[list[str], list[list[Any]], bool]:
    """Run one SELECT within the query's time budget; rows for which `keep(row)` is false are
    dropped. Returns (columns, at most max_rows rows, truncated)."""
    deadline = time.monotonic() + query.max_seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10000)
    try:
        cur = conn.execute(sql, params)
        columns = [d[0] for d in cur.description or ()]
        rows: list[list[Any]] = []
        for row in cur:
            if keep is not None and not keep(row):
                continue
            if len(rows) == query.max_rows:
                return columns, rows, True
            rows.append(list(row))
            if time.monotonic() > deadline:
                raise QueryError(f"query ran longer than {query.max_seconds:g} s")
        return columns, rows, False
    except sqlite3.OperationalError as err:
        if "interrupted" in str(err):
            raise QueryError(f"query ran longer than {query.max_seconds:g} s") from None
        raise QueryError(f"query failed: {err}") from None
    except (sqlite3.Error, sqlite3.Warning) as err:  # Warning: more than one statement
        raise QueryError(f"query failed: {err}") from None
    finally:
        conn.set_progress_handler(None, 0)


_IMAGE = "i.ref AS ref, i.platform AS platform"


def _glob_prefix(pattern: str) -> str:
    """The literal start of a glob, so the path index narrows the rows the glob is tried on."""
    text = pattern.strip().lstrip("/")
    out = []
    for c in text:
        if c in "*?[":
            break
        out.append(c)
    return "".join(out)


def run_query(conn: sqlite3.Connection, query: Query) -> QueryResult:
    """Answer one question. Raises QueryError (exit 2) for a bad argument or refused SQL."""
    q, arg = query.question, query.argument.strip()
    match q:
        case "path":
            if not arg:
                raise QueryError("--path needs a glob, e.g. 'etc/ssl/**'")
            pattern, prefix = compile_glob(arg), _glob_prefix(arg)
            sql = (f"SELECT {_IMAGE}, f.path AS path, f.layer AS layer, f.layer_digest AS layer_digest, f.sha256 AS sha256 "
                   "FROM files f JOIN images i ON i.id = f.image_id WHERE f.path >= ? AND f.path < ? ORDER BY i.ref, f.path")
            cols, rows, more = _select(conn, query, sql, (prefix, prefix + "\U0010ffff"), lambda r: pattern.match(r[2]))
        case "sha256":
            hexdigest = arg.removeprefix("sha256:").lower()
            if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
                raise QueryError(f"--sha256: expected 64 hex digits, got {arg[:80]!r}")
            sql = (f"SELECT {_IMAGE}, f.path AS path, f.layer AS layer, f.layer_digest AS layer_digest FROM files f "
                   "JOIN images i ON i.id = f.image_id WHERE f.sha256 = ? ORDER BY i.ref, f.path")
            cols, rows, more = _select(conn, query, sql, (hexdigest,))
        case "package":
            name, sep, version = arg.partition("<=")
            name = name.strip()
            if not name:
                raise QueryError("--package needs NAME or NAME<=VERSION")
            sql = (f"SELECT {_IMAGE}, p.name AS name, p.version AS version, p.ecosystem AS ecosystem, p.arch AS arch, "
                   "p.layer_digest AS layer_digest, p.purl AS purl FROM packages p JOIN images i ON i.id = p.image_id "
                   "WHERE p.name = ? ORDER BY i.ref, p.version")
            limit = version.strip()
            keep = (lambda r: compare_versions(r[4], r[3], limit) <= 0) if sep and limit else None
            cols, rows, more = _select(conn, query, sql, (name,), keep)
        case "finding":
            least = query.severity or "info"
            if least not in _SEVERITIES:
                raise QueryError(f"--severity: one of {', '.join(_SEVERITIES)}, got {least!r}")
            wanted = _SEVERITIES[_SEVERITIES.index(least):]
            where = f"f.severity IN ({','.join('?' * len(wanted))})"
            params: tuple[Any, ...] = tuple(wanted)
            if arg and arg != "*":
                where += " AND f.rule = ?"
                params += (arg,)
            sql = (f"SELECT {_IMAGE}, f.rule AS rule, f.severity AS severity, f.path AS path, f.layer_digest AS layer_digest, "
                   "f.visible AS visible, f.allowed_by AS allowed_by, f.message AS message FROM findings f "
                   f"JOIN images i ON i.id = f.image_id WHERE {where} ORDER BY i.ref, f.rule, f.path")
            cols, rows, more = _select(conn, query, sql, params)
        case "unsigned" | "unverified":
            cond = "v.signed = 0" if q == "unsigned" else "(v.ok IS NULL OR v.ok = 0)"
            sql = (f"SELECT {_IMAGE}, i.status AS status, v.verdict AS verdict, v.signed AS signed, i.error AS error "
                   f"FROM images i LEFT JOIN verifications v ON v.image_id = i.id WHERE {cond} OR i.status != 'complete' "
                   "ORDER BY i.ref")
            if q == "unsigned":
                sql = sql.replace(" OR i.status != 'complete'", "")
            cols, rows, more = _select(conn, query, sql)
        case "shared-layer":
            if arg:
                sql = (f"SELECT {_IMAGE}, l.position AS position, l.digest AS digest, l.size AS size FROM image_layers l "
                       "JOIN images i ON i.id = l.image_id WHERE l.digest = ? ORDER BY i.ref")
                cols, rows, more = _select(conn, query, sql, (arg,))
            else:
                sql = ("SELECT l.digest AS digest, max(l.size) AS size, count(DISTINCT l.image_id) AS images, "
                       "group_concat(DISTINCT i.ref) AS refs FROM image_layers l JOIN images i ON i.id = l.image_id "
                       "GROUP BY l.digest HAVING count(DISTINCT l.image_id) > 1 ORDER BY images DESC, l.digest")
                cols, rows, more = _select(conn, query, sql)
        case "duplicated-layers":
            sql = ("SELECT l.digest AS digest, max(l.size) AS size, count(DISTINCT l.image_id) AS images, "
                   "max(l.size) * (count(DISTINCT l.image_id) - 1) AS saved_bytes FROM image_layers l "
                   "GROUP BY l.digest HAVING count(DISTINCT l.image_id) > 1 ORDER BY saved_bytes DESC, l.digest")
            cols, rows, more = _select(conn, query, sql)
        case "sql":
            if not arg:
                raise QueryError("--sql needs a SELECT statement")
            cols, rows, more = _select(conn, query, arg)
        case _:
            raise QueryError(f"unknown question {q!r}; one of {', '.join(QUESTIONS)}")
    return QueryResult(q, arg, cols, rows, more)
