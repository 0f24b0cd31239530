"""Notice: a non-fatal finding with a stable code, from any reader (ground floor: imports nothing)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Notice"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A non-fatal finding while reading or applying layers (a warning with a stable code)."""

    code: str
    path: str
    layer: int | None
    message: str
