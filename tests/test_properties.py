"""Hypothesis properties of the union view (shared/specs/unionfs.md §5).

Random layer stacks over a small alphabet (`a`, `b`, `.wh.a`, `.wh..wh..opq`, `..`,
absolute forms, symlinks to siblings / `..` / absolute targets, hardlinks to earlier
names), with random types, modes and owners, are turned into tars with
tests/builders.py and applied by inspectr. The properties:

(a) containment (invariant 9): every path of any successful tree is normalised and
    relative, whatever the names were; deleted records too.
(b) reference equivalence (invariant 1): the tree equals tests/reference_model.py
    applied one layer at a time, or both fail with the same error class.
(c) whiteout locality (invariant 6/7): a whiteout-only layer removes exactly its
    targets and their descendants (opaque: the children) and changes nothing else.
(d) duplicate handling (invariant 13): a layer with a duplicated entry equals the layer
    with only the last occurrence (with a `duplicate-entry` warning; strict: error).
(e) order-insensitivity (invariant 12): permuting whiteouts among the other entries
    of a layer does not change the view.
(f) hardlink inode semantics (invariant 11): members of a link group share kind,
    mode, owner and content.
"""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from builders import TarBuilder, apply_tars
from inspectr.errors import InspectrError
from reference_model import (
    E,
    ModelError,
    Unspecified,
    apply_stack,
    lexical_errors,
    normalise,
    without_lexical_errors,
)

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# -- generators --------------------------------------------------------------------------

COMPONENTS = ["a", "b"]
WHITEOUT_LAST = [".wh.a", ".wh.b", ".wh..wh..opq"]
SYMLINK_TARGETS = ["a", "b", "a/b", "../a", "/a", "/", "..", "b/..", "/b/a", "c", "a/a", "../../b", "."]
HARDLINK_TARGETS = ["a", "b", "a/a", "a/b", "b/a", "b/b", "/a", "./b", "a/../b"]
HOSTILE_HARDLINK_TARGETS = ["../a", "a/../../b", "/..", ""]
DATA = [b"", b"x", b"yy", b"zzz", b"other content"]
MODES = [0o644, 0o755, 0o4755, 0o700, 0o1777, 0o600]
IDS = [0, 1, 1000]


@st.composite
def raw_names(draw, hostile: bool = False, whiteouts: bool = True) -> str:
    depth = draw(st.sampled_from([1, 1, 2, 2, 2, 3]))
    comps = [draw(st.sampled_from(COMPONENTS)) for _ in range(depth - 1)]
    comps.append(draw(st.sampled_from(COMPONENTS + ["c"])))
    if whiteouts and draw(st.integers(0, 4)) == 0:
        comps[-1] = draw(st.sampled_from(WHITEOUT_LAST))
    name = "/".join(comps)
    decorations = ["", "", "", "", "/", "./", "a/../"]
    if hostile:
        decorations += ["../", "a/../../", "./a/./", "//", "b/./../../"]
    name = draw(st.sampled_from(decorations)) + name
    if draw(st.integers(0, 9)) == 0:
        name += "/"
    if hostile and draw(st.integers(0, 14)) == 0:
        name = draw(st.sampled_from([".", "./", "/", "a/..", ".."]))
    return name


@st.composite
def entries(draw, hostile: bool = False, whiteouts: bool = True, earlier: tuple[str, ...] = ()) -> E:
    name = draw(raw_names(hostile=hostile, whiteouts=whiteouts))
    kind = draw(st.sampled_from(
        ["file"] * 8 + ["dir"] * 5 + ["symlink"] * 3 + ["hardlink"] * 3 + ["char", "block", "fifo"]
    ))
    if name.rstrip("/").split("/")[-1].startswith(".wh.") and kind in ("hardlink", "char", "block"):
        kind = "file"
    mode = draw(st.sampled_from(MODES))
    uid = draw(st.sampled_from(IDS))
    gid = draw(st.sampled_from(IDS))
    if kind == "file":
        return E(name, "file", data=draw(st.sampled_from(DATA)), mode=mode, uid=uid, gid=gid)
    if kind == "dir":
        return E(name, "dir", mode=mode, uid=uid, gid=gid)
    if kind == "symlink":
        return E(name, "symlink", linkname=draw(st.sampled_from(SYMLINK_TARGETS)), mode=0o777, uid=uid, gid=gid)
    if kind == "hardlink":
        targets = HARDLINK_TARGETS + (HOSTILE_HARDLINK_TARGETS if hostile else [])
        if earlier and draw(st.integers(0, 4)) > 0:
            # mostly link to a name an earlier entry used (hardlinks to earlier names)
            targets = list(earlier)
        return E(name, "hardlink", linkname=draw(st.sampled_from(targets)), mode=mode, uid=uid, gid=gid)
    if kind in ("char", "block"):
        return E(name, kind, devmajor=draw(st.integers(0, 9)), devminor=draw(st.integers(0, 9)),
                 mode=mode, uid=uid, gid=gid)
    return E(name, "fifo", mode=mode, uid=uid, gid=gid)


@st.composite
def stacks(draw, hostile: bool = False, max_layers: int = 4, max_entries: int = 6, whiteouts: bool = True):
    layers: list[list[E]] = []
    names: list[str] = []
    for _ in range(draw(st.integers(1, max_layers))):
        layer = []
        for _ in range(draw(st.integers(0, max_entries))):
            e = draw(entries(hostile=hostile, whiteouts=whiteouts, earlier=tuple(names)))
            if e.kind not in ("dir", "hardlink") and not e.name.rstrip("/").split("/")[-1].startswith(".wh."):
                names.append(e.name)
            layer.append(e)
        layers.append(layer)
    return layers


# -- bridging ---------------------------------------------------------------------------------


def to_tar(layer: list[E]) -> bytes:
    t = TarBuilder()
    for e in layer:
        common = {"mode": e.mode, "uid": e.uid, "gid": e.gid}
        if e.kind == "file":
            t.add_file(e.name, e.data, **common)
        elif e.kind == "dir":
            t.add_dir(e.name, **common)
        elif e.kind == "symlink":
            t.add_symlink(e.name, e.linkname, **common)
        elif e.kind == "hardlink":
            t.add_hardlink(e.name, e.linkname, **common)
        elif e.kind == "char":
            t.add_char(e.name, e.devmajor, e.devminor, **common)
        elif e.kind == "block":
            t.add_block(e.name, e.devmajor, e.devminor, **common)
        elif e.kind == "fifo":
            t.add_fifo(e.name, **common)
        else:
            raise ValueError(e.kind)
    return t.finish()


def run(layers: list[list[E]], strict: bool = False):
    """('tree', tree) or ('error', error_class, message)."""
    try:
        return ("tree", apply_tars([to_tar(layer) for layer in layers], strict=strict))
    except InspectrError as err:
        return ("error", err.error_class, err.message)


def describe(node) -> tuple:
    kind = node.kind.value
    return (
        kind,
        None if kind == "symlink" else node.mode & 0o7777,
        node.uid,
        node.gid,
        node.size if kind == "file" else None,
        node.sha256 if kind == "file" else None,
        node.linkname if kind == "symlink" else None,
        (node.devmajor, node.devminor) if kind in ("char", "block") else None,
        node.layer,
        node.implied,
    )


def listing(tree) -> dict[str, tuple]:
    return {node.path: describe(node) for node in tree.walk()}


def link_groups(tree) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for node in tree.walk():
        groups.setdefault(node.inode_id, set()).add(node.path)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def is_normalised(path: str) -> bool:
    return (
        bool(path)
        and not path.startswith("/")
        and "\0" not in path
        and all(c not in ("", ".", "..") for c in path.split("/"))
    )


# -- (a) containment --------------------------------------------------------------------------


@SETTINGS
@given(stacks(hostile=True))
def test_no_path_in_any_tree_escapes_or_is_unnormalised(layers):
    result = run(layers)
    if result[0] == "error":
        return
    tree = result[1]
    seen = []
    for node in tree.walk():
        assert is_normalised(node.path), node.path
        assert tree.get(node.path).path == node.path
        seen.append(node.path)
    assert seen == sorted(seen)
    for rec in tree.deleted:
        assert is_normalised(rec.path), rec.path
    assert all(not p.split("/")[-1].startswith(".wh.") for p in seen), seen


# -- (b) reference equivalence ----------------------------------------------------------------


def _check_against_model(layers: list[list[E]]) -> None:
    try:
        model = apply_stack(layers)
        model_error = None
    except Unspecified:
        reject()
    except ModelError as err:
        model = None
        model_error = err
    result = run(layers)
    if model_error is not None:
        lexical = lexical_errors(layers)
        acceptable = {model_error.error_class} | lexical
        if lexical:
            # A stream-order implementation may meet a semantic error before the
            # lexically bad entry: the errors of the stack without those entries.
            try:
                apply_stack(without_lexical_errors(layers))
            except ModelError as err:
                acceptable.add(err.error_class)
            except Unspecified:
                reject()
        assert result[0] == "error", f"model: {model_error}; inspectr gave a tree {listing(result[1])}"
        assert result[1] in acceptable, f"inspectr {result[1]} ({result[2]}), model {model_error}"
        return
    assert result[0] == "tree", f"inspectr failed with {result[1:]} where the model gave {model.listing()}"
    tree = result[1]
    assert listing(tree) == model.listing()
    assert link_groups(tree) == model.link_groups()


@SETTINGS
@given(stacks())
def test_union_equals_reference_model_applied_layer_by_layer(layers):
    _check_against_model(layers)


@SETTINGS
@given(stacks(hostile=True, max_layers=3))
def test_hostile_stacks_fail_like_the_reference_model(layers):
    _check_against_model(layers)


# -- (c) whiteout-only layers -------------------------------------------------------------------


@st.composite
def lower_and_whiteouts(draw):
    layers = draw(stacks(whiteouts=False, max_layers=3))
    picks = draw(st.lists(st.integers(0, 10_000), max_size=4))
    extra = draw(st.lists(st.sampled_from(["zz", "zz/q", "nope/x/y", "b/zz", "a/zz"]), max_size=2))
    opaque = draw(st.lists(st.integers(0, 10_000), max_size=2))
    root_opaque = draw(st.integers(0, 9)) == 0
    return layers, picks, extra, opaque, root_opaque


def _whiteout_name(path: str) -> str:
    head, _, base = path.rpartition("/")
    return (head + "/" if head else "") + ".wh." + base


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


@SETTINGS
@given(lower_and_whiteouts())
def test_whiteout_only_layer_removes_exactly_its_targets_and_descendants(case):
    layers, picks, extra, opaque, root_opaque = case
    lower = run(layers)
    if lower[0] == "error":
        reject()
    before = listing(lower[1])
    paths = sorted(before)
    dirs = [p for p in paths if before[p][0] == "dir"]
    targets = {paths[i % len(paths)] for i in picks} if paths else set()
    for p in extra:
        head = p.rpartition("/")[0]
        # only missing targets whose parent is absent or a real directory (no symlinks)
        if p not in before and (not head or head not in before or before[head][0] == "dir"):
            targets.add(p)
    opaque_dirs = {dirs[i % len(dirs)] for i in opaque} if dirs else set()
    top = [E(_whiteout_name(p)) for p in sorted(targets)]
    top += [E(d + "/.wh..wh..opq") for d in sorted(opaque_dirs)]
    if root_opaque:
        top.append(E(".wh..wh..opq"))
    result = run(layers + [top])
    assert result[0] == "tree", result[1:]
    after = listing(result[1])

    def gone(p: str) -> bool:
        if root_opaque:
            return True
        if any(_under(p, t) for t in targets):
            return True
        return any(p.startswith(d + "/") for d in opaque_dirs)

    expected = {p: rec for p, rec in before.items() if not gone(p)}
    assert after == expected
    removed_paths = {r.path for r in result[1].deleted if r.layer == len(layers)}
    for t in targets:
        if t in before:
            assert t in removed_paths or root_opaque or any(t.startswith(d + "/") for d in opaque_dirs)


# -- (d) duplicates ------------------------------------------------------------------------------


@st.composite
def layer_with_duplicate(draw):
    layers = draw(stacks(whiteouts=False, max_layers=3, max_entries=5))
    top = layers[-1]
    candidates = [i for i, e in enumerate(top) if e.kind != "hardlink"]
    if not candidates:
        reject()
    i = draw(st.sampled_from(candidates))
    final = top[i]
    if final.kind == "dir":
        dup = E(final.name.rstrip("/") + draw(st.sampled_from(["", "/"])), "dir",
                mode=draw(st.sampled_from(MODES)), uid=draw(st.sampled_from(IDS)))
    else:
        dup = draw(st.sampled_from([
            E(final.name, "file", data=b"earlier occurrence", mode=0o600, uid=7),
            E(final.name, "symlink", linkname="elsewhere"),
            E(final.name, "dir", mode=0o711),
            E(final.name, "fifo", mode=0o640),
        ]))
    form = draw(st.sampled_from(["same", "dot-slash"]))
    normalised = "/".join(normalise(final.name))
    if form == "dot-slash" and not dup.name.startswith("/"):
        dup = E("./" + dup.name, dup.kind, dup.data, dup.mode, dup.uid, dup.gid, dup.linkname)
    with_dup = top[:i] + [dup] + top[i:]
    return layers, with_dup, normalised


@SETTINGS
@given(layer_with_duplicate())
def test_duplicate_entries_equal_the_layer_with_only_the_last_occurrence(case):
    layers, with_dup, path = case
    plain = run(layers)
    if plain[0] == "error":
        reject()
    # Only where the name means the same path both times: a duplicate whose parent
    # resolves through a symlink may land elsewhere (e.g. `a -> /` and `a/a` replaces
    # the link `a` itself, so the second `a/a` meets a file parent).
    before = listing(plain[1])
    parts = path.split("/")
    if path not in before or any(before.get("/".join(parts[:k]), ("?",))[0] != "dir" for k in range(1, len(parts))):
        reject()
    # The same for the other names of the top layer: an entry placed through a lower layer's
    # symlink (`a -> /`, then `a/a/` in the top layer replaces `a` itself) makes the order of
    # the top layer's entries matter, which is what a duplicate changes.
    links = {e.name.strip("/") for layer in layers[:-1] for e in layer if e.kind == "symlink"}
    if any(e.name.strip("/").startswith(link + "/") for e in layers[-1] for link in links):
        reject()
    duplicated_layers = layers[:-1] + [with_dup]
    dup = run(duplicated_layers)
    assert dup[0] == "tree", dup[1:]
    assert listing(dup[1]) == listing(plain[1])
    assert link_groups(dup[1]) == link_groups(plain[1])
    top = len(layers) - 1
    assert any(w.code == "duplicate-entry" and w.layer == top for w in dup[1].warnings)
    strict = run(duplicated_layers, strict=True)
    assert strict[0] == "error" and strict[1] == "duplicate-entry", strict[1:]


# -- (e) whiteout order-insensitivity -------------------------------------------------------------


@st.composite
def layer_permutations(draw):
    layers = draw(stacks(max_layers=3, max_entries=7))
    top = layers[-1]
    wh = [e for e in top if e.name.rstrip("/").split("/")[-1].startswith(".wh.")]
    rest = [e for e in top if e not in wh]
    if not wh:
        extra = draw(st.lists(st.sampled_from([".wh.a", ".wh.b", "a/.wh.b", "a/.wh..wh..opq", ".wh..wh..opq",
                                               "b/.wh.a"]), min_size=1, max_size=3))
        wh = [E(n) for n in extra]
    # interleave the whiteouts at random positions, keeping the order of the rest
    permuted = list(rest)
    for e in draw(st.permutations(wh)):
        permuted.insert(draw(st.integers(0, len(permuted))), e)
    original = rest + wh  # whiteouts last
    return layers[:-1], original, permuted


@SETTINGS
@given(layer_permutations())
def test_whiteout_position_within_a_layer_does_not_change_the_view(case):
    lower, original, permuted = case
    a = run(lower + [original])
    b = run(lower + [permuted])
    if a[0] == "error" or b[0] == "error":
        # Both must fail. The class may differ: with two bad entries in one layer, which
        # one is met first depends on the order, and the invariant is about the view.
        assert a[0] == b[0] == "error", (a[1:] if a[0] == "error" else "tree", b[1:] if b[0] == "error" else "tree")
        return
    assert listing(a[1]) == listing(b[1])
    assert link_groups(a[1]) == link_groups(b[1])


# -- (f) hardlink groups --------------------------------------------------------------------------


@SETTINGS
@given(stacks(max_layers=3, max_entries=8))
def test_hardlink_group_members_share_the_inode_attributes(layers):
    result = run(layers)
    if result[0] == "error":
        return
    groups: dict[int, list] = {}
    for node in result[1].walk():
        groups.setdefault(node.inode_id, []).append(node)
    for members in groups.values():
        shared = {(n.kind.value, n.mode, n.uid, n.gid, n.size, n.sha256, n.linkname, n.devmajor, n.devminor)
                  for n in members}
        assert len(shared) == 1, [n.path for n in members]
        if members[0].kind.value == "dir":
            assert len(members) == 1


def test_model_and_builders_agree_on_a_fixed_example():
    """A smoke test of the test machinery itself, independent of hypothesis."""
    layers = [
        [E("a", "dir"), E("a/f", "file", data=b"x"), E("l", "symlink", linkname="a"), E("h", "hardlink", linkname="a/f")],
        [E("l/g", "file", data=b"y"), E(".wh.h"), E("a/.wh.f")],
    ]
    model = apply_stack(layers)
    assert sorted(model.nodes) == ["a", "a/g", "l"]
    assert model.nodes["a/g"].inode.sha256 == hashlib.sha256(b"y").hexdigest()
    tree = run(layers)[1]
    assert listing(tree) == model.listing()
