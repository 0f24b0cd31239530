"""inspectr on images made by real tools (fixtures/): every format reads, all forms of one
image agree, and `ls --format json` matches `umoci unpack` on every entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from inspectr import build_tree, open_image
from inspectr.cli import cli
from umoci_reference import UmociError, umoci_available, umoci_listing

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

BUSYBOX_FORMS = {
    "oci-busybox": "oci-layout",
    "oci-busybox.tar": "oci-archive",
    "docker-busybox.tar": "docker-archive (legacy docker save)",
    "docker25-busybox.tar": "docker-archive (Docker 25+ OCI layout)",
    "dir-busybox": "dir",
}

# (fixture, tag) pairs umoci 0.4.7 can unpack (it rejects zstd and multi-platform indexes).
UMOCI_CASES = [
    ("oci-busybox", "latest"),
    ("oci-layered", "latest"),
    ("oci-gzip", "latest"),
    ("oci-uncompressed", "latest"),
    ("oci-multi-image", "one"),
    ("oci-multi-image", "two"),
    ("oci-umoci-insert", "latest"),
]


def ls_json(ref: str, *extra: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["ls", ref, "--format", "json", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def comparable(records: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """What any two correct readers of the same image must agree on (no mtimes, no layers)."""
    return {
        r["path"]: (r["type"], r["mode"], r["uid"], r["gid"], r["size"], r["sha256"], r["linkname"],
                    r.get("devmajor", 0), r.get("devminor", 0), r.get("nlink", 1))
        for r in records
    }


@pytest.mark.parametrize("name,fmt", sorted(BUSYBOX_FORMS.items()))
def test_every_busybox_form_is_detected_and_verified(name: str, fmt: str) -> None:
    image = open_image(FIXTURES / name)
    assert image.format == fmt
    tree = build_tree(image)
    assert tree.get("bin/busybox") is not None
    assert tree.get("bin/sh").linkname == "busybox"
    assert image.config.user == "app"
    assert [str(d) for d in image.config.diff_ids] == [index.diff_id for index in tree.layers]


def test_all_busybox_forms_give_the_same_tree() -> None:
    listings = {name: comparable(ls_json(str(FIXTURES / name))) for name in BUSYBOX_FORMS}
    reference = listings.pop("oci-busybox")
    assert len(reference) > 40
    for name, listing in listings.items():
        assert listing == reference, name


def test_transport_prefixes_select_the_same_image() -> None:
    plain = comparable(ls_json(str(FIXTURES / "oci-busybox")))
    assert comparable(ls_json(f"oci:{FIXTURES / 'oci-busybox'}:latest")) == plain
    assert comparable(ls_json(f"oci-archive:{FIXTURES / 'oci-busybox.tar'}:latest")) == plain
    assert comparable(ls_json(f"docker-archive:{FIXTURES / 'docker-busybox.tar'}:busybox:latest")) == plain
    assert comparable(ls_json(f"docker-archive:{FIXTURES / 'docker25-busybox.tar'}:busybox:latest")) == plain
    assert comparable(ls_json(f"dir:{FIXTURES / 'dir-busybox'}")) == plain


def test_gzip_zstd_and_uncompressed_layers_give_the_same_tree() -> None:
    gz = comparable(ls_json(str(FIXTURES / "oci-gzip")))
    assert gz == comparable(ls_json(str(FIXTURES / "oci-zstd")))
    assert gz == comparable(ls_json(str(FIXTURES / "oci-uncompressed")))
    compressions = {index.compression for index in build_tree(open_image(FIXTURES / "oci-zstd")).layers}
    assert compressions == {"zstd"}


def test_multiarch_index_is_narrowed_by_platform() -> None:
    amd = open_image(FIXTURES / "oci-multiarch", platform="linux/amd64")
    arm = open_image(FIXTURES / "oci-multiarch", platform="linux/arm64")
    assert amd.config.architecture == "amd64" and arm.config.architecture == "arm64"
    assert amd.manifest_digest != arm.manifest_digest
    assert sorted(amd.platforms) == ["linux/amd64", "linux/arm64"]


@pytest.mark.needs_umoci
@pytest.mark.skipif(not umoci_available(), reason="umoci not installed")
@pytest.mark.parametrize("fixture,tag", UMOCI_CASES)
def test_ls_json_matches_umoci_unpack_on_every_entry(fixture: str, tag: str, tmp_path: Path) -> None:
    try:
        want = umoci_listing(FIXTURES / fixture, tag, tmp_path)
    except UmociError as err:  # pragma: no cover - umoci itself failed: that is a fixture problem
        pytest.fail(f"umoci could not unpack {fixture}:{tag}: {err}")
    got = {r["path"]: r for r in ls_json(f"oci:{FIXTURES / fixture}:{tag}")}
    assert sorted(got) == sorted(want)
    groups_got: dict[int, set[str]] = {}
    groups_want: dict[Any, set[str]] = {}
    for path, w in want.items():
        g = got[path]
        assert g["type"] == w["type"], path
        if w["type"] != "symlink":  # symlink permission bits mean nothing on Linux (R10)
            assert g["mode"] == w["mode"], path
        assert (g["uid"], g["gid"]) == (w["uid"], w["gid"]), path
        assert g["size"] == w["size"], path
        assert g["sha256"] == w["sha256"], path
        assert g["linkname"] == w["linkname"], path
        if w["type"] in ("char", "block"):
            assert (g["devmajor"], g["devminor"]) == (w["devmajor"], w["devminor"]), path
        if w["type"] != "dir":
            groups_got.setdefault(g.get("inode", id(g)), set()).add(path)
            groups_want.setdefault(w["inode"], set()).add(path)
    assert sorted(map(sorted, groups_got.values())) == sorted(map(sorted, groups_want.values()))
