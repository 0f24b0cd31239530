"""Layer-changeset semantics of the union Tree, rule by rule (shared/specs/unionfs.md R1-R24).

Every case builds precise layers with tests/builders.py, applies them with
`index_tar_bytes` + `apply_layers`, and asserts either the exact resulting tree (every
visible path, and the attributes that the rule is about) or the error class and a
message fragment naming the culprit.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from builders import TarBuilder, apply_tars, sparse_expand
from inspectr.errors import InspectrError
from inspectr.limits import Limits

# -- expectation helpers ---------------------------------------------------------------


def sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def F(data: bytes | str = b"", **attrs: object) -> dict:
    """Expect a regular file with exactly this content."""
    if isinstance(data, str):
        data = data.encode()
    return {"kind": "file", "sha256": sha(data), "size": len(data), **attrs}


def D(**attrs: object) -> dict:
    return {"kind": "dir", **attrs}


def L(target: str, **attrs: object) -> dict:
    return {"kind": "symlink", "linkname": target, **attrs}


def C(major: int, minor: int, **attrs: object) -> dict:
    return {"kind": "char", "devmajor": major, "devminor": minor, **attrs}


def B(major: int, minor: int, **attrs: object) -> dict:
    return {"kind": "block", "devmajor": major, "devminor": minor, **attrs}


def P(**attrs: object) -> dict:
    return {"kind": "fifo", **attrs}


IMPLIED = {"kind": "dir", "implied": True, "mode": 0o755, "uid": 0, "gid": 0}


def attr(node: object, name: str) -> object:
    if name == "kind":
        return node.kind.value  # type: ignore[attr-defined]
    return getattr(node, name)


def check_tree(tree: object, expected: dict[str, dict]) -> None:
    """The visible paths are exactly `expected`, and each listed attribute matches."""
    paths = [n.path for n in tree.walk()]  # type: ignore[attr-defined]
    assert paths == sorted(expected), f"paths {paths} != {sorted(expected)}"
    for path, want in expected.items():
        node = tree.get(path)  # type: ignore[attr-defined]
        assert node is not None, path
        assert node.path == path
        for name, value in want.items():
            got = attr(node, name)
            assert got == value, f"{path}: {name} = {got!r}, expected {value!r}"


def tree_of(*layers: TarBuilder | bytes, strict: bool = False, limits: Limits | None = None):
    return apply_tars(list(layers), strict=strict, limits=limits)


def expect_error(layers: list[TarBuilder | bytes], error_class: str, fragment: str, *,
                 strict: bool = False, limits: Limits | None = None) -> InspectrError:
    with pytest.raises(InspectrError) as info:
        apply_tars(layers, strict=strict, limits=limits)
    err = info.value
    assert err.error_class == error_class, f"{err.error_class}: {err.message}"
    assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
    return err


def T() -> TarBuilder:
    return TarBuilder()


def deleted(tree: object) -> dict[str, tuple[int, int, str]]:
    """path -> (layer that had it, layer that removed it, reason), last record per path."""
    out = {}
    for rec in tree.deleted:  # type: ignore[attr-defined]
        out[rec.path] = (rec.node.layer, rec.layer, rec.reason)
    return out


def warning_codes(tree: object) -> list[tuple[str, str, int | None]]:
    return [(w.code, w.path, w.layer) for w in tree.warnings]  # type: ignore[attr-defined]


# == R1: stack order and the empty start ===================================================


def test_zero_layers_give_an_empty_root():
    tree = apply_tars([])
    assert list(tree.walk()) == []


def test_basic_layer_lists_every_entry_with_its_attributes():
    tree = tree_of(
        T().add_dir("bin", mode=0o755).add_file("bin/sh", "#!sh", mode=0o755, uid=0, gid=0)
        .add_dir("etc").add_file("etc/passwd", "root:x:0:0", mode=0o644)
        .add_symlink("bin/bash", "sh")
    )
    check_tree(tree, {
        "bin": D(mode=0o755, implied=False, layer=0),
        "bin/bash": L("sh", layer=0),
        "bin/sh": F("#!sh", mode=0o755, layer=0),
        "etc": D(implied=False),
        "etc/passwd": F("root:x:0:0", mode=0o644, uid=0, gid=0),
    })


def test_layers_apply_in_manifest_order_so_the_last_layer_wins():
    tree = tree_of(T().add_file("a", "v0"), T().add_file("a", "v1"), T().add_file("a", "v2"))
    check_tree(tree, {"a": F("v2", layer=2)})


def test_lower_layer_entries_keep_their_layer_index():
    tree = tree_of(T().add_file("a", "A"), T().add_file("b", "B"), T().add_file("c", "C"))
    check_tree(tree, {"a": F("A", layer=0), "b": F("B", layer=1), "c": F("C", layer=2)})


def test_zero_byte_layer_blob_is_an_empty_changeset():
    tree = tree_of(T().add_file("a", "x"), b"", T().add_file("b", "y"))
    check_tree(tree, {"a": F("x", layer=0), "b": F("y", layer=2)})


def test_layer_of_only_end_marker_is_an_empty_changeset():
    tree = tree_of(T().add_file("a", "x"), T().finish())
    check_tree(tree, {"a": F("x", layer=0)})


# == R2: entry-name normalisation =========================================================


@pytest.mark.parametrize(
    "raw, path",
    [
        ("./a/./b//c", "a/b/c"),
        ("/abs/file", "abs/file"),
        ("//double/lead", "double/lead"),
        ("nested/sub/../file", "nested/file"),
        ("x/y/../../z", "z"),
    ],
)
def test_entry_names_are_cleaned_lexically(raw, path):
    tree = tree_of(T().add_file(raw, "data"))
    expected = {path: F("data")}
    parts = path.split("/")
    for i in range(1, len(parts)):
        expected["/".join(parts[:i])] = dict(IMPLIED)
    check_tree(tree, expected)


def test_dotdot_through_a_symlink_is_resolved_lexically_not_through_the_link():
    # symlink-dotdot-lexical: nested/sub/../file is nested/file even when sub is a symlink.
    tree = tree_of(
        T().add_dir("nested").add_dir("real").add_dir("real/deep").add_symlink("nested/sub", "/real/deep"),
        T().add_file("nested/sub/../file", "lexical"),
    )
    check_tree(tree, {
        "nested": D(), "nested/file": F("lexical", layer=1), "nested/sub": L("/real/deep"),
        "real": D(), "real/deep": D(),
    })


@pytest.mark.parametrize("raw", ["../evil", "a/../../evil", "./../x", "a/b/../../../c", ".."])
def test_names_climbing_above_the_root_are_rejected(raw):
    expect_error([T().add_file("ok", "fine").add_file(raw, "pwn")], "path-escape-rejected", raw)


def test_non_utf8_names_are_kept_as_a_tree():
    tree = tree_of(T().add_file(b"caf\xe9", "bytes"))
    nodes = list(tree.walk())
    assert len(nodes) == 1
    assert os.fsencode(nodes[0].path) == b"caf\xe9"
    assert nodes[0].sha256 == sha("bytes")


def test_windows_style_dotdot_is_a_literal_file_name():
    tree = tree_of(T().add_file("..\\..\\x", "w"))
    check_tree(tree, {"..\\..\\x": F("w")})


# == R3: duplicate paths in one layer =======================================================


def test_duplicate_entry_last_occurrence_wins_with_a_warning():
    tree = tree_of(T().add_file("a", "first").add_file("b", "b").add_file("a", "second"))
    check_tree(tree, {"a": F("second"), "b": F("b")})
    assert ("duplicate-entry", "a", 0) in warning_codes(tree)


def test_duplicate_entry_is_an_error_in_strict_mode():
    expect_error([T().add_file("dup-name", "1").add_file("dup-name", "2")], "duplicate-entry",
                 "dup-name", strict=True)


def test_duplicates_are_detected_after_normalisation():
    tree = tree_of(T().add_file("a/f", "1").add_file("./a//f", "2"))
    check_tree(tree, {"a": dict(IMPLIED), "a/f": F("2")})
    assert ("duplicate-entry", "a/f", 0) in warning_codes(tree)


def test_duplicate_directory_entries_keep_the_last_attributes():
    tree = tree_of(T().add_dir("d", mode=0o700, uid=1).add_file("d/x", "x").add_dir("d", mode=0o750, uid=2))
    check_tree(tree, {"d": D(mode=0o750, uid=2), "d/x": F("x")})


def test_same_path_in_different_layers_is_no_duplicate_warning():
    tree = tree_of(T().add_file("a", "1"), T().add_file("a", "2"))
    check_tree(tree, {"a": F("2", layer=1)})
    assert [w for w in warning_codes(tree) if w[0] == "duplicate-entry"] == []


def test_duplicate_flood_costs_one_entry():
    t = T()
    for i in range(20000):
        t.add_file("flood", b"%d" % i)
    tree = tree_of(t)
    check_tree(tree, {"flood": F(b"19999")})


# == R4: entry over an existing path ========================================================

KIND_BUILDERS = {
    "file": lambda t, name: t.add_file(name, "upper-content", mode=0o640),
    "dir": lambda t, name: t.add_dir(name, mode=0o711),
    "symlink": lambda t, name: t.add_symlink(name, "somewhere"),
    "char": lambda t, name: t.add_char(name, 1, 5),
    "block": lambda t, name: t.add_block(name, 7, 2),
    "fifo": lambda t, name: t.add_fifo(name, mode=0o600),
}
KIND_EXPECT = {
    "file": F("upper-content", mode=0o640),
    "dir": D(mode=0o711),
    "symlink": L("somewhere"),
    "char": C(1, 5),
    "block": B(7, 2),
    "fifo": P(mode=0o600),
}


@pytest.mark.parametrize("upper", sorted(KIND_BUILDERS))
@pytest.mark.parametrize("lower", sorted(KIND_BUILDERS))
def test_upper_entry_replaces_lower_entry_of_any_kind(lower, upper):
    lower_t = T()
    KIND_BUILDERS[lower](lower_t, "p")
    lower_t.add_file("other", "o")
    upper_t = T()
    KIND_BUILDERS[upper](upper_t, "p")
    tree = tree_of(lower_t, upper_t)
    check_tree(tree, {"p": dict(KIND_EXPECT[upper], layer=1), "other": F("o", layer=0)})
    if not (lower == "dir" and upper == "dir"):
        assert deleted(tree)["p"] == (0, 1, "replaced")


def test_file_replacing_a_directory_drops_the_whole_subtree():
    tree = tree_of(
        T().add_dir("d").add_file("d/x", "x").add_dir("d/y").add_file("d/y/z", "z").add_file("keep", "k"),
        T().add_file("d", "now a file"),
    )
    check_tree(tree, {"d": F("now a file", layer=1), "keep": F("k")})
    gone = deleted(tree)
    assert gone["d"] == (0, 1, "replaced")


def test_directory_replacing_a_file_accepts_children():
    tree = tree_of(T().add_file("f", "file"), T().add_dir("f", mode=0o700).add_file("f/x", "child"))
    check_tree(tree, {"f": D(mode=0o700, layer=1), "f/x": F("child", layer=1)})
    assert deleted(tree)["f"] == (0, 1, "replaced")


def test_directory_over_directory_replaces_attributes_and_keeps_children():
    tree = tree_of(
        T().add_dir("d", mode=0o755, uid=0, gid=0).add_file("d/x", "x"),
        T().add_dir("d", mode=0o700, uid=1000, gid=1001, mtime=12345),
    )
    check_tree(tree, {
        "d": D(mode=0o700, uid=1000, gid=1001, layer=1, implied=False, mtime_ns=12345 * 10**9),
        "d/x": F("x", layer=0),
    })
    assert "d" not in deleted(tree)


def test_file_entry_replaces_a_symlink_and_never_writes_through_it():
    tree = tree_of(
        T().add_file("target", "original").add_symlink("l", "target"),
        T().add_file("l", "replacement"),
    )
    check_tree(tree, {"l": F("replacement", layer=1), "target": F("original", layer=0)})


def test_directory_entry_replaces_a_symlink_to_a_directory():
    tree = tree_of(
        T().add_dir("real").add_file("real/x", "x").add_symlink("l", "real"),
        T().add_dir("l").add_file("l/y", "y"),
    )
    check_tree(tree, {
        "l": D(layer=1), "l/y": F("y", layer=1), "real": D(layer=0), "real/x": F("x", layer=0),
    })


def test_symlink_replacing_a_directory_drops_its_subtree():
    tree = tree_of(T().add_dir("d").add_file("d/x", "x").add_dir("e"), T().add_symlink("d", "e"))
    check_tree(tree, {"d": L("e", layer=1), "e": D(layer=0)})


# == R5: whiteout recognition ===============================================================


def test_whiteout_removes_the_named_sibling_and_is_not_shown():
    tree = tree_of(T().add_file("a", "a").add_file("b", "b"), T().add_whiteout("a"))
    check_tree(tree, {"b": F("b", layer=0)})
    assert deleted(tree)["a"] == (0, 1, "whiteout")


def test_whiteout_of_a_directory_removes_all_descendants():
    tree = tree_of(
        T().add_dir("d").add_file("d/x", "x").add_dir("d/y").add_file("d/y/z", "z").add_file("dz", "keep"),
        T().add_whiteout("d"),
    )
    check_tree(tree, {"dz": F("keep")})
    assert deleted(tree)["d"] == (0, 1, "whiteout")


def test_whiteout_in_a_subdirectory_only_touches_that_directory():
    tree = tree_of(
        T().add_dir("a").add_file("a/x", "ax").add_dir("b").add_file("b/x", "bx"),
        T().add_whiteout("a/x"),
    )
    check_tree(tree, {"a": D(layer=0), "b": D(), "b/x": F("bx")})


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda t: t.add_whiteout("victim", data=b"not empty"), id="non-empty-file"),
        pytest.param(lambda t: t.add_whiteout("victim", typeflag=b"5"), id="directory"),
        pytest.param(lambda t: t.add_whiteout("victim", typeflag=b"2", linkname="x"), id="symlink"),
        pytest.param(lambda t: t.add_whiteout("victim", typeflag=b"\0"), id="nul-typeflag"),
        pytest.param(lambda t: t.add_whiteout("victim", mode=0o000, uid=99), id="odd-metadata"),
    ],
)
def test_whiteout_entry_type_and_content_are_irrelevant(make):
    upper = T()
    make(upper)
    tree = tree_of(T().add_dir("victim").add_file("victim/f", "f").add_file("other", "o"), upper)
    check_tree(tree, {"other": F("o")})
    assert deleted(tree)["victim"] == (0, 1, "whiteout")


def test_whiteout_records_provenance_across_layers():
    # "present in layer 0, deleted in layer 2"
    tree = tree_of(T().add_file("a", "a"), T().add_file("b", "b"), T().add_whiteout("a"))
    check_tree(tree, {"b": F("b", layer=1)})
    rec = [r for r in tree.deleted if r.path == "a"]
    assert len(rec) == 1
    assert rec[0].node.layer == 0
    assert rec[0].layer == 2
    assert rec[0].reason == "whiteout"
    assert rec[0].node.sha256 == sha("a")


def test_whiteout_of_a_symlink_removes_the_link_not_its_target():
    tree = tree_of(T().add_dir("d").add_file("d/x", "x").add_symlink("l", "d"), T().add_whiteout("l"))
    check_tree(tree, {"d": D(), "d/x": F("x")})


def test_whiteout_only_hides_until_a_later_layer_recreates_the_path():
    tree = tree_of(T().add_file("a", "v0"), T().add_whiteout("a"), T().add_file("a", "v2"))
    check_tree(tree, {"a": F("v2", layer=2)})
    assert deleted(tree)["a"] == (0, 1, "whiteout")


def test_whiteout_of_a_hardlink_member_spares_the_other_names():
    tree = tree_of(T().add_file("a", "shared").add_hardlink("b", "a"), T().add_whiteout("a"))
    check_tree(tree, {"b": F("shared", layer=0)})


# == R6: whiteouts only hide lower layers ===================================================


def test_spec_whiteout_example_removes_a_lower_directory():
    tree = tree_of(
        T().add_dir("etc").add_dir("etc/my-app.d").add_file("etc/my-app.d/default.cfg", "cfg")
        .add_dir("bin").add_file("bin/my-app-tools", "tools").add_file("etc/my-app-config", "conf"),
        T().add_dir("etc").add_whiteout("etc/my-app.d"),
    )
    check_tree(tree, {
        "bin": D(layer=0), "bin/my-app-tools": F("tools"), "etc": D(layer=1),
        "etc/my-app-config": F("conf", layer=0),
    })


def test_whiteout_after_a_same_layer_entry_does_not_hide_it():
    tree = tree_of(T().add_file("foo", "old"), T().add_file("foo", "new").add_whiteout("foo"))
    check_tree(tree, {"foo": F("new", layer=1)})


def test_whiteout_before_a_same_layer_entry_does_not_hide_it():
    tree = tree_of(T().add_file("foo", "old"), T().add_whiteout("foo").add_file("foo", "new"))
    check_tree(tree, {"foo": F("new", layer=1)})


def test_whiteout_of_an_entry_only_in_the_same_layer_changes_nothing():
    tree = tree_of(T().add_file("other", "o"), T().add_file("foo", "new").add_whiteout("foo"))
    check_tree(tree, {"foo": F("new", layer=1), "other": F("o", layer=0)})


def test_whiteout_after_a_same_layer_directory_keeps_the_new_directory_only():
    # whiteout-same-layer-after-dir: the stream-order appliers fail this layer.
    tree = tree_of(
        T().add_dir("newdir", mode=0o755).add_file("newdir/old", "lower"),
        T().add_dir("newdir", mode=0o700).add_file("newdir/f", "upper").add_whiteout("newdir"),
    )
    check_tree(tree, {"newdir": D(mode=0o700, layer=1), "newdir/f": F("upper", layer=1)})


def test_whiteout_before_a_same_layer_directory_keeps_the_new_directory_only():
    tree = tree_of(
        T().add_dir("newdir").add_file("newdir/old", "lower"),
        T().add_whiteout("newdir").add_dir("newdir", mode=0o700).add_file("newdir/f", "upper"),
    )
    check_tree(tree, {"newdir": D(mode=0o700, layer=1), "newdir/f": F("upper", layer=1)})


def test_whiteout_of_a_lower_directory_keeps_what_the_same_layer_writes_inside():
    # The upper set includes ancestors of this layer's entries: newdir/f survives and
    # the lower child is gone, whatever the order. (The attributes of `newdir` itself are
    # not pinned down by the spec when the layer has no entry for it, so not asserted.)
    for order in ("before", "after"):
        upper = T()
        if order == "before":
            upper.add_whiteout("newdir").add_file("newdir/f", "upper")
        else:
            upper.add_file("newdir/f", "upper").add_whiteout("newdir")
        tree = tree_of(T().add_dir("newdir").add_file("newdir/old", "lower"), upper)
        paths = [n.path for n in tree.walk()]
        assert paths == ["newdir", "newdir/f"], order
        assert tree.get("newdir").kind.value == "dir"
        assert tree.get("newdir/f").sha256 == sha("upper")


def test_opaque_marker_in_the_same_layer_never_hides_that_layers_entries():
    tree = tree_of(
        T().add_dir("d").add_file("d/old", "old"),
        T().add_dir("d").add_file("d/new", "new").add_opaque("d"),
    )
    check_tree(tree, {"d": D(layer=1), "d/new": F("new", layer=1)})


def _both_orders(lower: TarBuilder, whiteouts: list[str]):
    results = []
    for order in (whiteouts, list(reversed(whiteouts))):
        upper = T()
        for name in order:
            upper.add_file(name)
        try:
            tree = tree_of(lower, upper)
            results.append(("tree", {n.path: (n.kind.value, n.sha256, n.linkname) for n in tree.walk()}))
        except InspectrError as err:
            results.append(("error", err.error_class))
    return results


def test_whiteouts_under_a_lower_symlink_do_not_depend_on_their_order():
    # R6/R7 + invariant 12: a layer's whiteouts apply to the lower state, so removing the
    # symlink `b` in the same layer cannot decide whether `b/.wh.a` (= a/a) applies.
    lower = T().add_symlink("b", "a").add_file("a/a", "content")
    first, second = _both_orders(lower, [".wh.b", "b/.wh.a"])
    assert first == second


def test_whiteouts_under_a_lower_symlink_loop_do_not_depend_on_their_order():
    lower = T().add_symlink("b", "b")
    first, second = _both_orders(lower, [".wh.b", "b/.wh.a"])
    assert first == second


def test_whiteouts_hide_entries_only_in_subsequent_layers():
    tree = tree_of(
        T().add_file("foo", "old"),
        T().add_file("foo", "mid").add_whiteout("foo"),
        T().add_whiteout("foo"),
    )
    check_tree(tree, {})
    assert deleted(tree)["foo"] == (1, 2, "whiteout")


# == R7: opaque whiteouts ===================================================================


def _opaque_base() -> TarBuilder:
    return T().add_dir("a").add_dir("a/b").add_dir("a/b/c").add_file("a/b/c/bar", "bar")


def test_spec_opaque_example_hides_lower_children():
    tree = tree_of(
        _opaque_base(),
        T().add_dir("a").add_opaque("a").add_dir("a/b").add_dir("a/b/c").add_file("a/b/c/foo", "foo"),
    )
    check_tree(tree, {
        "a": D(layer=1), "a/b": D(layer=1), "a/b/c": D(layer=1), "a/b/c/foo": F("foo", layer=1),
    })


def test_opaque_marker_last_in_the_layer_has_the_same_effect():
    tree = tree_of(
        _opaque_base(),
        T().add_dir("a").add_dir("a/b").add_dir("a/b/c").add_file("a/b/c/foo", "foo").add_opaque("a"),
    )
    check_tree(tree, {
        "a": D(layer=1), "a/b": D(layer=1), "a/b/c": D(layer=1), "a/b/c/foo": F("foo", layer=1),
    })


def test_opaque_marker_keeps_the_directory_itself():
    tree = tree_of(T().add_dir("d", mode=0o751, uid=7).add_file("d/x", "x").add_dir("d/y"), T().add_opaque("d"))
    check_tree(tree, {"d": D(mode=0o751, uid=7, layer=0)})


def test_opaque_marker_hides_lower_children_recursively_and_records_them():
    tree = tree_of(
        T().add_dir("d").add_file("d/x", "x").add_dir("d/y").add_file("d/y/z", "z"),
        T().add_opaque("d"),
    )
    check_tree(tree, {"d": D(layer=0)})
    gone = deleted(tree)
    assert gone["d/x"] == (0, 1, "opaque")
    assert gone["d/y"] == (0, 1, "opaque")


def test_opaque_marker_leaves_siblings_of_the_directory_alone():
    tree = tree_of(
        T().add_dir("d").add_file("d/x", "x").add_dir("e").add_file("e/x", "ex").add_file("dx", "dx"),
        T().add_opaque("d"),
    )
    check_tree(tree, {"d": D(), "dx": F("dx"), "e": D(), "e/x": F("ex")})


def test_opaque_marker_at_the_top_level_hides_the_whole_lower_image():
    tree = tree_of(
        T().add_file("a", "a").add_dir("b").add_file("b/c", "c"),
        T().add_opaque("").add_file("new", "n"),
    )
    check_tree(tree, {"new": F("n", layer=1)})
    gone = deleted(tree)
    assert gone["a"] == (0, 1, "opaque")
    assert gone["b"] == (0, 1, "opaque")


def test_opaque_marker_in_a_missing_directory_creates_nothing():
    tree = tree_of(T().add_file("a", "a"), T().add_opaque("ghost"))
    check_tree(tree, {"a": F("a")})


def test_opaque_marker_only_hides_layers_below_it():
    tree = tree_of(
        T().add_dir("d").add_file("d/l0", "0"),
        T().add_opaque("d").add_file("d/l1", "1"),
        T().add_file("d/l2", "2"),
    )
    check_tree(tree, {"d": D(layer=0), "d/l1": F("1", layer=1), "d/l2": F("2", layer=2)})


# == R8: whiteout of something that does not exist ============================================


def test_whiteout_of_a_missing_path_is_a_no_op():
    tree = tree_of(T().add_file("a", "a"), T().add_whiteout("ghost"))
    check_tree(tree, {"a": F("a")})
    assert tree.deleted == []


def test_whiteout_never_creates_its_missing_parent_directories():
    tree = tree_of(T().add_file("a", "a"), T().add_whiteout("no/such/dir/x"))
    check_tree(tree, {"a": F("a")})


def test_whiteout_alone_in_the_first_layer_creates_nothing():
    tree = tree_of(T().add_whiteout("etc/x").add_opaque("var"))
    check_tree(tree, {})


# == R9: invalid and legacy whiteout names =================================================


@pytest.mark.parametrize("name", [".wh.", "etc/.wh.", ".wh..", "etc/.wh..", ".wh...", "a/b/.wh..."])
def test_whiteout_naming_no_sibling_is_invalid(name):
    lower = T().add_dir("etc").add_file("etc/x", "x").add_dir("a").add_dir("a/b")
    expect_error([lower, T().add_file(name)], "invalid-whiteout", name)


def test_wh_prefixed_directory_is_shown_literally_and_flagged():
    tree = tree_of(T().add_dir(".wh.d").add_file(".wh.d/file", "literal"))
    check_tree(tree, {".wh.d": D(), ".wh.d/file": F("literal")})
    assert any(w.path.startswith(".wh.d") for w in tree.warnings)


def test_wh_prefixed_parent_is_created_literally_even_when_implied():
    tree = tree_of(T().add_file("x/.wh.d/file", "literal"))
    check_tree(tree, {"x": dict(IMPLIED), "x/.wh.d": dict(IMPLIED), "x/.wh.d/file": F("literal")})


def test_overlay_char_device_whiteout_is_data_not_a_whiteout():
    tree = tree_of(T().add_file("gone", "lower").add_file("kept", "k"), T().add_char("gone", 0, 0))
    check_tree(tree, {"gone": C(0, 0, layer=1), "kept": F("k")})
    assert deleted(tree)["gone"] == (0, 1, "replaced")


def test_overlay_opaque_xattr_is_data_not_an_opaque_whiteout():
    tree = tree_of(
        T().add_dir("d").add_file("d/x", "x"),
        T().add_dir("d", xattrs={"trusted.overlay.opaque": b"y"}),
    )
    check_tree(tree, {"d": D(layer=1, xattrs={"trusted.overlay.opaque": b"y"}), "d/x": F("x", layer=0)})


# == R10: metadata that defines an entry ====================================================


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o1777, 0o6711, 0o7777, 0o000, 0o600])
def test_permission_bits_include_setuid_setgid_and_sticky(mode):
    tree = tree_of(T().add_file("f", "x", mode=mode).add_dir("d", mode=mode))
    check_tree(tree, {"f": F("x", mode=mode), "d": D(mode=mode)})


def test_file_type_bits_in_the_mode_field_are_not_permission_bits():
    tree = tree_of(T().add_file("f", "x", mode=0o100644).add_dir("d", mode=0o40755))
    check_tree(tree, {"f": F("x", mode=0o644), "d": D(mode=0o755)})


def test_numeric_ids_are_used_and_names_ignored():
    tree = tree_of(T().add_file("f", "x", uid=1234, gid=5678, uname="root", gname="root"))
    check_tree(tree, {"f": F("x", uid=1234, gid=5678)})


def test_mtime_is_reported_in_nanoseconds():
    tree = tree_of(T().add_file("f", "x", mtime=1_700_000_000))
    check_tree(tree, {"f": F("x", mtime_ns=1_700_000_000 * 10**9)})


def test_device_numbers_are_kept():
    tree = tree_of(T().add_char("dev/null", 1, 3).add_block("dev/sda1", 8, 1).add_fifo("dev/fifo"))
    check_tree(tree, {
        "dev": dict(IMPLIED), "dev/fifo": P(), "dev/null": C(1, 3), "dev/sda1": B(8, 1),
    })


def test_empty_file_has_the_empty_sha256():
    tree = tree_of(T().add_file("empty"))
    check_tree(tree, {"empty": F(b"", size=0)})


# == R11: hardlinks =========================================================================


def test_hardlink_shares_the_inode_of_its_target():
    tree = tree_of(T().add_file("a", "content", mode=0o755).add_hardlink("b", "a", mode=0o755))
    check_tree(tree, {"a": F("content", mode=0o755), "b": F("content", mode=0o755)})
    assert tree.get("a").inode_id == tree.get("b").inode_id


def test_distinct_files_have_distinct_inodes():
    tree = tree_of(T().add_file("a", "same").add_file("b", "same"))
    assert tree.get("a").inode_id != tree.get("b").inode_id


def test_hardlink_chain_is_one_inode():
    tree = tree_of(T().add_file("a", "x").add_hardlink("b", "a").add_hardlink("c", "b"))
    check_tree(tree, {"a": F("x"), "b": F("x"), "c": F("x")})
    assert len({tree.get(p).inode_id for p in "abc"}) == 1


def test_hardlink_to_a_lower_layer_file():
    tree = tree_of(T().add_file("a", "x"), T().add_hardlink("b", "a"))
    check_tree(tree, {"a": F("x", layer=0), "b": F("x", layer=1)})
    assert tree.get("a").inode_id == tree.get("b").inode_id


def test_hardlink_survives_replacement_of_its_target():
    # hardlink-lifecycle (a): unlink+recreate of the target does not change the link.
    tree = tree_of(T().add_file("a", "old").add_hardlink("b", "a"), T().add_file("a", "new"))
    check_tree(tree, {"a": F("new", layer=1), "b": F("old", layer=0)})
    assert tree.get("a").inode_id != tree.get("b").inode_id


def test_hardlink_survives_whiteout_of_its_target():
    # hardlink-lifecycle (b)
    tree = tree_of(T().add_file("a", "old").add_hardlink("b", "a"), T().add_whiteout("a"))
    check_tree(tree, {"b": F("old", layer=0)})
    assert deleted(tree)["a"] == (0, 1, "whiteout")


def test_hardlink_before_a_same_layer_redefinition_binds_to_the_old_inode():
    # hardlink-lifecycle (c), test idea hardlink-before-target
    tree = tree_of(T().add_file("a", "old"), T().add_hardlink("b", "a").add_file("a", "new"))
    check_tree(tree, {"a": F("new", layer=1), "b": F("old", layer=1)})
    assert tree.get("a").inode_id != tree.get("b").inode_id


def test_hardlink_to_a_missing_target_is_invalid():
    # hardlink-lifecycle (d)
    expect_error([T().add_file("a", "x").add_hardlink("b", "nosuchtarget")], "invalid-hardlink", "nosuchtarget")


def test_hardlink_to_a_target_defined_later_in_the_layer_is_invalid():
    expect_error([T().add_hardlink("b", "latertarget").add_file("latertarget", "x")], "invalid-hardlink",
                 "latertarget")


def test_hardlink_to_a_directory_is_invalid():
    expect_error([T().add_dir("somedir").add_hardlink("b", "somedir")], "invalid-hardlink", "somedir")


def test_hardlink_to_a_whited_out_lower_file_is_invalid():
    expect_error([T().add_file("wiped", "x"), T().add_whiteout("wiped"), T().add_hardlink("b", "wiped")],
                 "invalid-hardlink", "wiped")


@pytest.mark.parametrize("target", ["../../etc/passwd", "a/../../outside", "../a"])
def test_hardlink_target_escaping_the_root_is_rejected(target):
    # hardlink-lifecycle (e), test idea hardlink-escape
    expect_error([T().add_file("a", "x").add_hardlink("b", target)], "path-escape-rejected", target)


def test_hardlink_with_an_absolute_target_is_root_relative():
    tree = tree_of(T().add_dir("bin").add_file("bin/busybox", "bb").add_hardlink("bin/sh", "/bin/busybox"))
    check_tree(tree, {"bin": D(), "bin/busybox": F("bb"), "bin/sh": F("bb")})
    assert tree.get("bin/sh").inode_id == tree.get("bin/busybox").inode_id


def test_hardlink_header_metadata_is_applied_to_the_shared_inode_and_flagged():
    # hardlink-metadata: a later layer adds setuid to a lower binary without re-shipping it.
    tree = tree_of(
        T().add_dir("bin").add_file("bin/su", "su-binary", mode=0o755, uid=0, gid=0),
        T().add_hardlink("bin/su2", "bin/su", mode=0o4755, uid=0, gid=0),
    )
    check_tree(tree, {
        "bin": D(), "bin/su": F("su-binary", mode=0o4755, layer=0), "bin/su2": F("su-binary", mode=0o4755, layer=1),
    })
    assert any(w.layer == 1 and w.path in ("bin/su2", "bin/su") for w in tree.warnings)


def test_hardlink_header_ownership_is_applied_to_the_shared_inode():
    tree = tree_of(T().add_file("a", "x", uid=1, gid=1).add_hardlink("b", "a", uid=42, gid=43))
    check_tree(tree, {"a": F("x", uid=42, gid=43), "b": F("x", uid=42, gid=43)})


def test_hardlink_with_matching_metadata_is_not_flagged():
    tree = tree_of(T().add_file("a", "x", mode=0o755, uid=3, gid=4).add_hardlink("b", "a", mode=0o755, uid=3, gid=4))
    check_tree(tree, {"a": F("x", mode=0o755), "b": F("x", mode=0o755)})
    assert tree.warnings == []


def test_hardlink_to_a_symlink_is_a_second_name_for_the_symlink():
    # hardlink-to-symlink (CVE-2021-32760): the link is the symlink, never its target.
    tree = tree_of(
        T().add_file("secret", "host", mode=0o600).add_symlink("s", "secret").add_hardlink("h", "s", mode=0o777),
    )
    check_tree(tree, {"h": L("secret"), "s": L("secret"), "secret": F("host", mode=0o600)})
    assert tree.get("h").inode_id == tree.get("s").inode_id


def test_hardlink_to_a_symlink_applies_header_ownership_but_never_mode():
    # R11: the runtimes lchown the shared inode (a symlink here) and skip chmod for
    # symlinks (the CVE-2021-32760 fix), so the owner changes and the mode does not.
    tree = tree_of(
        T().add_file("f", "x").add_symlink("s", "f", uid=0, gid=0),
        T().add_hardlink("h", "s", uid=5, gid=6, mode=0o777),
    )
    check_tree(tree, {"f": F("x", uid=0, gid=0, mode=0o644), "h": L("f", uid=5, gid=6, layer=1),
                      "s": L("f", uid=5, gid=6, layer=0)})


def test_hardlink_target_parents_resolve_through_symlinks():
    tree = tree_of(
        T().add_dir("real").add_file("real/f", "via-link").add_symlink("l", "real"),
        T().add_hardlink("h", "l/f"),
    )
    check_tree(tree, {"h": F("via-link", layer=1), "l": L("real"), "real": D(), "real/f": F("via-link")})
    assert tree.get("h").inode_id == tree.get("real/f").inode_id


def test_hardlink_to_a_device_shares_the_device():
    tree = tree_of(T().add_char("null", 1, 3).add_hardlink("null2", "null", mode=0o666))
    check_tree(tree, {"null": C(1, 3), "null2": C(1, 3)})


def test_hardlink_member_replaced_leaves_the_group_intact():
    tree = tree_of(
        T().add_file("a", "shared").add_hardlink("b", "a").add_hardlink("c", "a"),
        T().add_file("b", "private"),
    )
    check_tree(tree, {"a": F("shared"), "b": F("private", layer=1), "c": F("shared")})
    assert tree.get("a").inode_id == tree.get("c").inode_id != tree.get("b").inode_id


# == R12: symlinks and path resolution =======================================================


@pytest.mark.parametrize(
    "target",
    ["/abs/target", "relative", "../up/../and/down", "dangling/nowhere", "self", ".", "/", "a//b/./c",
     "../../../../../../etc/shadow"],
)
def test_symlink_targets_are_stored_verbatim(target):
    tree = tree_of(T().add_symlink("self", target))
    check_tree(tree, {"self": L(target)})


def test_entry_under_a_symlinked_parent_is_created_in_the_target_directory():
    # symlink-parent-inside
    tree = tree_of(T().add_dir("realdir").add_symlink("link", "realdir"), T().add_file("link/file", "in"))
    check_tree(tree, {"link": L("realdir"), "realdir": D(), "realdir/file": F("in", layer=1)})
    assert tree.get("link/file") is None


def test_symlinked_parent_in_the_same_layer_is_resolved():
    tree = tree_of(T().add_dir("realdir").add_symlink("link", "realdir").add_file("link/file", "in"))
    check_tree(tree, {"link": L("realdir"), "realdir": D(), "realdir/file": F("in")})


def test_relative_escaping_symlink_resolves_inside_the_image():
    # symlink-escape-relative
    tree = tree_of(
        T().add_dir("tmp").add_dir("tmp/x").add_symlink("esc", "../../../../tmp/x"),
        T().add_file("esc/evil", "pwn"),
    )
    check_tree(tree, {"esc": L("../../../../tmp/x"), "tmp": D(), "tmp/x": D(), "tmp/x/evil": F("pwn", layer=1)})


def test_absolute_symlink_resolves_at_the_image_root():
    # symlink-escape-absolute (CVE-2014-9356)
    tree = tree_of(
        T().add_dir("tmp").add_dir("tmp/x").add_symlink("abs", "/tmp/x"),
        T().add_file("abs/evil", "pwn"),
    )
    check_tree(tree, {"abs": L("/tmp/x"), "tmp": D(), "tmp/x": D(), "tmp/x/evil": F("pwn", layer=1)})


def test_escaping_symlink_in_the_same_layer_resolves_inside_the_image():
    # symlink-escape-same-layer
    tree = tree_of(T().add_dir("tmp").add_dir("tmp/x").add_symlink("esc", "../../tmp/x").add_file("esc/evil", "pwn"))
    check_tree(tree, {"esc": L("../../tmp/x"), "tmp": D(), "tmp/x": D(), "tmp/x/evil": F("pwn")})


def test_relative_symlink_with_dotdot_resolves_from_its_own_directory():
    tree = tree_of(
        T().add_dir("a").add_dir("a/b").add_dir("c").add_symlink("a/b/l", "../../c"),
        T().add_file("a/b/l/f", "f"),
    )
    check_tree(tree, {"a": D(), "a/b": D(), "a/b/l": L("../../c"), "c": D(), "c/f": F("f", layer=1)})


def test_symlink_chains_resolve_to_the_final_directory():
    tree = tree_of(
        T().add_dir("d").add_symlink("l2", "d").add_symlink("l1", "l2"),
        T().add_file("l1/f", "chained"),
    )
    check_tree(tree, {"d": D(), "d/f": F("chained", layer=1), "l1": L("l2"), "l2": L("d")})


def test_intermediate_symlink_in_a_deep_path_is_resolved():
    tree = tree_of(
        T().add_dir("usr").add_dir("usr/lib").add_symlink("lib", "usr/lib"),
        T().add_file("lib/x/y.so", "so"),
    )
    check_tree(tree, {
        "lib": L("usr/lib"), "usr": D(), "usr/lib": D(), "usr/lib/x": dict(IMPLIED, layer=1),
        "usr/lib/x/y.so": F("so", layer=1),
    })


def test_symlink_loop_in_a_parent_path_is_an_error():
    # symlink-loop-write
    expect_error([T().add_symlink("loopa", "loopb").add_symlink("loopb", "loopa"), T().add_file("loopa/x", "x")],
                 "symlink-loop", "loopa")


def test_self_referencing_symlink_as_parent_is_an_error():
    expect_error([T().add_symlink("selfie", "selfie").add_file("selfie/x", "x")], "symlink-loop", "selfie")


def test_symlink_to_a_file_as_parent_is_not_a_directory():
    expect_error([T().add_file("plainfile", "f").add_symlink("lnk", "plainfile"), T().add_file("lnk/x", "x")],
                 "parent-not-directory", "plainfile")


def test_long_symlink_chain_within_the_hop_limit_resolves():
    t = T().add_dir("end")
    t.add_symlink("s0", "end")
    for i in range(1, 30):
        t.add_symlink(f"s{i}", f"s{i-1}")
    t.add_file("s29/f", "deep")
    tree = tree_of(t)
    assert tree.get("end/f").sha256 == sha("deep")
    assert tree.get("s29/f") is None


def test_symlink_chain_longer_than_the_hop_limit_is_a_loop():
    t = T().add_dir("end")
    t.add_symlink("s0", "end")
    for i in range(1, 12):
        t.add_symlink(f"s{i}", f"s{i-1}")
    t.add_file("s11/f", "deep")
    expect_error([t], "symlink-loop", "s11", limits=Limits(max_symlink_hops=8))


# == R13: implied parent directories =========================================================


def test_missing_parents_are_implied_directories():
    tree = tree_of(T().add_file("a/b/c/file", "f", mode=0o600, uid=5))
    check_tree(tree, {
        "a": dict(IMPLIED, layer=0), "a/b": dict(IMPLIED), "a/b/c": dict(IMPLIED),
        "a/b/c/file": F("f", mode=0o600, uid=5, implied=False),
    })


def test_explicit_directory_later_in_the_layer_replaces_implied_attributes():
    tree = tree_of(T().add_file("a/f", "f").add_dir("a", mode=0o700, uid=9))
    check_tree(tree, {"a": D(mode=0o700, uid=9, implied=False), "a/f": F("f")})


def test_explicit_directory_in_a_later_layer_replaces_implied_attributes():
    tree = tree_of(T().add_file("a/f", "f"), T().add_dir("a", mode=0o750))
    check_tree(tree, {"a": D(mode=0o750, implied=False, layer=1), "a/f": F("f", layer=0)})


def test_implied_parent_belongs_to_the_layer_that_implied_it():
    tree = tree_of(T().add_file("x", "x"), T().add_file("p/q/f", "f"))
    check_tree(tree, {"p": dict(IMPLIED, layer=1), "p/q": dict(IMPLIED, layer=1), "p/q/f": F("f", layer=1),
                      "x": F("x", layer=0)})


def test_existing_directory_parent_is_not_marked_implied():
    tree = tree_of(T().add_dir("d", mode=0o700), T().add_file("d/f", "f"))
    check_tree(tree, {"d": D(mode=0o700, implied=False, layer=0), "d/f": F("f", layer=1)})


@pytest.mark.parametrize(
    "make_parent",
    [
        pytest.param(lambda t: t.add_file("notadir", "f"), id="file"),
        pytest.param(lambda t: t.add_char("notadir", 1, 3), id="char"),
        pytest.param(lambda t: t.add_fifo("notadir"), id="fifo"),
        pytest.param(lambda t: t.add_block("notadir", 8, 0), id="block"),
    ],
)
def test_entry_under_a_non_directory_parent_is_rejected(make_parent):
    # file-parent-implicit
    lower = T()
    make_parent(lower)
    expect_error([lower, T().add_file("notadir/z", "z")], "parent-not-directory", "notadir")


def test_entry_under_a_same_layer_file_is_rejected():
    expect_error([T().add_file("notadir", "f").add_file("notadir/deeper/z", "z")], "parent-not-directory", "notadir")


# == R14: entries for the root itself ========================================================


@pytest.mark.parametrize("name", [".", "./", "/"])
def test_root_directory_entry_changes_only_root_attributes(name):
    tree = tree_of(T().add_dir(name, mode=0o700).add_file("a", "a"))
    check_tree(tree, {"a": F("a")})


@pytest.mark.parametrize("name", [".", "./", "/"])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda t, n: t.add_symlink(n, "/tmp/host"), id="symlink"),
        pytest.param(lambda t, n: t.add_file(n, "x"), id="file"),
        pytest.param(lambda t, n: t.add_char(n, 1, 3), id="char"),
        pytest.param(lambda t, n: t.add_fifo(n), id="fifo"),
    ],
)
def test_root_entry_that_is_not_a_directory_is_rejected(name, make):
    # root-entry-symlink, CVE-2021-29136
    upper = T()
    make(upper, name)
    err = expect_error([T().add_file("a", "a"), upper], "invalid-root-entry", "root")
    assert err.message


# == R15/R16: ownership and extended attributes ================================================


def test_pax_uid_and_gid_above_the_octal_range_are_used():
    tree = tree_of(T().add_file("f", "x", pax={"uid": "3000000", "gid": "4000000000"}))
    check_tree(tree, {"f": F("x", uid=3_000_000, gid=4_000_000_000)})


def test_base256_ids_are_decoded():
    # GNU base-256 carries ids above the octal field's 2097151 (R15); Linux ids are 32-bit.
    tree = tree_of(T().add_file("f", "x", uid=3_000_000, gid=4_000_000_000, base256=["uid", "gid"]))
    check_tree(tree, {"f": F("x", uid=3_000_000, gid=4_000_000_000)})


def test_xattrs_are_carried_from_schily_records():
    caps = b"\x01\x00\x00\x02\x00\x20\x00\x00" + b"\x00" * 12
    tree = tree_of(T().add_file("ping", "elf", xattrs={"security.capability": caps, "user.note": b"hi"}))
    check_tree(tree, {"ping": F("elf", xattrs={"security.capability": caps, "user.note": b"hi"})})


def test_entry_without_xattrs_has_none():
    tree = tree_of(T().add_file("f", "x"))
    assert tree.get("f").xattrs == {}


def test_pax_mtime_with_fraction_is_kept_in_nanoseconds():
    tree = tree_of(T().add_file("f", "x", pax={"mtime": "1700000000.123456789"}))
    check_tree(tree, {"f": F("x", mtime_ns=1_700_000_000_123_456_789)})


# == R17: tar dialects ========================================================================


def test_ustar_prefix_field_is_joined_to_the_name():
    name = "p" * 120 + "/" + "n" * 90
    tree = tree_of(T().add_file(name, "prefixed", long_names="prefix"))
    check_tree(tree, {"p" * 120: dict(IMPLIED), name: F("prefixed")})


def test_pax_path_record_gives_a_long_name():
    name = "/".join(["segment%03d" % i for i in range(40)])
    tree = tree_of(T().add_file(name, "pax", long_names="pax"))
    assert tree.get(name).sha256 == sha("pax")
    assert len(list(tree.walk())) == 40


def test_gnu_long_name_member_gives_a_long_name():
    name = "g" * 300
    tree = tree_of(T().add_file(name, "gnu", long_names="gnu"))
    check_tree(tree, {name: F("gnu")})


def test_gnu_long_link_member_gives_a_long_symlink_target():
    target = "/very/" + "t" * 250
    tree = tree_of(T().add_symlink("l", target, long_names="gnu"))
    check_tree(tree, {"l": L(target)})


def test_pax_linkpath_gives_a_long_hardlink_target():
    name = "h" * 180
    tree = tree_of(T().add_file(name, "x", long_names="pax").add_hardlink("l", name, long_names="pax"))
    check_tree(tree, {name: F("x"), "l": F("x")})


def test_pax_size_overrides_the_header_size():
    t = T().add_pax({"size": "5"}).member("f", b"hello", size=0).add_file("g", "after")
    tree = tree_of(t)
    check_tree(tree, {"f": F("hello"), "g": F("after")})


def test_pax_1_0_sparse_member_is_expanded():
    segments = [(100, b"alpha"), (4096, b"beta" * 100), (9000, b"end")]
    tree = tree_of(T().add_sparse("sparse/file", segments, 10000).add_file("after", "a"))
    content = sparse_expand(segments, 10000)
    check_tree(tree, {"after": F("a"), "sparse": dict(IMPLIED), "sparse/file": F(content, size=10000)})


def test_pax_global_header_is_ignored_and_never_renames_the_next_member():
    # pax-global-header: CPython's tarfile would rename `real` to `evil-global`.
    t = T().add_global({"path": "evil-global", "uid": "666", "mtime": "5"}).add_file("real", "r", uid=1)
    tree = tree_of(t)
    check_tree(tree, {"real": F("r", uid=1, mtime_ns=0)})
    assert tree.warnings, "a PAX global header is ignored with a warning"


def test_pax_records_apply_only_to_the_next_member():
    t = T().add_pax({"path": "renamed", "uid": "77"}).member("orig", b"1").add_file("second", "2", uid=3)
    tree = tree_of(t)
    check_tree(tree, {"renamed": F("1", uid=77), "second": F("2", uid=3)})


# == R18: entry types ========================================================================


def test_nul_typeflag_is_a_regular_file():
    tree = tree_of(T().add_file("old-style", "v7", typeflag=b"\0"))
    check_tree(tree, {"old-style": F("v7")})


def test_special_files_keep_their_kinds():
    tree = tree_of(T().add_char("c", 4, 64).add_block("b", 259, 3).add_fifo("p"))
    check_tree(tree, {"b": B(259, 3), "c": C(4, 64), "p": P()})


@pytest.mark.parametrize("typeflag", [b"7", b"S", b"V", b"M", b"N", b"Z", b"D", b"X", b"9"])
def test_unsupported_typeflags_are_rejected(typeflag):
    expect_error([T().add_file("fine", "ok").add_file("oddmember", "x", typeflag=typeflag)],
                 "unsupported-entry", "oddmember")


# == provenance summary =======================================================================


def test_provenance_of_a_three_layer_history():
    tree = tree_of(
        T().add_dir("etc").add_file("etc/a", "a0").add_file("etc/b", "b0").add_file("etc/c", "c0"),
        T().add_file("etc/a", "a1").add_file("etc/d", "d1"),
        T().add_whiteout("etc/b").add_dir("etc", mode=0o700),
    )
    check_tree(tree, {
        "etc": D(mode=0o700, layer=2), "etc/a": F("a1", layer=1), "etc/c": F("c0", layer=0),
        "etc/d": F("d1", layer=1),
    })
    gone = deleted(tree)
    assert gone["etc/a"] == (0, 1, "replaced")
    assert gone["etc/b"] == (0, 2, "whiteout")
    assert set(gone) == {"etc/a", "etc/b"}


def test_to_json_record_names_path_kind_and_layer():
    tree = tree_of(T().add_file("a", "x"), T().add_file("b", "y", mode=0o4755))
    record = tree.get("b").to_json()
    assert isinstance(record, dict)
    values = set(map(str, record.values()))
    assert "b" in values
    assert "file" in values
