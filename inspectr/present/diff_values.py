"""How a diff's values read, shared by the text, Markdown and HTML reports (no rich here)."""

from __future__ import annotations

import datetime as _dt
import json
import stat
from typing import Any

from ..diff.difference import Change

__all__ = ["value_text", "owners_text"]


def value_text(name: str, value: Any) -> str:
    """A field's value: modes in octal with their rwx form, mtimes as UTC times, ∅ for none."""
    if value is None:
        return "∅"
    if name == "mode" and isinstance(value, int):
        return f"{value:04o} {stat.filemode(value)[1:]}"
    if name == "mtime" and isinstance(value, int):
        seconds, ns = divmod(value, 1_000_000_000)
        try:
            stamp = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        except (OverflowError, OSError, ValueError):
            stamp = str(seconds)
        return f"{stamp}{f'.{ns:09d}'.rstrip('0') if ns else ''}Z"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def owners_text(c: Change) -> str | None:
    """"package: jq 1.6-2.1 → jq 1.6-2.1+deb12u1", or that no package owns the file."""
    if c.owners is None:
        return None
    a, b = c.owners
    if a is None and b is None:
        return "owned by no package"
    text = a if a == b or b is None else b if a is None else f"{a} → {b}"
    return f"package: {text}" + ("" if c.explained else "  (no package change behind this file change)")
