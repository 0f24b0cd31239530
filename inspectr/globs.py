"""Path globs for excludes, policies and allow-lists: `**` crosses directories.

Globs come from policy files and rules that may be hostile, and paths from images. A regex with
several unbounded repeats (`*a*a*a*b`) backtracks exponentially, so only globs with at most two
repeats run as a regex (at worst quadratic in a path of at most PATH_MAX bytes); the rest run on
a bit-parallel NFA that is linear in the path's length (issue 20)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from .errors import UsageError

__all__ = ["Glob", "compile_glob", "check_glob", "MAX_GLOB_CHARS"]

# Longer than any path inspectr accepts (max_path_bytes 4096), with room for sets like [abc].
MAX_GLOB_CHARS = 8192
_REGEX_MAX_REPEATS = 2

_ONE, _LOOP, _SKIP = "one", "loop", "skip"  # token kinds; _SKIP: `**/`, a loop then `/`, or nothing


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    regex: str  # one character class, as a regex


class Glob:
    """A compiled glob. `match(path)` is true when the whole path, or a directory above it,
    matches (see docs/formats/policy.md#path-globs)."""

    __slots__ = ("pattern", "_regex", "_nfa")

    def __init__(self, pattern: str, tokens: list[_Token]) -> None:
        self.pattern = pattern
        repeats = sum(t.kind != _ONE for t in tokens)
        self._regex: re.Pattern[str] | None = None
        self._nfa: _Nfa | None = None
        if repeats <= _REGEX_MAX_REPEATS:
            self._regex = re.compile("".join(_token_regex(t) for t in tokens) + "(?:/.*)?\\Z", re.S)
        else:
            self._nfa = _Nfa(tokens)

    def match(self, path: str) -> bool:
        if self._regex is not None:
            return self._regex.match(path) is not None
        assert self._nfa is not None
        return self._nfa.match(path)

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"


def _token_regex(token: _Token) -> str:
    if token.kind == _ONE:
        return token.regex
    if token.kind == _LOOP:
        return token.regex + "*"
    return "(?:.*/)?"


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> Glob:
    """`**` crosses directories, `*` and `?` do not; a leading `/` is ignored; a pattern that
    names a directory also matches everything below it. Raises UsageError for a glob that is
    too long or holds an invalid set (`[z-a]`)."""
    if len(pattern) > MAX_GLOB_CHARS:
        raise UsageError(f"glob {pattern[:32]!r}… is {len(pattern)} characters, over the limit of {MAX_GLOB_CHARS}")
    pattern = pattern.strip().lstrip("/")
    tokens: list[_Token] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            tokens.append(_Token(_SKIP, ""))
            i += 3
            continue
        if pattern.startswith("**", i):
            tokens.append(_Token(_LOOP, "."))
            i += 2
            continue
        if ch == "*":
            tokens.append(_Token(_LOOP, "[^/]"))
        elif ch == "?":
            tokens.append(_Token(_ONE, "[^/]"))
        elif ch == "[" and (j := pattern.find("]", i + 1)) >= 0:
            body = pattern[i + 1 : j]
            negate = body.startswith("!")
            # Characters a regex set treats specially (or will: "nested set" FutureWarnings).
            body = "".join("\\" + c if c in "\\[&~|" else c for c in body[negate:])
            body = ("^" if negate else "") + body
            regex = f"[{body}]"
            try:
                re.compile(regex)
            except re.error as err:
                raise UsageError(f"glob {pattern[:64]!r}: invalid set {pattern[i:j + 1][:32]!r}: {err.msg}") from None
            tokens.append(_Token(_ONE, regex))
            i = j
        else:
            tokens.append(_Token(_ONE, re.escape(ch)))
        i += 1
    while tokens and tokens[-1] == _Token(_ONE, re.escape("/")):  # `etc/` is `etc`
        tokens.pop()
    return Glob(pattern, tokens)


@dataclass(slots=True)
class _Nfa:
    """Shift-and over the glob's positions: bit p set = the first p positions consumed. A `_SKIP`
    token takes three: a branch (on to the loop, or past the whole token), a loop over any
    character, then `/`; so `**/` matches nothing or something ending in `/`."""

    tokens: list[_Token]
    eps1: int = 0  # positions with an epsilon edge to the next one (loops, branches)
    eps3: int = 0  # branches: an epsilon edge past their token
    final: int = 0
    _classes: list[tuple[int, bool, re.Pattern[str]]] = field(default_factory=list)  # (bit, is loop, class)
    _masks: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = 0
        for token in self.tokens:
            if token.kind == _SKIP:
                self.eps1 |= (1 << p) | (1 << (p + 1))
                self.eps3 |= 1 << p
                self._classes.append((1 << (p + 1), True, re.compile(".", re.S)))
                self._classes.append((1 << (p + 2), False, re.compile("/")))
                p += 3
            else:
                loop = token.kind == _LOOP
                if loop:
                    self.eps1 |= 1 << p
                self._classes.append((1 << p, loop, re.compile(token.regex, re.S)))
                p += 1
        self.final = 1 << p

    def _closure(self, state: int) -> int:
        while True:
            grown = state | ((state & self.eps1) << 1) | ((state & self.eps3) << 3)
            if grown == state:
                return state
            state = grown

    def _mask(self, ch: str) -> tuple[int, int]:
        masks = self._masks.get(ch)
        if masks is None:
            one = loop = 0
            for bit, is_loop, cls in self._classes:
                if cls.fullmatch(ch):
                    if is_loop:
                        loop |= bit
                    else:
                        one |= bit
            masks = (one, loop)
            if len(self._masks) < 4096:  # bounded: paths may use any of a million code points
                self._masks[ch] = masks
        return masks

    def match(self, path: str) -> bool:
        state = self._closure(1)
        for ch in path:
            if ch == "/" and state & self.final:  # the glob matched a directory above the path
                return True
            one, loop = self._mask(ch)
            state = self._closure(((state & one) << 1) | (state & loop))
            if not state:
                return False
        return bool(state & self.final)


def check_glob(pattern: str, where: str) -> None:
    """Compile now, so a bad glob in a file is an error naming the file and field before any
    image is read."""
    try:
        compile_glob(pattern)
    except UsageError as err:
        raise UsageError(f"{where}: {err.message}") from None
