"""A small, naive reference applier for OCI layer changesets (shared/specs/unionfs.md R1-R14).

Written from the spec only, independently of inspectr: the state is a dict
`path -> Rec`, layers are applied one at a time, entry by entry. It is slow and simple
on purpose; the property tests compare inspectr's `Tree` with it.

Inputs are abstract entries (`E`), not tar bytes, so the model never parses tar; the
tests turn the same entries into tars with tests/builders.py.

Decisions taken from the spec / the project brief:
- R2: names are cleaned lexically (leading '/', '.', empty components dropped, '..'
  resolved); a relative name that climbs above the root is `path-escape-rejected`.
- R3: entries apply in order (last wins); a duplicate path is a warning, and an error
  (`duplicate-entry`) in strict mode.
- R4: dir over dir merges attributes and keeps children; everything else replaces.
- R5-R8: a layer's whiteouts and opaque markers apply to the *lower* state only,
  independent of their position in the layer, and never create anything.
- R9: `.wh.`, `.wh..`, `.wh...` are `invalid-whiteout`.
- R11: hardlinks share an inode; the link header's mode/uid/gid are applied to it.
- R12: parents resolve through symlinks with chroot semantics; loops are `symlink-loop`.
- R13: missing parents become implied dirs (0755, 0:0); a non-dir parent is
  `parent-not-directory`.
- R14: a root entry that is a directory only changes the root; anything else is
  `invalid-root-entry`.

Where the spec does not pin a result down (e.g. a dangling symlink used as a parent,
or a whiteout that deletes a lower directory that the same layer writes into), the
model raises `Unspecified` and the property tests discard that example.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

__all__ = [
    "E",
    "ModelError",
    "Unspecified",
    "Inode",
    "Rec",
    "Model",
    "apply_stack",
    "normalise",
    "KINDS",
    "lexical_errors",
    "without_lexical_errors",
]

WH = ".wh."
OPQ = ".wh..wh..opq"
KINDS = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo")


@dataclass(frozen=True)
class E:
    """One abstract layer entry. `name` is the raw tar name (may be hostile)."""

    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0


class ModelError(Exception):
    def __init__(self, error_class: str, detail: str = "") -> None:
        super().__init__(f"{error_class}: {detail}")
        self.error_class = error_class
        self.detail = detail


class Unspecified(Exception):
    """The spec does not fix the outcome of this input."""


_inode_ids = itertools.count(1)


@dataclass
class Inode:
    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    sha256: str | None = None
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    ident: int = field(default_factory=lambda: next(_inode_ids))


@dataclass
class Rec:
    inode: Inode
    layer: int
    implied: bool = False


@dataclass
class Removed:
    path: str
    lower_layer: int
    layer: int
    reason: str


@dataclass
class Model:
    nodes: dict[str, Rec] = field(default_factory=dict)
    root: Inode = field(default_factory=lambda: Inode("dir", 0o755, 0, 0))
    deleted: list[Removed] = field(default_factory=list)
    warnings: list[tuple[str, str, int]] = field(default_factory=list)

    def listing(self) -> dict[str, tuple]:
        """path -> comparable record (see `describe`)."""
        return {path: describe(rec) for path, rec in sorted(self.nodes.items())}

    def link_groups(self) -> set[frozenset[str]]:
        groups: dict[int, set[str]] = {}
        for path, rec in self.nodes.items():
            groups.setdefault(rec.inode.ident, set()).add(path)
        return {frozenset(g) for g in groups.values() if len(g) > 1}


def describe(rec: Rec) -> tuple:
    """(kind, mode, uid, gid, size, sha256, linkname, dev, layer, implied).

    Fields that carry no meaning for a kind are None: the mode of a symlink (always
    0777 on Linux, R10), size/sha256 of anything but a regular file, the link target of
    anything but a symlink, device numbers of anything but char/block devices.
    """
    ino = rec.inode
    return (
        ino.kind,
        None if ino.kind == "symlink" else ino.mode & 0o7777,
        ino.uid,
        ino.gid,
        ino.size if ino.kind == "file" else None,
        ino.sha256 if ino.kind == "file" else None,
        ino.linkname if ino.kind == "symlink" else None,
        (ino.devmajor, ino.devminor) if ino.kind in ("char", "block") else None,
        rec.layer,
        rec.implied,
    )


def normalise(raw: str) -> list[str]:
    """R2: lexical cleaning. Raises ModelError for NUL/empty names and escapes."""
    if raw == "" or "\0" in raw:
        raise ModelError("invalid-name", raw)
    parts: list[str] = []
    for comp in raw.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                if raw.startswith("/"):
                    # '/../x': whether the leading '/' is stripped before or after
                    # cleaning decides between escape and 'x'; the spec does not say.
                    raise Unspecified("absolute name climbing above the root")
                raise ModelError("path-escape-rejected", raw)
            parts.pop()
            continue
        parts.append(comp)
    return parts


def _join(parts: list[str]) -> str:
    return "/".join(parts)


def _is_under(path: str, top: str) -> bool:
    """path == top or path is a descendant of top ('' = root)."""
    if top == "":
        return True
    return path == top or path.startswith(top + "/")


class _Applier:
    def __init__(self, model: Model, max_hops: int, strict: bool) -> None:
        self.m = model
        self.max_hops = max_hops
        self.strict = strict

    # -- resolution ---------------------------------------------------------------

    def resolve(self, comps: list[str], layer: int | None, *, create: bool) -> list[str]:
        """Resolve parent components through symlinks (chroot semantics, R12).

        With `create` (entry parents), missing components become implied directories of
        `layer` (R13) and a non-directory is `parent-not-directory`; without (hardlink
        targets), either means the target does not exist: `invalid-hardlink`.
        Returns the resolved physical components.
        """
        stack: list[tuple[str, bool]] = [(c, False) for c in comps]
        resolved: list[str] = []
        hops = 0
        while stack:
            comp, from_link = stack.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if resolved:
                    resolved.pop()
                continue
            path = _join(resolved + [comp])
            rec = self.m.nodes.get(path)
            if rec is None:
                if not create:
                    # a hardlink target below a missing directory does not exist (R11 d)
                    raise ModelError("invalid-hardlink", path)
                if from_link or any(c == ".." for c, _ in stack):
                    # A dangling symlink used as a parent: appliers fail (MkdirAll
                    # EEXIST), an in-root view could create the target: unspecified.
                    raise Unspecified("dangling symlink in a parent path")
                self.m.nodes[path] = Rec(Inode("dir", 0o755, 0, 0), layer=layer or 0, implied=True)
                resolved.append(comp)
                continue
            kind = rec.inode.kind
            if kind == "dir":
                resolved.append(comp)
                continue
            if kind == "symlink":
                hops += 1
                if hops > self.max_hops:
                    raise ModelError("symlink-loop", path)
                target = rec.inode.linkname
                if target.startswith("/"):
                    resolved = []
                stack = [(c, True) for c in target.split("/")] + stack
                continue
            # R13 for entries; for a hardlink target, a non-directory parent means the
            # target does not exist (R11 d)
            raise ModelError("parent-not-directory" if create else "invalid-hardlink", path)
        return resolved

    # -- removal ------------------------------------------------------------------

    def remove_subtree(self, top: str, layer: int, reason: str) -> None:
        for path in sorted(p for p in self.m.nodes if _is_under(p, top) and p != ""):
            rec = self.m.nodes.pop(path)
            self.m.deleted.append(Removed(path, rec.layer, layer, reason))

    # -- one layer ----------------------------------------------------------------

    def apply_layer(self, entries: list[E], layer: int) -> None:
        parsed = [(e, normalise(e.name)) for e in entries]
        # R14 and R9 are properties of the names alone.
        for e, comps in parsed:
            if not comps and e.kind != "dir":
                raise ModelError("invalid-root-entry", e.name)
            if comps and comps[-1].startswith(WH) and comps[-1] != OPQ:
                if comps[-1][len(WH):] in ("", ".", ".."):
                    raise ModelError("invalid-whiteout", e.name)
        whiteouts = [(e, c) for e, c in parsed if c and c[-1].startswith(WH)]
        regular = [(e, c) for e, c in parsed if not (c and c[-1].startswith(WH))]

        # R3: duplicates (by normalised path).
        self.check_duplicates(parsed, layer)

        # R6/R7: whiteouts first, against the lower state only.
        removed_tops = self.whiteout_targets(whiteouts, layer)
        self.check_same_layer_interplay(removed_tops, regular)
        for top, reason in removed_tops:
            if top == "" or top in self.m.nodes:
                self.remove_subtree(top, layer, reason)
        # a removal of the root ('' from a root opaque) keeps the root itself
        for e, comps in regular:
            self.put(e, comps, layer)

    def check_duplicates(self, parsed: list[tuple[E, list[str]]], layer: int) -> None:
        seen: dict[str, list[int]] = {}
        for i, (_e, comps) in enumerate(parsed):
            seen.setdefault(_join(comps), []).append(i)
        for path, idxs in seen.items():
            if len(idxs) < 2:
                continue
            if self.strict:
                raise ModelError("duplicate-entry", path)
            self.m.warnings.append(("duplicate-entry", path, layer))
            first, last = idxs[0], idxs[-1]
            # Keep the example only where "apply in order" and "keep the last
            # occurrence" (spec invariant 13) cannot differ.
            for j in range(first + 1, last):
                e, comps = parsed[j]
                p = _join(comps)
                if j not in idxs and (_is_under(p, path) and p != path or path == ""):
                    raise Unspecified("entries between duplicates touch the path")
                if e.kind == "hardlink":
                    try:
                        tpath = _join(normalise(e.linkname)) if e.linkname else None
                    except (ModelError, Unspecified):
                        tpath = None
                    if tpath is None or _is_under(tpath, path) or _is_under(path, tpath):
                        raise Unspecified("hardlink between duplicates")
            for j in idxs[:-1]:
                e, comps = parsed[j]
                if e.kind == "hardlink":
                    raise Unspecified("a non-final duplicate is a hardlink")
                if e.kind != "dir" and parsed[last][0].kind == "dir":
                    raise Unspecified("non-dir duplicate between dirs")

    def lookup(self, comps: list[str]) -> str | None:
        """Physical path reached by `comps` in the current state, every component
        followed through symlinks (R12); None when something on the way is missing.

        Raises Unspecified for a symlink loop or a non-directory in the middle.
        """
        stack = list(comps)
        resolved: list[str] = []
        hops = 0
        while stack:
            comp = stack.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if resolved:
                    resolved.pop()
                continue
            path = _join(resolved + [comp])
            rec = self.m.nodes.get(path)
            if rec is None:
                return None
            if rec.inode.kind == "symlink":
                hops += 1
                if hops > self.max_hops:
                    raise Unspecified("symlink loop under a whiteout")
                if rec.inode.linkname.startswith("/"):
                    resolved = []
                stack = rec.inode.linkname.split("/") + stack
                continue
            if rec.inode.kind != "dir" and stack:
                raise Unspecified("non-directory in the middle of a whiteout path")
            resolved.append(comp)
        return _join(resolved)

    def whiteout_targets(self, whiteouts: list[tuple[E, list[str]]], layer: int) -> list[tuple[str, str]]:
        """Lower paths that this layer's whiteouts remove (R5, R7, R8).

        The whiteout's directory is resolved in the lower state through symlinks (R12),
        the named sibling itself is not followed. A missing directory removes nothing.
        """
        tops: list[tuple[str, str]] = []
        for e, comps in whiteouts:
            parent_path = self.lookup(comps[:-1])
            if parent_path is None:
                continue  # R8: nothing to remove, nothing created
            if parent_path and self.m.nodes[parent_path].inode.kind != "dir":
                raise Unspecified("whiteout in a non-directory")
            if comps[-1] == OPQ:
                children = sorted(
                    p for p in self.m.nodes if p != parent_path and _is_under(p, parent_path)
                    and "/" not in p[len(parent_path) + (1 if parent_path else 0):]
                )
                tops.extend((c, "opaque") for c in children)
            else:
                target = _join(([parent_path] if parent_path else []) + [comps[-1][len(WH):]])
                if target in self.m.nodes:
                    tops.append((target, "whiteout"))
        return tops

    def check_same_layer_interplay(self, tops: list[tuple[str, str]], regular: list[tuple[E, list[str]]]) -> None:
        if not tops:
            return
        removed = {p for p in self.m.nodes if any(_is_under(p, t) for t, _ in tops)}
        written = {_join(c) for _e, c in regular}
        for e, comps in regular:
            # An entry whose ancestor (lexical, or reached through lower symlinks) is a
            # removed lower path that this layer does not write itself: "deleted then
            # implied" vs "kept as an ancestor of an upper path" are both readings of R6.
            for i in range(1, len(comps)):
                anc = _join(comps[:i])
                if anc in removed and anc not in written:
                    raise Unspecified("whiteout removes an ancestor of a same-layer entry")
                try:
                    phys = self.lookup(comps[:i])
                except Unspecified:
                    phys = None
                if phys is not None and phys != anc and phys in removed:
                    raise Unspecified("whiteout removes a same-layer entry's resolved ancestor")
                if anc in removed and self.m.nodes[anc].inode.kind == "symlink":
                    raise Unspecified("same-layer entry under a removed symlink")
            if e.kind == "hardlink":
                try:
                    tcomps = normalise(e.linkname)
                except (ModelError, Unspecified):
                    continue
                for i in range(1, len(tcomps) + 1):
                    if _join(tcomps[:i]) in removed:
                        raise Unspecified("hardlink to a path whited out in the same layer")
                    try:
                        phys = self.lookup(tcomps[:i])
                    except Unspecified:
                        phys = None
                    if phys is not None and phys in removed:
                        raise Unspecified("hardlink to a path whited out in the same layer")

    def put(self, e: E, comps: list[str], layer: int) -> None:
        if not comps:
            # R14: root entry as directory only changes the root's attributes.
            self.m.root.mode, self.m.root.uid, self.m.root.gid = e.mode, e.uid, e.gid
            return
        parent = self.resolve(comps[:-1], layer, create=True)
        path = _join(parent + [comps[-1]])
        existing = self.m.nodes.get(path)

        if e.kind == "hardlink":
            if e.linkname == "":
                raise ModelError("invalid-hardlink", "empty target")  # a link to nothing
            tcomps = normalise(e.linkname)
            if not tcomps:
                raise ModelError("invalid-hardlink", e.linkname)
            lexical_target = _join(tcomps)
            try:
                tparent = self.resolve(tcomps[:-1], None, create=False)
            except ModelError as err:
                if err.error_class == "symlink-loop":
                    raise Unspecified("symlink loop in a hardlink target") from err
                raise
            target_path = _join(tparent + [tcomps[-1]])
            target = self.m.nodes.get(target_path)
            if target is None or target.inode.kind == "dir":
                raise ModelError("invalid-hardlink", e.linkname)
            if _is_under(lexical_target, _join(comps)) or _is_under(path, lexical_target):
                raise Unspecified("hardlink to itself, an ancestor or a descendant")
            if _is_under(target_path, path) or _is_under(path, target_path):
                raise Unspecified("resolved hardlink target overlaps the link path")
            if existing is not None:
                self.remove_subtree(path, layer, "replaced")
            ino = target.inode
            # R11: the link header's metadata is applied to the shared inode.
            if ino.kind != "symlink":
                ino.mode = e.mode
            ino.uid, ino.gid = e.uid, e.gid
            self.m.nodes[path] = Rec(ino, layer)
            return

        if existing is not None and existing.inode.kind == "dir" and e.kind == "dir":
            # R4: dir over dir: attributes replaced, children kept.
            existing.inode.mode, existing.inode.uid, existing.inode.gid = e.mode, e.uid, e.gid
            existing.layer = layer
            existing.implied = False
            return
        if existing is not None:
            self.remove_subtree(path, layer, "replaced")
        ino = Inode(e.kind, e.mode, e.uid, e.gid)
        if e.kind == "file":
            ino.size = len(e.data)
            ino.sha256 = hashlib.sha256(e.data).hexdigest()
        elif e.kind == "symlink":
            ino.linkname = e.linkname
        elif e.kind in ("char", "block"):
            ino.devmajor, ino.devminor = e.devmajor, e.devminor
        elif e.kind not in ("dir", "fifo"):
            raise ValueError(e.kind)
        self.m.nodes[path] = Rec(ino, layer)


def apply_stack(layers: list[list[E]], *, strict: bool = False, max_hops: int = 40) -> Model:
    """Apply `layers` (index 0 first) to an empty root (R1). Raises ModelError/Unspecified."""
    model = Model()
    applier = _Applier(model, max_hops, strict)
    for index, entries in enumerate(layers):
        applier.apply_layer(entries, index)
    return model


def _lexically_bad(e: E) -> bool:
    try:
        comps = normalise(e.name)
        if e.kind == "hardlink" and not normalise(e.linkname):
            return True
    except (ModelError, Unspecified):
        return True
    if not comps and e.kind != "dir":
        return True
    return bool(comps and comps[-1].startswith(WH) and comps[-1][len(WH):] in ("", ".", ".."))


def without_lexical_errors(layers: list[list[E]]) -> list[list[E]]:
    """The stack with every entry dropped whose name alone is an error.

    Applying it tells which semantic error a stream-order implementation may hit
    *before* it reaches a lexically bad entry.
    """
    return [[e for e in entries if not _lexically_bad(e)] for entries in layers]


def lexical_errors(layers: list[list[E]]) -> set[str]:
    """Error classes that follow from names alone, in any layer (order-independent).

    A tree builder may detect these while indexing (before applying anything), so a
    property accepts any of them when the model fails.
    """
    out: set[str] = set()
    for entries in layers:
        for e in entries:
            try:
                comps = normalise(e.name)
            except ModelError as err:
                out.add(err.error_class)
                continue
            except Unspecified:
                # '/../x': rejecting it as an escape is one of the two readings
                out.add("path-escape-rejected")
                continue
            if not comps and e.kind != "dir":
                out.add("invalid-root-entry")
            if comps and comps[-1].startswith(WH) and comps[-1][len(WH):] in ("", ".", ".."):
                out.add("invalid-whiteout")
            if e.kind == "hardlink":
                if e.linkname == "":
                    out.add("invalid-hardlink")
                    continue
                try:
                    if not normalise(e.linkname):
                        out.add("invalid-hardlink")
                except ModelError as err:
                    out.add(err.error_class)
                except Unspecified:
                    out.add("path-escape-rejected")
    return out
