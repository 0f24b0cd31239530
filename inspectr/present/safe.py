"""Make text from an image safe for a terminal: control characters (ESC included), surrogate
escapes of non-UTF-8 bytes and rich markup are all shown escaped, never interpreted."""

from __future__ import annotations

import html
import re

from ..untrusted.secrets import redact_secrets

__all__ = ["display_path", "display_text", "markdown_text"]

# Surrogates: U+DC80-U+DCFF stand for raw bytes that were not UTF-8 (surrogateescape); any other
# lone surrogate comes from a JSON `\uD800`-style escape, valid JSON text that UTF-8 cannot encode.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\\]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a raw byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    # Control characters below U+0100 as \xNN; bidi controls, separators and lone surrogates as \uNNNN.
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def display_text(text: str) -> str:
    """Escape control and bidi characters, and redact secrets; plain text, no markup."""
    return _UNSAFE.sub(_escape, redact_secrets(text))


def display_path(path: str) -> str:
    """A path from an image, escaped for a terminal (no markup: use with rich `Text`)."""
    return display_text(path)


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+!|~>"})


def markdown_text(text: str) -> str:
    """Text from an image, inert in Markdown and HTML: no links, images, tags or table cells."""
    return html.escape(display_text(text), quote=False).translate(_MD_SPECIAL)
