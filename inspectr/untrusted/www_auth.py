"""WWW-Authenticate challenges (RFC 7235) from a registry: the scheme and its auth-params.

A hostile registry controls this header, so the parser is bounded and never raises on junk:
what it cannot read it drops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Challenge", "parse_challenges"]

_MAX_HEADER = 8192
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*(?:,|$)')
_SCHEME_RE = re.compile(rf"\s*,?\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: bearer, basic
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Every challenge in the given WWW-Authenticate header values, in order."""
    out: list[Challenge] = []
    for value in headers:
        text = value[:_MAX_HEADER]
        pos = 0
        while pos < len(text):
            m = _SCHEME_RE.match(text, pos)
            if not m:
                break
            scheme = m.group(1).lower()
            pos = m.end()
            params: dict[str, str] = {}
            while pos < len(text):
                p = _PARAM_RE.match(text, pos)
                if not p:
                    break
                key = p.group(1).lower()
                raw = p.group(2) if p.group(2) is not None else p.group(3)
                params.setdefault(key, re.sub(r"\\(.)", r"\1", raw))
                pos = p.end()
            out.append(Challenge(scheme, params))
            if pos < len(text) and not _SCHEME_RE.match(text, pos):
                break
    return out
