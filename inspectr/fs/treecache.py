"""A cache of merged trees, so `run` does not re-apply an image's layers on every start (issue 14).

A merged tree depends only on its layers' verified bytes, on the limits it was built under and on
`strict`, so it is stored under a key made of the image's ChainID (image-spec config.md), every
layer's blob digest, media type and diff_id (the binding of a blob to its diff_id that the layer
cache's keys carry), the whole Limits value and `strict`. Entries use fs/cache.py's trusted format:
zstd-compressed JSON (never pickle: a cache file must not be able to run code) with a format
version, the key and the sha256 of the payload, written atomically. A corrupt, foreign or
mismatched entry is ignored and the tree rebuilt, never trusted.

A hit still streams every layer blob through the verifying reader (digest and exact size), as a
layer-cache hit does: only inflating the tars, decoding the layer indexes and applying them are
skipped. A blob already verified at its location earlier in this session is not read again.

What is stored is what a run needs: every visible node with its inode (hard links share one),
provenance (the node's and the inode's layer, the content's offset in its layer, for export) and
the tree's warnings. A cached tree has no `layers` (the indexes) and no `deleted` history: callers
that list deletions or diff layers use `build_tree`.

Entries sit beside the layer indexes (`layers/` of the cache dir, the same file layout), so
`inspectr cache ls` lists them and `inspectr cache prune` removes them with the rest.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any


from ..image import Image
from ..limits import Limits
from ..session import Session
from .build import content_key, index_layers, run_layer_jobs
from .cache import VERSION as INDEX_VERSION, read_entry, write_entry
from .entry import EntryKind, Notice
from .gcpause import gc_paused
from .tree import Inode, Node, Tree, apply_layers

__all__ = ["build_cached_tree", "tree_key"]

FORMAT = "inspectr-merged-tree"
VERSION = 1  # bump when the encoding or fs/tree.py's union rules change: old entries are then ignored
_KINDS = {kind.value: kind for kind in EntryKind}


def tree_key(image: Image, strict: bool = False) -> str | None:
    """The cache key of the image's merged tree, or None when a layer has no verifiable blob
    digest or no diff_id (legacy docker-save layers: nothing to key on)."""
    chain = ""
    blobs = []
    for ref in image.layers:
        if ref.digest is None or not ref.digest.verifiable or ref.diff_id is None:
            return None
        # ChainID(L0) = DiffID(L0); ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))
        chain = str(ref.diff_id) if not chain else "sha256:" + hashlib.sha256(f"{chain} {ref.diff_id}".encode()).hexdigest()
        blobs.append(f"{ref.digest}|{ref.media_type or ''}|{ref.diff_id}")
    if not blobs:
        return None
    limits = json.dumps(dataclasses.asdict(image.limits), sort_keys=True, separators=(",", ":"))
    blob_hash = hashlib.sha256("\n".join(blobs).encode()).hexdigest()
    # Readable head (`cache ls` shows it), then what else the tree depends on.
    return f"tree {chain}|blobs:{blob_hash}|index-v{INDEX_VERSION}|strict:{int(strict)}|limits:{limits}"


def build_cached_tree(image: Image, *, session: Session | None = None, strict: bool = False) -> Tree:
    """The verified union tree of an image, as `build_tree` returns it for a run: from the tree
    cache when the session has a cache and an entry for these layers, after every layer blob's
    digest and size were checked; else built from the layer indexes and stored. Raises what
    `build_tree` raises (DigestMismatch and SizeMismatch on a hit as on a miss)."""
    session = session or Session(limits=image.limits)
    key = tree_key(image, strict) if session.cache is not None else None
    if session.cache is None or key is None:
        return _with_notices(apply_layers(index_layers(image, session=session), image.limits, strict), image)
    path = _file(session.cache.dir, key)
    tree = _load(path, key, image.limits, strict)
    if tree is None:
        tree = apply_layers(index_layers(image, session=session), image.limits, strict)
        _store(path, key, tree)
    else:
        _verify_blobs(image, session)
    return _with_notices(tree, image)


def _with_notices(tree: Tree, image: Image) -> Tree:
    for notice in image.notices:  # as build_tree does; never stored (they belong to the image read)
        tree.warnings.append(notice)
    return tree


def _verify_blobs(image: Image, session: Session) -> None:
    """Every layer blob through the verifying reader (on the session's executor), unless this
    session already verified that blob, at that location, against that digest."""
    todo = [ref for ref in image.layers
            if not (session.verified.get(content_key(ref)) is not None and session.verified.has_location(ref.blob.key))]
    run_layer_jobs([(ref, True) for ref in todo], image.limits, session=session)
    for ref in todo:
        session.verified.add_location(ref.blob.key)


def _file(directory: Path, key: str) -> Path:
    name = hashlib.sha256(key.encode()).hexdigest()
    return directory / "layers" / name[:2] / f"{name}.json.zst"


# -- encoding ------------------------------------------------------------------------------------
# nodes: [path, node layer, implied, inode number] in walk order (parents first; the root first);
# inodes: [kind, mode, uid, gid, size, mtime_ns, sha256 hex, linkname, xattrs (base64), devmajor,
#          devminor, layer, offset, id, nlink], numbered by first use.

def _encode(tree: Tree) -> dict[str, Any]:
    numbers: dict[int, int] = {}
    inodes: list[list[Any]] = []
    nodes: list[list[Any]] = []
    for node in [tree.root, *tree.walk()]:
        i = node.inode
        number = numbers.get(id(i))
        if number is None:
            number = numbers[id(i)] = len(inodes)
            inodes.append([i.kind.value, i.mode, i.uid, i.gid, i.size, i.mtime_ns, i.sha256.hex() if i.sha256 else None,
                           i.linkname, {k: base64.b64encode(v).decode() for k, v in i.xattrs.items()} if i.xattrs else None,
                           i.devmajor, i.devminor, i.layer, i.offset, i.id, i.nlink])
        nodes.append([node.path, node.layer, node.implied, number])
    return {"inodes": inodes, "nodes": nodes, "next_inode": tree._inodes,
            "warnings": [[w.code, w.path, w.layer, w.message] for w in tree.warnings]}


def _decode(doc: dict[str, Any], limits: Limits, strict: bool) -> Tree:
    """A Tree equal (in every visible node, inode and warning) to the one encoded. Raises
    ValueError, KeyError, TypeError or IndexError on an inconsistent document."""
    # The payload's sha256 was checked and the cache dir is the user's own (check_private_dir):
    # values are taken as stored, without a conversion per field (50k entries cost ~0.1 s as is).
    inodes: list[Inode] = []
    new = Inode.__new__
    kinds = _KINDS
    for kind, mode, uid, gid, size, mtime_ns, sha, link, xattrs, major, minor, layer, offset, ident, _ in doc["inodes"]:
        inode = new(Inode)
        inode.kind = kinds[kind]
        inode.mode, inode.uid, inode.gid, inode.size, inode.mtime_ns = mode, uid, gid, size, mtime_ns
        inode.sha256 = bytes.fromhex(sha) if sha is not None else None
        inode.linkname = link
        inode.xattrs = {k: base64.b64decode(v) for k, v in xattrs.items()} if xattrs else None
        inode.devmajor, inode.devminor, inode.layer, inode.offset = major, minor, layer, offset
        inode.id, inode.nlink = ident, 0
        inodes.append(inode)
    tree = Tree(limits, strict)
    records = doc["nodes"]
    root_path, root_layer, _, root_inode = records[0]
    if root_path != "" or inodes[root_inode].kind is not EntryKind.DIR:
        raise ValueError("the first node is not the root directory")
    root = tree.root
    root.inode.nlink -= 1
    root.inode = inodes[root_inode]
    root.inode.nlink += 1
    root.layer = root_layer
    # Tree's own fields are filled in directly: the tree is restored as it was, not rebuilt by
    # applying entries (which is the work this cache saves).
    index = tree._index
    for path, layer, implied, number in records[1:]:
        parent_path, _, name = path.rpartition("/")
        parent = index[parent_path]  # walk order: a parent always comes before its children
        if parent.children is None or not name or name in parent.children:
            raise ValueError(f"node {path!r}: no parent directory, or a duplicate")
        node = Node(name, path, parent, inodes[number], layer, implied)
        parent.children[name] = node
        index[path] = node
    for inode in inodes:
        if inode.nlink < 1:
            raise ValueError("an inode no node names")
    for inode, record in zip(inodes, doc["inodes"]):
        inode.nlink = record[14]  # as stored: hard-link counts of the tree it came from
    tree._inodes = doc["next_inode"]
    tree._count = len(index) - 1
    tree._path_bytes = sum(map(len, index))
    if tree._count > limits.max_entries_total or tree._path_bytes > limits.max_tree_path_bytes:
        raise ValueError("more entries or path bytes than the limits allow")
    tree.warnings.extend(Notice(code, path, layer, message) for code, path, layer, message in doc["warnings"])
    return tree


@gc_paused  # json.loads and _decode make ~10 objects per entry, all long-lived
def _load(path: Path, key: str, limits: Limits, strict: bool) -> Tree | None:
    doc = read_entry(path, FORMAT, VERSION, key)
    if doc is None:
        return None
    try:
        return _decode(doc, limits, strict)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # corrupt or foreign: rebuilt by the caller


def _store(path: Path, key: str, tree: Tree) -> None:
    write_entry(path, FORMAT, VERSION, key, _encode(tree))
