"""Bounded, strict JSON: size cap, duplicate keys and non-finite numbers rejected."""

from __future__ import annotations

import json
from typing import Any

from ..errors import MalformedImage, SizeLimitExceeded
from ..limits import Limits

__all__ = ["load_json", "read_bounded", "parse_strict_json"]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def parse_strict_json(text: str) -> Any:
    """json.loads that rejects duplicate keys and NaN/Infinity (ValueError); Python's json
    keeps the last duplicate silently, a parser differential an attacker can use."""
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def load_json(data: bytes, what: str, limits: Limits) -> Any:
    """Parse JSON from an image. Raises MalformedImage with `what` naming the document."""
    if len(data) > limits.max_json_bytes:
        raise SizeLimitExceeded(f"{what}: {len(data)} bytes exceeds max_json_bytes={limits.max_json_bytes}")
    try:
        text = data.decode("utf-8")
        return parse_strict_json(text)
    except UnicodeDecodeError as err:
        raise MalformedImage(f"{what}: not UTF-8 JSON: {err.reason} at byte {err.start}") from err
    except RecursionError as err:
        raise MalformedImage(f"{what}: JSON nested too deeply") from err
    except ValueError as err:
        raise MalformedImage(f"{what}: invalid JSON: {err}") from err


def read_bounded(fp: Any, what: str, limits: Limits) -> bytes:
    """Read a whole small document, failing once it passes max_json_bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = fp.read(1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > limits.max_json_bytes:
            raise SizeLimitExceeded(f"{what}: larger than max_json_bytes={limits.max_json_bytes}")
        chunks.append(chunk)
    return b"".join(chunks)
