"""DiffOptions, path globs and the accepted-differences policy file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..globs import check_glob, compile_glob
from ..tomlfile import read_toml
from .difference import DEFAULT_IGNORABLE, SEMANTIC_IGNORABLE, Cause, Change

__all__ = ["DiffOptions", "Acceptance", "compile_glob", "load_policy", "parse_acceptances"]


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One accepted-difference rule: path glob, optional cause class and field, a reason."""

    path: str
    reason: str
    cause: Cause | None = None
    field_name: str | None = None
    expires: dt.date | None = None
    source: str = "policy"

    def matches(self, change: Change) -> bool:
        if self.cause is not None and change.cause is not self.cause:
            return False
        # A field rule accepts a change only when that field is all that changed.
        if self.field_name is not None and not (change.fields and all(f.name == self.field_name for f in change.fields)):
            return False
        regex = compile_glob(self.path)
        return bool(regex.match(change.path) or (change.renamed_from and regex.match(change.renamed_from)))


@dataclass(frozen=True, slots=True)
class DiffOptions:
    """What to compare and what to accept. Nothing accepted is dropped: it is only marked."""

    ignore: frozenset[Cause] = DEFAULT_IGNORABLE
    excludes: tuple[str, ...] = ()
    acceptances: tuple[Acceptance, ...] = ()
    max_diff_bytes: int = 1 << 20  # text diffs only for files up to this size
    max_diff_lines: int = 400
    max_classify_bytes: int = 64 << 20  # content read for build-id/nested-archive checks
    content: bool = True  # re-read changed files for text diffs and cause refinement
    packages_only: bool = False  # the release-notes view: package changes only
    today: dt.date | None = None

    def __post_init__(self) -> None:
        for pattern in self.excludes:
            check_glob(pattern, "--exclude")

    @classmethod
    def semantic(cls, **kw: object) -> "DiffOptions":
        return cls(ignore=SEMANTIC_IGNORABLE, **kw)  # type: ignore[arg-type]

    def accept(self, change: Change) -> str | None:
        """Why this change is accepted, or None."""
        for pattern in self.excludes:
            regex = compile_glob(pattern)
            if change.subject in ("file", "hidden") and regex.match(change.path):
                return f"--exclude {pattern}"
            if change.paths and all(regex.match(p) for p in change.paths):
                return f"--exclude {pattern}"
        for rule in self.acceptances:
            if rule.matches(change):
                if rule.expires is not None and rule.expires < (self.today or dt.date.today()):
                    # Expired acceptances accept nothing, and say so on the change.
                    note = f"acceptance {rule.reason!r} ({rule.source}) expired on {rule.expires.isoformat()}"
                    change.note = f"{change.note}; {note}" if change.note else note
                    continue
                return f"{rule.source}: {rule.reason}"
        if change.cause in self.ignore:
            return f"ignored class: {change.cause.value}"
        return None


def parse_acceptances(rules: Any, where: str, source: str) -> tuple[Acceptance, ...]:
    """`[[accept]]` tables (shared by `diff --policy` and the gate policy); errors name the field."""
    if not isinstance(rules, list):
        raise UsageError(f"{where}: 'accept' must be an array of tables ([[accept]])")
    out = []
    valid_causes = {c.value: c for c in Cause}
    for i, rule in enumerate(rules):
        at = f"{where}: accept[{i}]"
        if not isinstance(rule, dict):
            raise UsageError(f"{at}: must be a table")
        unknown = set(rule) - {"path", "reason", "cause", "field", "expires"}
        if unknown:
            raise UsageError(f"{at}: unknown field {sorted(unknown)[0]!r}")
        glob = rule.get("path", "**")
        reason = rule.get("reason")
        if not isinstance(glob, str) or not glob:
            raise UsageError(f"{at}.path: must be a non-empty string")
        check_glob(glob, f"{at}.path")
        if not isinstance(reason, str) or not reason.strip():
            raise UsageError(f"{at}.reason: every acceptance needs a reason")
        cause = rule.get("cause")
        if cause is not None and (not isinstance(cause, str) or cause not in valid_causes):
            raise UsageError(f"{at}.cause: {cause!r} is not one of {', '.join(valid_causes)} (one class per rule)")
        field_name = rule.get("field")
        if field_name is not None and not isinstance(field_name, str):
            raise UsageError(f"{at}.field: must be a string")
        expires = rule.get("expires")
        if isinstance(expires, dt.datetime) or (expires is not None and not isinstance(expires, dt.date)):
            raise UsageError(f"{at}.expires: must be a TOML date, e.g. 2027-01-31")
        out.append(Acceptance(glob, reason.strip(), valid_causes.get(cause) if cause else None, field_name,
                              expires, source=source))
    return tuple(out)


def load_policy(path: Path) -> tuple[Acceptance, ...]:
    """Read `[[accept]]` tables from a TOML policy (docs/formats/policy.md). Raises UsageError
    naming the field on anything invalid."""
    doc = read_toml(path, "policy file")
    rules = doc.get("accept")
    if rules is None:
        raise UsageError(f"{path}: no [[accept]] entries (an empty policy accepts nothing)")
    return parse_acceptances(rules, str(path), f"policy {path.name}")
