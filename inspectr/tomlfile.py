"""Reading the TOML files users write (diff and gate policies, audit rules): one place for the
error messages, which name the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["read_toml"]


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed document; UsageError (exit 2) when the file is missing or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from None
