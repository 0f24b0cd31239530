"""Version order per ecosystem, to tell an upgrade from a downgrade: dpkg's rules for deb (and
apk, whose versions sort close enough for that question), rpmvercmp's for rpm, and a natural
order (numbers by value) for the language ecosystems."""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["compare_versions"]


def _dpkg_order(c: str) -> int:
    # dpkg: '~' sorts before everything, even the end of the string; letters before other symbols
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _dpkg_order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def _split_epoch(v: str) -> tuple[int, str]:
    """EPOCH:REST as dpkg and rpm write it; no (numeric) epoch is 0."""
    epoch, sep, rest = v.partition(":")
    if not sep or not epoch.isdigit():
        return 0, v
    return int(epoch[:18]), rest


def _by_epoch(a: str, b: str, split: Callable[[str], tuple[str, str]], part: Callable[[str, str], int]) -> int:
    """The order dpkg and rpm share: epoch first (numeric), then the version, then the
    revision or release, each by `part`. `split` cuts what follows the epoch in two."""
    (ea, rest_a), (eb, rest_b) = _split_epoch(a), _split_epoch(b)
    if ea != eb:
        return -1 if ea < eb else 1
    (va, ra), (vb, rb) = split(rest_a), split(rest_b)
    return part(va, vb) or part(ra, rb)


def _dpkg_split(rest: str) -> tuple[str, str]:
    upstream, dash, revision = rest.rpartition("-")  # the revision follows the last hyphen
    return (upstream, revision) if dash else (rest, "")


def _dpkg(a: str, b: str) -> int:
    return _by_epoch(a, b, _dpkg_split, _dpkg_part)


_RPM_SEGMENT = re.compile(r"(~|\^|[0-9]+|[A-Za-z]+)")


def _rpm_part(a: str, b: str) -> int:
    sa, sb = _RPM_SEGMENT.findall(a), _RPM_SEGMENT.findall(b)
    for x, y in zip(sa, sb):
        if x != y:
            if x == "~" or y == "~":
                return -1 if x == "~" else 1
            if x == "^" or y == "^":
                return -1 if x == "^" else 1  # a caret sorts before any other segment
            if x.isdigit() and y.isdigit():
                return -1 if int(x) < int(y) else (1 if int(x) > int(y) else 0) or (-1 if x < y else 1)
            if x.isdigit() != y.isdigit():
                return 1 if x.isdigit() else -1  # numbers sort after letters
            return -1 if x < y else 1
    if len(sa) == len(sb):
        return 0
    longer, sign = (sa, 1) if len(sa) > len(sb) else (sb, -1)
    nxt = longer[min(len(sa), len(sb))]
    # past the shorter one's end: a tilde makes the longer older, anything else (a caret too) newer
    return -sign if nxt == "~" else sign


def _rpm_split(rest: str) -> tuple[str, str]:
    version, _, release = rest.partition("-")  # the release follows the first hyphen
    return version, release


def _rpm(a: str, b: str) -> int:
    return _by_epoch(a, b, _rpm_split, _rpm_part)


_POST = ("post", "p", "patch", "rev", "r", "pl")


def _natural(a: str, b: str) -> int:
    """Numbers by value, words by text. Where one version goes on after the other ends, a word
    there marks a pre-release (1.0.0-beta, 1.0rc1 before 1.0) unless it is a post-release word;
    a number makes it newer."""
    def key(v: str) -> list[tuple[int, int, str]]:
        return [(1, int(p[:30]), "") if p.isdigit() else (0, 0, p.lower()) for p in re.findall(r"\d+|[^\d.\-+_]+", v)]

    ka, kb = key(a), key(b)
    for x, y in zip(ka, kb):
        if x != y:
            return -1 if x < y else 1
    if len(ka) == len(kb):
        return 0
    longer, sign = (ka, 1) if len(ka) > len(kb) else (kb, -1)
    nxt = longer[min(len(ka), len(kb))]
    return -sign if nxt[0] == 0 and nxt[2] not in _POST else sign


def compare_versions(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as version A sorts before, with or after B in ECOSYSTEM's order."""
    if a == b:
        return 0
    if ecosystem in ("deb", "apk"):
        return _dpkg(a, b)
    if ecosystem == "rpm":
        return _rpm(a, b)
    return _natural(a, b)
