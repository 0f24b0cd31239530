"""Path globs on hostile input (issue 20): globs from policies and rules, paths from images.

A glob with many `*` used to compile to a regex that backtracks exponentially on a long path;
an invalid set (`[z-a]`) was an internal error; a multi-megabyte glob was compiled whole."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inspectr.globs as globs
from inspectr.errors import UsageError
from inspectr.globs import MAX_GLOB_CHARS, compile_glob

REPO = Path(__file__).resolve().parent.parent
PAIR = [str(REPO / "fixtures/diff/plain-1.tar"), str(REPO / "fixtures/diff/plain-2.tar")]


def _both(pattern: str) -> tuple[globs.Glob, globs.Glob]:
    """The same glob on the regex and on the NFA."""
    saved = globs._REGEX_MAX_REPEATS
    try:
        globs._REGEX_MAX_REPEATS = 1 << 30
        regex = compile_glob.__wrapped__(pattern)
        globs._REGEX_MAX_REPEATS = -1
        nfa = compile_glob.__wrapped__(pattern)
    finally:
        globs._REGEX_MAX_REPEATS = saved
    assert regex._regex is not None and nfa._nfa is not None
    return regex, nfa


PIECES = ["a", "b", "/", "*", "**", "**/", "?", "[ab]", "[!a]", "[", "."]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=7).map("".join), st.text("ab/.", max_size=12))
def test_the_nfa_matches_exactly_what_the_regex_matches(pattern: str, path: str) -> None:
    regex, nfa = _both(pattern)
    assert nfa.match(path) == regex.match(path), (pattern, path)


@pytest.mark.parametrize(("pattern", "path", "want"), [
    ("etc", "etc/passwd", True), ("etc", "etcetera", False), ("/etc/", "etc/passwd", True),
    ("*.txt", "d/a.txt", False), ("**/*.txt", "a.txt", True), ("**/*.txt", "d/e/a.txt", True),
    ("usr/**/readme.txt", "usr/readme.txt", True), ("usr/share/doc/**", "usr/share/doc", False),
    ("bin/?s", "bin/ls", True), ("etc/[!ps]*", "etc/passwd", False), ("etc/[!ps]*", "etc/group", True),
    ("layers", "layers[0]", False), ("layers*", "layers[0]", True), ("ETC", "etc", False),
])
def test_the_documented_examples_hold_on_both_matchers(pattern: str, path: str, want: bool) -> None:
    regex, nfa = _both(pattern)
    assert regex.match(path) is want and nfa.match(path) is want


@pytest.mark.timeout(30)  # before the NFA, the first case did not finish in an hour
@pytest.mark.parametrize(("pattern", "path"), [
    ("*a" * 40 + "b", "a" * 4096),
    ("**a" * 40 + "b", "a/" * 2048),
    ("*" * 4000 + "b", "a" * 4096),
    ("**/" * 100 + "x", "a/" * 2048),
])
def test_a_glob_with_many_stars_on_a_long_path_answers_at_once(pattern: str, path: str) -> None:
    glob = compile_glob(pattern)
    assert glob._nfa is not None  # more than two repeats: never the backtracking regex
    assert glob.match(path) is False
    assert glob.match(path[:-1] + "b") is (not pattern.endswith("x"))


def test_a_glob_over_the_limit_and_an_invalid_set_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=f"over the limit of {MAX_GLOB_CHARS}"):
        compile_glob("a" * (MAX_GLOB_CHARS + 1))
    with pytest.raises(UsageError, match="invalid set '\\[z-a\\]'"):
        compile_glob("etc/[z-a]")
    with pytest.raises(re.error):
        re.compile("[z-a]")  # what used to escape as an internal error


def _diff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspectr", "--no-cache", "diff", *args, *PAIR],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.mark.parametrize(("path", "words"), [
    ("[" * 3000 + "a" * (MAX_GLOB_CHARS - 2000), "over the limit"),
    ("etc/[z-a]", "invalid set"),
])
def test_a_bad_glob_in_a_policy_is_one_line_naming_the_file_and_rule(tmp_path: Path, path: str, words: str) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(f'[[accept]]\npath = "{path}"\nreason = "r"\n')
    result = _diff("--policy", str(policy))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("inspectr: error[usage]: ")
    assert f"{policy}: accept[0].path: " in result.stderr and words in result.stderr


def test_a_hostile_glob_in_a_policy_and_in_exclude_runs_the_diff(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(f'[[accept]]\npath = "{"*a" * 200}b"\nreason = "r"\n')
    result = _diff("--policy", str(policy), "--exclude", "**x" * 50)
    assert result.returncode == 1, result.stderr  # the pair differs; nothing accepted
    bad = _diff("--exclude", "a[z-a]")
    assert bad.returncode == 2 and "error[usage]: --exclude: glob 'a[z-a]': invalid set" in bad.stderr
