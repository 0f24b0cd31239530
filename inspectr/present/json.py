"""Versioned JSON output. Keys are stable and documented in docs/formats/."""

from __future__ import annotations

import json
from typing import Any, Iterable, TextIO

__all__ = ["FORMAT_VERSION", "dump_document", "dump_records"]

FORMAT_VERSION = 1


def dump_document(kind: str, body: dict[str, Any], fp: TextIO) -> None:
    """One JSON object: {"format_version", "kind", ...body}."""
    doc = {"format_version": FORMAT_VERSION, "kind": kind, **body}
    json.dump(doc, fp, indent=2, sort_keys=False, ensure_ascii=True)
    fp.write("\n")


def dump_records(records: Iterable[dict[str, Any]], fp: TextIO) -> None:
    """A JSON list written record by record, so memory stays flat for big trees."""
    fp.write("[")
    first = True
    for record in records:
        fp.write("\n  " if first else ",\n  ")
        fp.write(json.dumps(record, ensure_ascii=True, separators=(", ", ": ")))
        first = False
    fp.write("\n]\n" if not first else "]\n")
