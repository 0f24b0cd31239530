"""Hostile inputs: every attack class gets a specific error (class *and* message) or a
safe, contained tree (shared/specs/unionfs.md §2 CVE table, R2, R9, R12, R14, R17-R24).

Layer-level attacks go through `index_tar_bytes` + `apply_layers`; image-level attacks
(integrity, media types, bombs) through real image layouts written by tests/builders.py
and `open_image` + `build_tree`, so that the whole verifying pipeline is exercised.
"""

from __future__ import annotations

import gzip
import hashlib

import pytest

from builders import (
    BLOCK,
    Corrupt,
    TarBuilder,
    apply_tars,
    compress,
    write_docker_archive,
    write_oci_archive,
    write_oci_layout,
)
from inspectr import build_tree, open_image
from inspectr.errors import InspectrError
from inspectr.limits import Limits


def T() -> TarBuilder:
    return TarBuilder()


def sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def raises(fn, error_class: str, *fragments: str) -> InspectrError:
    with pytest.raises(InspectrError) as info:
        fn()
    err = info.value
    assert err.error_class == error_class, f"{err.error_class}: {err.message}"
    for fragment in fragments:
        assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
    return err


def layers_error(layers, error_class: str, *fragments: str, limits: Limits | None = None,
                 strict: bool = False) -> InspectrError:
    return raises(lambda: apply_tars(layers, limits=limits, strict=strict), error_class, *fragments)


def image_tree(ref: str, limits: Limits | None = None):
    lim = limits or Limits()
    return build_tree(open_image(ref, limits=lim))


def image_error(ref: str, error_class: str, *fragments: str, limits: Limits | None = None) -> InspectrError:
    return raises(lambda: image_tree(ref, limits), error_class, *fragments)


def paths(tree) -> list[str]:
    return [n.path for n in tree.walk()]


def assert_contained(tree) -> None:
    """R2/invariant 9: every path is normalised and relative."""
    for node in tree.walk():
        p = node.path
        assert p and not p.startswith("/"), p
        assert all(c not in ("", ".", "..") for c in p.split("/")), p
        assert "\0" not in p


BASIC = T().add_dir("etc").add_file("etc/os-release", "ID=test\n").add_symlink("bin", "usr/bin").finish()


# == dotdot and absolute names (R2, CVE-2014-6407) =============================================


@pytest.mark.parametrize(
    "name",
    ["../../../etc/passwd", "a/../../evil", "./../../tmp/x", "ok/../../..", "../"],
)
def test_evil_dotdot_name_is_rejected(name):
    layers_error([T().add_file("ok/file", "f").add_file(name, "pwn")], "path-escape-rejected", name)


def test_evil_dotdot_in_a_pax_path_record_is_rejected():
    t = T().add_file("innocent", "pwn", pax={"path": "../../etc/cron.d/evil"})
    layers_error([t], "path-escape-rejected", "../../etc/cron.d/evil")


def test_evil_dotdot_in_a_gnu_long_name_is_rejected():
    name = "../" * 40 + "etc/evil"
    layers_error([T().add_file(name, "pwn", long_names="gnu")], "path-escape-rejected", "etc/evil")


def test_evil_dotdot_split_into_the_ustar_prefix_is_rejected():
    t = T().member("passwd", b"pwn", prefix="../../etc")
    layers_error([t], "path-escape-rejected", "passwd")


def test_evil_dotdot_symlink_name_is_rejected_even_for_links():
    layers_error([T().add_symlink("../outside-link", "/")], "path-escape-rejected", "../outside-link")


@pytest.mark.parametrize(
    "raw, path",
    [("/etc/passwd", "etc/passwd"), ("///etc//passwd", "etc/passwd"), ("/./etc/./passwd", "etc/passwd")],
)
def test_absolute_names_are_allowed_and_normalised(raw, path):
    tree = apply_tars([T().add_dir("/etc").add_file(raw, "root:x:0:0")])
    assert paths(tree) == ["etc", path]
    assert tree.get(path).sha256 == sha("root:x:0:0")
    assert_contained(tree)


def test_absolute_name_in_a_pax_path_record_is_normalised():
    tree = apply_tars([T().add_file("x", "abs", pax={"path": "/opt/app/bin"})])
    assert paths(tree) == ["opt", "opt/app", "opt/app/bin"]
    assert_contained(tree)


# == symlink escapes (R12, CVE-2014-9356, CVE-2018-15664) =======================================


def test_evil_symlink_escape_to_root_is_resolved_inside_the_image():
    tree = apply_tars([
        T().add_dir("etc").add_symlink("escape", "../../../../../.."),
        T().add_file("escape/etc/passwd", "pwned"),
    ])
    assert paths(tree) == ["escape", "etc", "etc/passwd"]
    assert tree.get("escape").linkname == "../../../../../.."
    assert tree.get("etc/passwd").sha256 == sha("pwned")
    assert_contained(tree)


def test_evil_absolute_symlink_is_resolved_at_the_image_root():
    tree = apply_tars([
        T().add_dir("tmp").add_symlink("abs", "/tmp"),
        T().add_file("abs/evil.sh", "rm -rf"),
    ])
    assert paths(tree) == ["abs", "tmp", "tmp/evil.sh"]
    assert_contained(tree)


def test_evil_symlink_escape_chain_stays_inside_the_image():
    tree = apply_tars([
        T().add_dir("a").add_dir("a/b").add_symlink("a/b/up", "../../..").add_symlink("hop", "a/b/up/../..")
        .add_dir("target"),
        T().add_file("hop/target/x", "x"),
    ])
    assert tree.get("target/x").sha256 == sha("x")
    assert_contained(tree)


def test_hardlink_through_an_escaping_symlink_never_reaches_the_host():
    # /etc/shadow exists on this machine but not in the image: the link must not find it.
    layers_error(
        [T().add_symlink("up", "../../../../.."), T().add_hardlink("stolen", "up/etc/shadow")],
        "invalid-hardlink",
        "up/etc/shadow",
    )


def test_hardlink_through_an_escaping_symlink_binds_to_the_image_file():
    tree = apply_tars([
        T().add_dir("etc").add_file("etc/shadow", "image-shadow", mode=0o640).add_symlink("up", "../../.."),
        T().add_hardlink("copy", "up/etc/shadow", mode=0o640),
    ])
    assert tree.get("copy").sha256 == sha("image-shadow")
    assert tree.get("copy").inode_id == tree.get("etc/shadow").inode_id


@pytest.mark.parametrize("target", ["../../../etc/passwd", "a/../../../x", ".."])
def test_evil_hardlink_escape_is_rejected(target):
    layers_error([T().add_file("a", "a").add_hardlink("h", target)], "path-escape-rejected", target)


def test_evil_root_entry_symlink_is_rejected():
    # CVE-2021-29136: '.' as a symlink would redirect every later layer.
    layers_error(
        [T().add_file("a", "a"), T().add_symlink(".", "/tmp/host"), T().add_file("pwn", "x")],
        "invalid-root-entry",
        "root",
    )


# == NUL and empty names (invalid-name) ========================================================


def test_nul_in_a_pax_path_is_an_invalid_name():
    layers_error([T().add_file("x", "x", pax={"path": b"evil-nul\x00.txt"})], "invalid-name", "evil-nul")


def test_nul_in_a_pax_linkpath_is_an_invalid_name():
    t = T().add_file("t", "t").add_symlink("nul-target-link", "x", pax={"linkpath": b"evil-nul\x00target"})
    layers_error([t], "invalid-name", "nul-target-link")


def test_gnu_long_name_is_cut_at_its_first_nul_like_the_runtimes():
    # The GNU 'L' payload is a C string: Go's archive/tar (so every runtime) stops at the
    # first NUL, and the view must show the name the runtime creates.
    t = T().member("././@LongLink", b"evil-nul\x00hidden/part\x00", typeflag=b"L", fmt="gnu")
    t.add_file("short", "x")
    tree = apply_tars([t])
    assert paths(tree) == ["evil-nul"]
    assert tree.get("evil-nul").sha256 == sha("x")


def test_empty_member_name_is_an_invalid_name():
    layers_error([T().add_file("ok", "ok").member("", b"x")], "invalid-name", "empty")


def test_empty_pax_path_is_an_invalid_name():
    layers_error([T().add_file("named", "x", pax={"path": ""})], "invalid-name", "empty")


# == PAX global header tricks (R17) ==============================================================


def test_pax_global_path_never_renames_the_next_member():
    tree = apply_tars([T().add_global({"path": "evil-global"}).add_file("real-file", "r")])
    assert paths(tree) == ["real-file"]
    assert tree.warnings


def test_pax_global_dotdot_path_is_ignored_not_an_escape():
    tree = apply_tars([T().add_global({"path": "../../etc/passwd"}).add_file("real-file", "r")])
    assert paths(tree) == ["real-file"]


def test_pax_global_size_never_changes_how_the_next_member_is_read():
    t = T().add_global({"size": "4096", "uid": "0", "mode": "4755"}).add_file("first", "abc", uid=7)
    t.add_file("second", "def")
    tree = apply_tars([t])
    assert paths(tree) == ["first", "second"]
    assert tree.get("first").sha256 == sha("abc")
    assert tree.get("first").uid == 7
    assert tree.get("second").sha256 == sha("def")


def test_pax_global_linkpath_never_retargets_the_next_symlink():
    tree = apply_tars([T().add_global({"linkpath": "/etc/shadow"}).add_symlink("s", "harmless")])
    assert tree.get("s").linkname == "harmless"


def test_pax_global_xattr_is_never_applied():
    tree = apply_tars([T().add_global({"SCHILY.xattr.security.capability": b"\x01"}).add_file("f", "x")])
    assert tree.get("f").xattrs == {}


# == tar framing (R19) ==========================================================================


def test_single_zero_block_followed_by_data_is_corrupt():
    data = T().add_file("visible", "v").raw(b"\0" * BLOCK).add_file("hidden", "h").finish()
    # CPython's tarfile would stop silently at the zero block and hide `hidden` (R19).
    raises(lambda: apply_tars([data]), "corrupt-tar", "layer 0", "zero block")


def test_bad_header_checksum_is_corrupt():
    data = T().add_file("ok", "ok").member("bad-sum", b"x", checksum="bad").finish()
    raises(lambda: apply_tars([data]), "corrupt-tar", "layer 0", "checksum")


def test_bad_checksum_on_the_first_header_is_corrupt():
    data = T().member("first", b"x", checksum=12345).finish()
    raises(lambda: apply_tars([data]), "corrupt-tar", "layer 0", "checksum")


def test_garbage_instead_of_a_header_is_corrupt():
    data = T().add_file("ok", "ok").raw(b"\xff" * BLOCK).finish()
    raises(lambda: apply_tars([data]), "corrupt-tar", "layer 0")


def test_tar_truncated_inside_member_data_is_corrupt():
    data = T().add_file("big", b"x" * 5000).finish()
    raises(lambda: apply_tars([data[: BLOCK + 1000]]), "corrupt-tar", "layer 0", "big")


def test_tar_truncated_inside_a_header_is_corrupt():
    data = T().add_file("a", "a").add_file("b", "b").finish()
    raises(lambda: apply_tars([data[: 2 * BLOCK + 100]]), "corrupt-tar", "layer 0", "truncated")


def test_invalid_octal_number_is_corrupt():
    data = T().member("f", b"x", overrides={"uid": b"12x4567\0"}).finish()
    raises(lambda: apply_tars([data]), "corrupt-tar", "layer 0", "12x4567")


def test_negative_base256_size_is_corrupt():
    data = T().member("f", b"", size=-1, base256=["size"]).finish()
    raises(lambda: apply_tars([data]), "corrupt-tar", "layer 0", "size")


def test_trailing_data_after_the_end_marker_gives_a_tree_and_a_warning():
    data = T().add_file("a", "a").finish(trailing=b"hidden payload" + b"\0" * 498)
    tree = apply_tars([data])
    assert paths(tree) == ["a"]
    assert tree.warnings


def test_zero_padding_after_the_end_marker_is_not_flagged():
    data = T().add_file("a", "a").finish(trailing=b"\0" * 10240)
    tree = apply_tars([data])
    assert paths(tree) == ["a"]
    assert tree.warnings == []


# == unsupported entry types (R18) ===============================================================


@pytest.mark.parametrize("typeflag, name", [(b"S", "old-gnu-sparse"), (b"7", "contiguous"), (b"V", "volume"),
                                            (b"?", "unknown-type")])
def test_evil_unsupported_typeflag_is_rejected(typeflag, name):
    layers_error([T().add_file(name, b"payload", typeflag=typeflag)], "unsupported-entry", name)


# == limits (R24, Go CVE-2022-2879) ==============================================================


def test_huge_pax_header_is_over_the_limit():
    records = {"comment": "A" * 200_000}
    layers_error([T().add_file("f", "x", pax=records)], "size-limit-exceeded", "max_pax_bytes",
                 limits=Limits(max_pax_bytes=64 * 1024))


def test_huge_gnu_long_name_is_over_the_limit():
    name = "n" * 100_000
    layers_error([T().add_file(name, "x", long_names="gnu")], "size-limit-exceeded", "max_pax_bytes",
                 limits=Limits(max_pax_bytes=16 * 1024))


def test_member_larger_than_max_member_bytes_is_over_the_limit():
    layers_error([T().add_file("large-member", b"z" * 20_000)], "size-limit-exceeded", "large-member",
                 "max_member_bytes",
                 limits=Limits(max_member_bytes=10_000))


def test_layer_larger_than_max_layer_bytes_is_over_the_limit():
    t = T()
    for i in range(20):
        t.add_file(f"f{i}", b"z" * 1000)
    layers_error([t], "size-limit-exceeded", "max_layer_bytes", limits=Limits(max_layer_bytes=8_000))


def test_too_many_entries_in_one_layer_is_over_the_limit():
    t = T()
    for i in range(2000):
        t.add_file(f"f{i:05d}", "")
    layers_error([t], "entry-limit-exceeded", "max_entries_per_layer", limits=Limits(max_entries_per_layer=1000))


def test_too_many_entries_over_all_layers_is_over_the_limit():
    layers = []
    for layer in range(3):
        t = T()
        for i in range(400):
            t.add_file(f"l{layer}/f{i:04d}", "")
        layers.append(t)
    layers_error(layers, "entry-limit-exceeded", "max_entries_total",
                 limits=Limits(max_entries_total=1000, max_entries_per_layer=1000))


def test_path_deeper_than_max_path_depth_is_over_the_limit():
    name = "/".join(["d"] * 40) + "/leaf"
    layers_error([T().add_file(name, "x")], "entry-limit-exceeded", "max_path_depth", limits=Limits(max_path_depth=16))


def test_name_longer_than_max_path_bytes_is_over_the_limit():
    layers_error([T().add_file("p" * 300, "x")], "size-limit-exceeded", "max_path_bytes",
                 limits=Limits(max_path_bytes=100))


def test_sparse_map_with_too_many_segments_is_over_the_limit():
    segments = [(i * 10, b"x") for i in range(100)]
    layers_error([T().add_sparse("sparse-bomb", segments, 2000)], "size-limit-exceeded", "sparse-bomb",
                 limits=Limits(max_sparse_segments=10))


def test_image_with_more_layers_than_max_layers_is_over_the_limit(tmp_path):
    layers = [T().add_file(f"f{i}", "x").finish() for i in range(3)]
    written = write_oci_layout(tmp_path / "img", layers)
    image_error(written.ref, "entry-limit-exceeded", "max_layers", limits=Limits(max_layers=2))


def test_oversized_json_is_over_the_limit(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC])
    image_error(written.ref, "size-limit-exceeded", "max_json_bytes", limits=Limits(max_json_bytes=100))


def _bomb_layer(mib: int) -> bytes:
    return T().add_file("bomb", b"\0" * (mib << 20)).finish()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_evil_decompression_bomb_is_stopped_by_the_layer_limit(tmp_path, compression):
    layer = _bomb_layer(48)
    written = write_oci_layout(tmp_path / "img", [layer], compression=compression)
    assert written.layer_sizes[0] < 2 << 20
    image_error(written.ref, "size-limit-exceeded", "max_layer_bytes", limits=Limits(max_layer_bytes=4 << 20))


def test_evil_decompression_bomb_is_stopped_by_the_total_limit(tmp_path):
    layers = [T().add_file(f"part{i}", b"\0" * (3 << 20)).finish() for i in range(3)]
    written = write_oci_layout(tmp_path / "img", layers, compression="zstd")
    image_error(written.ref, "size-limit-exceeded", "max_total_bytes", limits=Limits(max_total_bytes=6 << 20))


def test_bomb_within_the_limits_gives_a_tree(tmp_path):
    written = write_oci_layout(tmp_path / "img", [_bomb_layer(8)], compression="zstd")
    tree = image_tree(written.ref)
    assert paths(tree) == ["bomb"]
    assert tree.get("bomb").size == 8 << 20
    assert tree.get("bomb").sha256 == sha(b"\0" * (8 << 20))


def test_dup_flood_is_cheap_and_gives_one_entry():
    t = T()
    for i in range(50_000):
        t.add_file("same", b"")
    tree = apply_tars([t])
    assert paths(tree) == ["same"]


# == compression (R20) =========================================================================


def test_truncated_gzip_layer_is_a_decompress_error(tmp_path):
    layer = T().add_file("f", b"data" * 5000).finish()
    n = len(compress(layer, "gzip"))
    written = write_oci_layout(tmp_path / "img", [layer], compression="gzip", corrupt=Corrupt(truncate_blob={0: n // 2}))
    image_error(written.ref, "decompress-error")


def test_truncated_zstd_layer_is_a_decompress_error(tmp_path):
    layer = T().add_file("f", bytes(range(256)) * 400).finish()
    n = len(compress(layer, "zstd"))
    written = write_oci_layout(tmp_path / "img", [layer], compression="zstd", corrupt=Corrupt(truncate_blob={0: n // 2}))
    image_error(written.ref, "decompress-error")


def test_plain_tar_labelled_gzip_is_a_decompress_error(tmp_path):
    written = write_oci_layout(
        tmp_path / "img", [BASIC], compression="none",
        media_types=["application/vnd.oci.image.layer.v1.tar+gzip"],
    )
    image_error(written.ref, "decompress-error")


def test_zstd_labelled_gzip_is_a_decompress_error(tmp_path):
    written = write_oci_layout(
        tmp_path / "img", [BASIC], compression="zstd",
        media_types=["application/vnd.oci.image.layer.v1.tar+gzip"],
    )
    image_error(written.ref, "decompress-error")


def test_gzip_with_trailing_garbage_still_gives_a_tree(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC], compression="gzip",
                               corrupt=Corrupt(trailing_after_layer={0: b"\0\0\0garbage"}))
    tree = image_tree(written.ref)
    assert paths(tree) == ["bin", "etc", "etc/os-release"]


def test_corrupt_gzip_body_is_a_decompress_error(tmp_path):
    layer = T().add_file("f", bytes(range(256)) * 100).finish()
    blob = bytearray(compress(layer, "gzip"))
    blob[len(blob) // 2] ^= 0xFF
    written = write_oci_layout(tmp_path / "img", [layer], compression="gzip")
    # Describe the corrupted bytes correctly, so that only decompression can fail.
    _replace_layer_blob(written, 0, bytes(blob))
    image_error(written.ref, "decompress-error")


def _replace_layer_blob(written, index: int, blob: bytes) -> None:
    """Swap a layer blob for other bytes and fix every digest above it (manifest, index)."""
    import json

    root = written.path
    old = written.layer_digests[index]
    (root / "blobs" / "sha256" / old.split(":")[1]).unlink()
    new = "sha256:" + sha(blob)
    (root / "blobs" / "sha256" / new.split(":")[1]).write_bytes(blob)
    man_path = root / "blobs" / "sha256" / written.manifest_digest.split(":")[1]
    manifest = json.loads(man_path.read_bytes())
    manifest["layers"][index]["digest"] = new
    manifest["layers"][index]["size"] = len(blob)
    man_bytes = json.dumps(manifest, indent=1).encode() + b"\n"
    man_path.unlink()
    man_digest = "sha256:" + sha(man_bytes)
    (root / "blobs" / "sha256" / man_digest.split(":")[1]).write_bytes(man_bytes)
    index_json = json.loads((root / "index.json").read_text())
    index_json["manifests"][0]["digest"] = man_digest
    index_json["manifests"][0]["size"] = len(man_bytes)
    (root / "index.json").write_text(json.dumps(index_json))


# == integrity (R22) =============================================================================


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_valid_oci_layout_gives_the_tree(tmp_path, compression):
    written = write_oci_layout(tmp_path / "img", [BASIC, T().add_whiteout("bin").finish()], compression=compression)
    tree = image_tree(written.ref)
    assert paths(tree) == ["etc", "etc/os-release"]


def test_mixed_compression_layers_give_the_tree(tmp_path):
    layers = [BASIC, T().add_file("etc/extra", "z").finish(), T().add_file("plain", "p").finish()]
    written = write_oci_layout(tmp_path / "img", layers, compression=["gzip", "zstd", "none"])
    tree = image_tree(written.ref)
    assert paths(tree) == ["bin", "etc", "etc/extra", "etc/os-release", "plain"]
    assert tree.get("etc/extra").layer == 1
    assert tree.get("plain").layer == 2


def test_docker_media_types_in_an_oci_layout_give_the_tree(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC], docker_media_types=True)
    assert paths(image_tree(written.ref)) == ["bin", "etc", "etc/os-release"]


def test_empty_image_gives_an_empty_tree(tmp_path):
    written = write_oci_layout(tmp_path / "img", [])
    assert paths(image_tree(written.ref)) == []


def test_empty_layer_blobs_are_empty_changesets(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC, b"", T().finish()], compression=["gzip", "none", "gzip"])
    assert paths(image_tree(written.ref)) == ["bin", "etc", "etc/os-release"]


def test_valid_oci_archive_gives_the_tree(tmp_path):
    written = write_oci_archive(tmp_path / "img.tar", [BASIC])
    assert paths(image_tree(written.ref)) == ["bin", "etc", "etc/os-release"]


def test_valid_docker_archive_gives_the_tree(tmp_path):
    written = write_docker_archive(tmp_path / "img.tar", [BASIC, T().add_file("etc/more", "m").finish()])
    tree = image_tree(written.ref)
    assert paths(tree) == ["bin", "etc", "etc/more", "etc/os-release"]
    assert tree.get("etc/more").layer == 1


@pytest.mark.parametrize("writer", ["oci", "oci-archive"])
def test_evil_layer_digest_mismatch_is_detected(tmp_path, writer):
    fn = write_oci_layout if writer == "oci" else write_oci_archive
    dest = tmp_path / ("img" if writer == "oci" else "img.tar")
    written = fn(dest, [BASIC, BASIC], corrupt=Corrupt(layer_digest=1))
    image_error(written.ref, "digest-mismatch", written.layer_digests[1].split(":")[1])


@pytest.mark.parametrize("delta", [1, -1])
def test_evil_layer_size_mismatch_is_detected(tmp_path, delta):
    written = write_oci_layout(tmp_path / "img", [BASIC], corrupt=Corrupt(layer_size=0, size_delta=delta))
    image_error(written.ref, "size-mismatch", str(written.layer_sizes[0]))


def test_evil_diff_id_mismatch_is_detected(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC, BASIC], corrupt=Corrupt(diff_id=1))
    image_error(written.ref, "diffid-mismatch", written.diff_ids[1].split(":")[1])


@pytest.mark.parametrize("count", [1, -1])
def test_evil_diff_id_count_mismatch_is_detected(tmp_path, count):
    written = write_oci_layout(tmp_path / "img", [BASIC, BASIC], corrupt=Corrupt(diff_id_count=count))
    err = image_error(written.ref, "diffid-mismatch")
    assert "2" in err.message and ("1" in err.message or "3" in err.message)


def test_trailing_bytes_after_the_tar_end_change_the_diff_id(tmp_path):
    # invariant 14: the diff_id covers the whole uncompressed stream.
    layer = BASIC + b"appended after the end marker"
    written = write_oci_layout(tmp_path / "img", [layer], corrupt=Corrupt(diff_id_override={0: "sha256:" + sha(BASIC)}))
    image_error(written.ref, "diffid-mismatch", sha(BASIC))


def test_evil_manifest_bytes_mismatch_is_detected(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC], corrupt=Corrupt(manifest_bytes=True))
    image_error(written.ref, "digest-mismatch", written.manifest_digest.split(":")[1])


def test_evil_config_bytes_mismatch_is_detected(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC], corrupt=Corrupt(config_bytes=True))
    image_error(written.ref, "digest-mismatch", written.config_digest.split(":")[1])


def test_missing_layer_blob_is_reported(tmp_path):
    layers = [BASIC, T().add_file("second", "2").finish()]
    written = write_oci_layout(tmp_path / "img", layers, corrupt=Corrupt(missing_blob=1))
    image_error(written.ref, "blob-not-found", written.layer_digests[1].split(":")[1])


def test_missing_config_blob_is_reported(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC], corrupt=Corrupt(missing_config=True))
    image_error(written.ref, "blob-not-found", written.config_digest.split(":")[1])


def test_unknown_layer_media_type_is_not_parsed(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC], media_types=["application/vnd.example.unknown"])
    image_error(written.ref, "unsupported-media-type", "application/vnd.example.unknown")


def test_unknown_manifest_media_type_is_not_parsed(tmp_path):
    written = write_oci_layout(tmp_path / "img", [BASIC],
                               corrupt=Corrupt(manifest_media_type="application/vnd.example.manifest+json"))
    image_error(written.ref, "unsupported-media-type", "application/vnd.example.manifest+json")


NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
FOREIGN_URL = "http://127.0.0.1:9/never-fetched/layer.tar.gz"


def test_nondistributable_layer_with_urls_is_read_from_the_local_blob(tmp_path):
    # R21, CVE-2020-15157: `urls` are never fetched; the local blob is used.
    written = write_oci_layout(tmp_path / "img", [BASIC], media_types=[NONDIST], layer_urls={0: [FOREIGN_URL]})
    assert paths(image_tree(written.ref)) == ["bin", "etc", "etc/os-release"]


def test_missing_nondistributable_blob_is_not_fetched_from_its_urls(tmp_path):
    layers = [BASIC, T().add_file("foreign", "f").finish()]
    written = write_oci_layout(tmp_path / "img", layers, media_types=[None, NONDIST],
                               layer_urls={1: [FOREIGN_URL]}, corrupt=Corrupt(missing_blob=1))
    image_error(written.ref, "blob-not-found", written.layer_digests[1].split(":")[1])


def test_docker_archive_diff_id_mismatch_is_detected(tmp_path):
    written = write_docker_archive(tmp_path / "img.tar", [BASIC, BASIC], corrupt=Corrupt(diff_id=0))
    image_error(written.ref, "diffid-mismatch", written.diff_ids[0].split(":")[1])


def test_docker_archive_diff_id_count_mismatch_is_detected(tmp_path):
    written = write_docker_archive(tmp_path / "img.tar", [BASIC, BASIC], corrupt=Corrupt(diff_id_count=-1))
    image_error(written.ref, "diffid-mismatch")


def test_docker_archive_missing_layer_is_reported(tmp_path):
    layers = [BASIC, T().add_file("second", "2").finish()]
    written = write_docker_archive(tmp_path / "img.tar", layers, corrupt=Corrupt(missing_blob=1))
    image_error(written.ref, "blob-not-found", "layer.tar")


def test_docker_archive_config_not_matching_its_name_is_detected(tmp_path):
    written = write_docker_archive(tmp_path / "img.tar", [BASIC], corrupt=Corrupt(config_bytes=True))
    image_error(written.ref, "digest-mismatch", written.config_digest.split(":")[1])


def test_docker_archive_with_a_gzip_layer_gives_the_tree(tmp_path):
    written = write_docker_archive(tmp_path / "img.tar", [BASIC], compression="gzip")
    assert paths(image_tree(written.ref)) == ["bin", "etc", "etc/os-release"]


def test_integrity_failure_in_the_last_layer_yields_no_partial_tree(tmp_path):
    layers = [BASIC, T().add_file("late", "x").finish()]
    written = write_oci_layout(tmp_path / "img", layers, corrupt=Corrupt(diff_id=1))
    image_error(written.ref, "diffid-mismatch")


def test_gzip_module_reads_the_builder_output():
    # sanity check of the builder itself: gzip output is a standard member with mtime 0
    blob = compress(BASIC, "gzip")
    assert gzip.decompress(blob) == BASIC
    assert blob[4:8] == b"\0\0\0\0"


def test_a_sparse_terabyte_blob_is_refused_before_it_is_hashed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 20: a layer descriptor (and a sparse file) of 10^12 bytes was within max_blob_bytes
    # (1 TiB), so ls and verify hashed it for about ten minutes.
    import json
    import os
    import shutil
    import time
    from pathlib import Path

    from clirun import run_main

    root = tmp_path / "img"
    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "oci-busybox", root)
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    layer = manifest["layers"][0]
    os.truncate(root / "blobs/sha256" / layer["digest"].split(":")[1], 10**12)
    layer["size"] = 10**12
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs/sha256" / digest).write_bytes(data)
    index["manifests"][0].update(digest=f"sha256:{digest}", size=len(data))
    (root / "index.json").write_text(json.dumps(index))
    start = time.monotonic()
    code, out, err = run_main(capsys, "ls", str(root))
    assert code == 2 and "error[size-limit-exceeded]" in err and "max_blob_bytes" in err
    code, out, err = run_main(capsys, "verify", "-f", "json", str(root))
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "integrity-failed"
    assert [c["error"] for c in doc["checks"] if c["status"] == "fail"] == ["size-limit-exceeded"]
    assert time.monotonic() - start < 20


@pytest.mark.timeout(60)  # before max_tree_path_bytes this ran for minutes, building 2.5 GB of parent paths
def test_a_100kb_path_50000_levels_deep_with_raised_path_limits_is_refused_by_the_tree_budget(tmp_path):
    deep = write_oci_layout(tmp_path / "deep", [T().add_file("a/" * 50000 + "f", b"hi").finish()])
    image_error(deep.ref, "size-limit-exceeded", "max_tree_path_bytes",
                limits=Limits(max_path_bytes=200_000, max_path_depth=100_000))
    # The budget counts every path once, implied parents too: a, a/b and a/b/c are 9 bytes.
    small = write_oci_layout(tmp_path / "small", [T().add_file("a/b/c", b"x").finish()])
    assert len(list(build_tree(open_image(small.ref, limits=Limits(max_tree_path_bytes=9))).walk())) == 3
    image_error(small.ref, "size-limit-exceeded", "max_tree_path_bytes=8 ", limits=Limits(max_tree_path_bytes=8))


def test_an_error_naming_thousands_of_images_lists_a_dozen_and_counts_the_rest(tmp_path):
    # Issue 20: a manifest.json listing one image 5 001 times gave a 165 KB error line.
    import io
    import json
    import tarfile
    from pathlib import Path

    src = Path(__file__).resolve().parent.parent / "fixtures" / "docker-busybox.tar"
    out = tmp_path / "many.tar"
    with tarfile.open(src) as tin, tarfile.open(out, "w") as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read() if member.isfile() else None
            if member.name == "manifest.json":
                entry = json.loads(data)[0]
                data = json.dumps([{**entry, "RepoTags": [f"busybox:t{i}-" + "x" * 300]} for i in range(5001)]).encode()
                member.size = len(data)
            tout.addfile(member, io.BytesIO(data) if data is not None else None)
    err = image_error(str(out), "reference-error", "holds 5001 images", "… and 4989 more")
    assert len(err.message) < 2500, len(err.message)
