"""Laws of the diff engine (hypothesis): self-diff is empty, A/B mirror, JSON round-trips,
excluding every path accepts every file difference."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import TarBuilder, write_oci_layout
from inspectr import open_image
from inspectr.diff.comparators.files import _fields, _same
from inspectr.diff.comparators.layers import compare_hidden_content
from inspectr.diff.difference import Verdict
from inspectr.diff.engine import compare_images, index_pair
from inspectr.diff.options import DiffOptions
from inspectr.fs.entry import EntryKind
from inspectr.fs.tree import Inode, Node
from inspectr.present.diff_json import difference_to_json, load_difference

NAMES = ["a", "b", "c", "d/e", "d/f", "g/h/i"]

files = st.dictionaries(
    st.sampled_from(NAMES),
    st.tuples(st.sampled_from([b"one", b"two", b"three\n", b""]), st.sampled_from([0o644, 0o755, 0o4755]),
              st.sampled_from([0, 1000]), st.sampled_from([0, 1700000000])),
    min_size=1,
)
stacks = st.lists(st.tuples(files, st.lists(st.sampled_from(NAMES), max_size=2)), min_size=1, max_size=3)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _layers(stack: list[tuple[dict[str, tuple[bytes, int, int, int]], list[str]]]) -> list[bytes]:
    out = []
    for i, (entries, whiteouts) in enumerate(stack):
        tb = TarBuilder()
        if i:
            for name in whiteouts:
                tb.add_whiteout(name)
        for name, (data, mode, uid, mtime) in sorted(entries.items()):
            if "/" in name:
                parent = name.rsplit("/", 1)[0]
                if parent not in entries:
                    tb.add_dir(parent, mtime=mtime)
            tb.add_file(name, data, mode=mode, uid=uid, mtime=mtime)
        out.append(tb.finish())
    return out


def _pair(tmp: Path, stack_a, stack_b):  # type: ignore[no-untyped-def]
    a = open_image(write_oci_layout(tmp / "a", _layers(stack_a)).path)
    b = open_image(write_oci_layout(tmp / "b", _layers(stack_b)).path)
    return a, b


def _key(change) -> tuple:  # type: ignore[no-untyped-def]
    return (change.subject, change.path, change.change, change.cause,
            tuple((f.name, repr(f.a), repr(f.b)) for f in change.fields))


@SETTINGS
@given(stacks)
def test_an_image_compared_with_itself_has_no_differences(stack) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _pair(Path(tmp), stack, stack)
        assert a.manifest_digest == b.manifest_digest
        assert compare_images(index_pair(a, b), DiffOptions()).changes == []


@SETTINGS
@given(stacks, stacks)
def test_diff_of_b_and_a_mirrors_diff_of_a_and_b(stack_a, stack_b) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _pair(Path(tmp), stack_a, stack_b)
        ab = compare_images(index_pair(a, b), DiffOptions())
        ba = compare_images(index_pair(b, a), DiffOptions())
        assert sorted(map(_key, (c.mirrored() for c in ab.changes))) == sorted(map(_key, ba.changes))
        assert ab.verdict == ba.verdict


@SETTINGS
@given(stacks, stacks)
def test_json_round_trips(stack_a, stack_b) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _pair(Path(tmp), stack_a, stack_b)
        d = compare_images(index_pair(a, b), DiffOptions())
        assert difference_to_json(load_difference(difference_to_json(d))) == difference_to_json(d)


@SETTINGS
@given(stacks, st.data())
def test_excluding_every_path_gives_equivalent_with_every_difference_counted(stack_a, data) -> None:  # type: ignore[no-untyped-def]
    # B keeps A's layer structure and order, and changes contents, modes, owners and mtimes.
    stack_b = [
        ({name: data.draw(st.tuples(st.sampled_from([b"one", b"x"]), st.sampled_from([0o644, 0o600]),
                                    st.sampled_from([0, 7]), st.sampled_from([0, 5]))) for name in entries}, whiteouts)
        for entries, whiteouts in stack_a
    ]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _pair(Path(tmp), stack_a, stack_b)
        d = compare_images(index_pair(a, b), DiffOptions(excludes=("**",)))
        assert d.verdict is Verdict.EQUIVALENT
        assert all(c.accepted for c in d.changes)
        assert sum(d.counts(accepted=True).values()) == len(d.changes)


_kinds = st.sampled_from([EntryKind.FILE, EntryKind.DIR, EntryKind.SYMLINK, EntryKind.CHAR])
_inode_fields = st.fixed_dictionaries({
    "kind": _kinds, "mode": st.sampled_from([0o644, 0o755]), "uid": st.sampled_from([0, 1]),
    "gid": st.sampled_from([0, 1]), "size": st.sampled_from([0, 3]), "mtime_ns": st.sampled_from([0, 5]),
    "sha256": st.sampled_from([None, b"\x01" * 32, b"\x02" * 32]), "linkname": st.sampled_from(["", "x"]),
    "xattrs": st.sampled_from([None, {}, {"user.a": b"1"}]), "devmajor": st.sampled_from([0, 1]),
    "devminor": st.just(0), "nlink": st.sampled_from([1, 2]),
})
_FIELD_NAMES = ("kind", "mode", "uid", "gid", "size", "mtime_ns", "sha256", "linkname", "xattrs", "devmajor", "nlink")


@settings(max_examples=2000, deadline=None)
@given(_inode_fields, _inode_fields, st.sets(st.sampled_from(sorted(_FIELD_NAMES)), max_size=2))
def test_the_equal_inode_shortcut_never_hides_a_field_change(fa, other, changed) -> None:  # type: ignore[no-untyped-def]
    """compare_trees skips pairs that `_same` calls equal: `_fields` must find nothing there.
    B is A with at most two fields taken from another inode, so near-equal pairs are common."""
    fb = dict(fa, **{name: other[name] for name in changed})
    def node(fields: dict) -> Node:  # type: ignore[type-arg]
        inode = Inode(None, 0, 1, fields["kind"])
        for name, value in fields.items():
            setattr(inode, name, value)
        n = Node("n", "n", None, inode, 0)
        inode.nlink = fields["nlink"]
        return n

    na, nb = node(fa), node(fb)
    # as `_groups` builds them: directories are never grouped
    groups_a = ["n", "m"] if fa["nlink"] > 1 and fa["kind"] is not EntryKind.DIR else []
    groups_b = ["n", "m"] if fb["nlink"] > 1 and fb["kind"] is not EntryKind.DIR else []
    if _same(na.inode, nb.inode):
        assert _fields(na, nb, groups_a, groups_b) == []


def _hidden_over_every_layer(pair, changed_paths):  # type: ignore[no-untyped-def]
    """compare_hidden_content as it was before shared layers were skipped: every layer of both."""
    def contents(indexes):  # type: ignore[no-untyped-def]
        out: dict = {}  # type: ignore[type-arg]
        for index in indexes:
            for e in index.entries:
                if e.kind is EntryKind.FILE and e.sha256 is not None:
                    out.setdefault((e.path, e.sha256), index.layer)
        return out
    ca, cb = contents(pair.indexes_a), contents(pair.indexes_b)
    found = []
    for mine, other, tree, side in ((ca, cb, pair.tree_a, "a"), (cb, ca, pair.tree_b, "b")):
        for (path, sha), layer in sorted(mine.items()):
            node = tree.get(path)
            if (path, sha) not in other and path not in changed_paths and not (node and node.inode.sha256 == sha):
                found.append((side, path, sha.hex(), layer))
    return found


@SETTINGS
@given(stacks, stacks, stacks, st.sets(st.sampled_from(NAMES)))
def test_hidden_content_skips_shared_layers_without_changing_the_answer(lower, top_a, top_b, changed) -> None:  # type: ignore[no-untyped-def]
    """A and B share their lower layers (a rebuild's base): the fast path searches those only for
    the paths the other layers name, and must find what a search of every layer finds."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b = _pair(Path(tmp), lower + top_a, lower + top_b)
        pair = index_pair(a, b)
        got = compare_hidden_content(a, b, pair.indexes_a, pair.indexes_b, pair.tree_a, pair.tree_b, changed)
        assert [(("a" if c.a else "b"), c.path, c.fields[0].a or c.fields[0].b, (c.a or c.b).layer) for c in got] == \
            _hidden_over_every_layer(pair, changed)
