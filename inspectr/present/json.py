"""Versioned JSON output. Keys are stable and documented in docs/formats/."""

from __future__ import annotations

import json
from typing import Any, Iterable, TextIO

from ..untrusted.secrets import may_hold_secret, redact_value

__all__ = ["FORMAT_VERSION", "dump_document", "dump_records", "write_json", "json_text"]

FORMAT_VERSION = 1


def dump_document(kind: str, body: dict[str, Any], fp: TextIO) -> None:
    """One JSON object: {"format_version", "kind", ...body}."""
    write_json({"format_version": FORMAT_VERSION, "kind": kind, **body}, fp)


def dump_records(records: Iterable[dict[str, Any]], fp: TextIO) -> None:
    """A JSON list written record by record, so memory stays flat for big trees."""
    fp.write("[")
    first = True
    for record in records:
        fp.write("\n  " if first else ",\n  ")
        text = json.dumps(record, ensure_ascii=True, separators=(", ", ": "))
        if may_hold_secret(text):  # one cheap look at the whole record; redact only when it may
            text = json.dumps(redact_value(record), ensure_ascii=True, separators=(", ", ": "))
        fp.write(text)
        first = False
    fp.write("\n]\n" if not first else "]\n")


def json_text(doc: Any) -> str:
    """The one JSON serialiser of every report: secrets in any string are redacted first (an
    image's history, config, labels and annotations reach reports verbatim otherwise)."""
    # The look for secrets uses the C encoder (no indent); the document is indented once, after
    # redaction when the look found anything that may be one.
    if may_hold_secret(json.dumps(doc, ensure_ascii=True)):
        doc = redact_value(doc)
    return json.dumps(doc, indent=2, ensure_ascii=True)


def write_json(doc: Any, fp: TextIO) -> None:
    fp.write(json_text(doc) + "\n")
