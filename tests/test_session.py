"""The Session: one value carrying cache, executor, progress, limits and registry settings; the
gate reuses the layer indexes its integrity step verified, so each layer is inflated once."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from inspectr.fs import build
from inspectr.gate.engine import run_gate
from inspectr.gate.policy import load_gate_policy
from inspectr.session import LocalPool, Session

DIFF = Path(__file__).resolve().parent.parent / "fixtures" / "diff"


@pytest.fixture
def inflations(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each layer blob is inflated and walked (in-process executor, so every call is seen)."""
    seen: Counter[str] = Counter()
    real = build.index_layer

    def counting(source, layer, limits, scan_secrets=False, report=None, keep=None):  # type: ignore[no-untyped-def]
        seen[str(source.digest or source.blob.key)] += 1
        return real(source, layer, limits, scan_secrets, report, keep)

    monkeypatch.setattr(build, "index_layer", counting)
    return seen


@pytest.mark.parametrize("release,rebuild", [("plain-1.tar", "plain-2.tar"), ("ts0-1.tar", "changed.tar"),
                                             ("ts0-1.tar", "ts0-1-zstd")])
def test_gate_inflates_each_layer_once(tmp_path: Path, inflations: Counter[str], release: str, rebuild: str) -> None:
    policy_file = tmp_path / "inspectr.toml"
    policy_file.write_text('[signers]\nrequired = false\n')
    session = Session(executor=LocalPool(workers=1))
    report = run_gate(str(DIFF / release), str(DIFF / rebuild), load_gate_policy(policy_file), session=session)
    assert report.verdict in ("reproduced", "equivalent", "not-reproduced") and report.difference is not None
    assert inflations and set(inflations.values()) == {1}, inflations
    layers = {str(l.digest or l.blob.key) for ref in (release, rebuild)
              for l in __import__("inspectr").open_image(str(DIFF / ref)).layers}
    assert set(inflations) == layers


def test_a_layer_verified_elsewhere_in_the_run_is_still_verified_at_its_own_location(
        tmp_path: Path, inflations: Counter[str]) -> None:
    # The same layer digest at another path: its index is reused, but its bytes are read again.
    from inspectr import open_image
    from inspectr.diff.engine import index_pair

    import shutil
    copy = tmp_path / "copy.tar"
    shutil.copy(DIFF / "ts0-1.tar", copy)
    session = Session(executor=LocalPool(workers=1))
    a = open_image(str(DIFF / "ts0-1.tar"))
    build.index_layers(a, session=session)
    b = open_image(str(copy))
    verified = []
    real = build.verify_blob
    build.verify_blob = lambda source, report=None: verified.append(source.blob.key) or real(source, report)  # type: ignore[assignment]
    try:
        index_pair(a, b, session=session)
    finally:
        build.verify_blob = real  # type: ignore[assignment]
    assert set(inflations.values()) == {1}
    assert sorted(verified) == sorted(l.blob.key for l in b.layers)


def test_session_is_immutable_and_engines_take_it_by_keyword() -> None:
    session = Session()
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.cache = None  # type: ignore[misc]
    import inspect as pyinspect

    from inspectr import audit_image, build_tree, diff_images, verify_image
    for fn in (build_tree, diff_images, verify_image, audit_image, run_gate):
        param = pyinspect.signature(fn).parameters["session"]
        assert param.kind is pyinspect.Parameter.KEYWORD_ONLY, fn


def test_gate_of_two_copies_of_one_image_inflates_each_layer_once(tmp_path: Path, inflations: Counter[str]) -> None:
    # Same digests in two files (a rebuild that reproduced): the rebuild's integrity walk hashes
    # its copy of each blob but reuses the index the release's walk made.
    import shutil

    copy = tmp_path / "rebuild.tar"
    shutil.copy(DIFF / "ts0-1.tar", copy)
    policy_file = tmp_path / "inspectr.toml"
    policy_file.write_text('[signers]\nrequired = false\n')
    report = run_gate(str(DIFF / "ts0-1.tar"), str(copy), load_gate_policy(policy_file),
                      session=Session(executor=LocalPool(workers=1)))
    assert report.verdict == "reproduced"
    assert inflations and set(inflations.values()) == {1}, inflations


def test_a_corrupt_release_copy_does_not_hide_behind_an_intact_rebuild_copy(tmp_path: Path) -> None:
    # Same layer digest in both images; only the release's file is damaged. The rebuild's copy
    # is indexed on its own, and each side gets its own verdict.
    from builders import TarBuilder, write_oci_layout

    layer = TarBuilder().add_file("etc/motd", b"hello\n" * 1000).finish()
    release = write_oci_layout(tmp_path / "release", [layer])
    rebuild = write_oci_layout(tmp_path / "rebuild", [layer])
    blob = next(p for p in (tmp_path / "release" / "blobs" / "sha256").iterdir()
                if p.name == release.layer_digests[0].split(":")[1])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    policy_file = tmp_path / "inspectr.toml"
    policy_file.write_text('[signers]\nrequired = false\n')
    report = run_gate(str(release.path), str(rebuild.path), load_gate_policy(policy_file),
                      session=Session(executor=LocalPool(workers=1)))
    status = {c.id: c.status for c in report.checks}
    assert report.verdict == "untrusted"
    assert status["release-integrity"] == "fail" and status["rebuild-integrity"] == "pass", report.checks
