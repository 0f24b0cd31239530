"""inspectr diff on image pairs built by buildah (fixtures/diff/, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspectr import open_image
from inspectr.diff.difference import Cause, Verdict
from inspectr.diff.engine import diff_images
from inspectr.diff.options import DiffOptions

D = Path(__file__).resolve().parent.parent / "fixtures" / "diff"


def diff(a: str, b: str, options: DiffOptions = DiffOptions()):  # type: ignore[no-untyped-def]
    return diff_images(open_image(D / a), open_image(D / b), options)


def test_timestamp_zero_builds_are_identical() -> None:
    assert diff("ts0-1.tar", "ts0-2.tar") is None


def test_plain_builds_differ_only_in_timestamps_and_history() -> None:
    d = diff("plain-1.tar", "plain-2.tar")
    assert d.verdict is Verdict.DIFFERENT
    assert {c.cause for c in d.changes} == {Cause.TIMESTAMP, Cause.HISTORY}
    files = [c for c in d.changes if c.subject == "file"]
    assert len(files) == 25 and all([f.name for f in c.fields] == ["mtime"] for c in files)
    assert diff("plain-1.tar", "plain-2.tar", DiffOptions.semantic()).verdict is Verdict.EQUIVALENT


def test_changed_build_names_exactly_the_changed_paths() -> None:
    d = diff("ts0-1.tar", "changed.tar", DiffOptions.semantic())
    assert d.verdict is Verdict.DIFFERENT
    unaccepted = {(c.subject, c.path, c.change) for c in d.unaccepted}
    assert unaccepted == {
        ("config", "config.Env.APP_MODE", "modified"),
        ("file", "etc/motd", "modified"),
        ("file", "srv/app/helper.sh", "modified"),
        ("file", "srv/data/sub/notes.txt", "removed"),
        ("file", "usr/share/doc/inspectr-fixture/changelog.txt", "added"),
    }
    helper = next(c for c in d.changes if c.path == "srv/app/helper.sh")
    assert [(f.name, f.a, f.b) for f in helper.fields] == [("mode", 0o644, 0o755)]
    motd = next(c for c in d.changes if c.path == "etc/motd")
    assert motd.content_diff and motd.content_diff.startswith("--- a/etc/motd\n+++ b/etc/motd\n")
    env = next(c for c in d.changes if c.path == "config.Env.APP_MODE")
    assert (env.fields[0].a, env.fields[0].b) == ("production", "debug")


def test_squashed_image_has_no_file_differences() -> None:
    d = diff("ts0-1.tar", "squashed.tar")
    assert [c for c in d.changes if c.subject in ("file", "hidden")] == []
    assert any(c.cause is Cause.LAYER_BOUNDARIES for c in d.changes)
    assert diff("ts0-1.tar", "squashed.tar", DiffOptions.semantic()).verdict is Verdict.EQUIVALENT


@pytest.mark.parametrize("other,cause", [("ts0-1-docker.tar", Cause.IMAGE_FORMAT), ("ts0-1-zstd", Cause.COMPRESSION)])
def test_same_image_in_another_format_or_compression_is_equivalent(other: str, cause: Cause) -> None:
    d = diff("ts0-1.tar", other)
    assert d.verdict is Verdict.EQUIVALENT
    assert cause in {c.cause for c in d.changes}
    assert {c.cause for c in d.changes} <= {Cause.IMAGE_FORMAT, Cause.COMPRESSION}
