"""Reading the TOML files users write (diff and gate policies, audit rules): one place for the
error messages, which name the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import UsageError
from .userfiles import POLICY_MAX_BYTES, read_user_file

__all__ = ["read_toml"]


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed document; UsageError (exit 2) when the file is missing or not TOML."""
    data = read_user_file(path, what, POLICY_MAX_BYTES)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from None
    except RecursionError:  # tomllib recurses per nesting level: a 100 000-deep table
        raise UsageError(f"{path}: invalid TOML: nested too deeply") from None
