"""Digests recomputed after a mutation, so that a mutant reaches the parsers instead of failing
the first digest check: a changed blob gets its new name, and every descriptor and string that
named it (manifests, configs' diff_ids, index.json, docker manifest.json, symlink members) is
rewritten, up to the roots, which nothing hashes (index.json, manifest.json)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from .corpus import Node, json_docs, read_dir, write_image
from .tarfmt import sha256_hex

__all__ = ["Change", "refresh", "edit_blob"]


class Change:
    """A node whose bytes a mutator replaced. `diff_ids` maps an old uncompressed digest (hex) to
    the new one, for layer blobs; `media_type` rewrites the descriptors that name the blob."""

    def __init__(self, path: str, old: bytes, new: bytes, diff_ids: dict[str, str] | None = None,
                 media_type: str | None = None) -> None:
        self.path, self.old, self.new = path, old, new
        self.diff_ids = diff_ids or {}
        self.media_type = media_type


def _substitute(value: Any, hexes: dict[str, str], blob: tuple[str, str, int], media_type: str | None) -> tuple[Any, bool]:
    old_hex, new_hex, new_size = blob
    if isinstance(value, str):
        out = value
        for old, new in hexes.items():
            if old in out:
                out = out.replace(old, new)
        return out, out != value
    if isinstance(value, list):
        changed = False
        items = []
        for item in value:
            new_item, c = _substitute(item, hexes, blob, media_type)
            items.append(new_item)
            changed |= c
        return items, changed
    if isinstance(value, dict):
        changed = False
        out_d: dict[str, Any] = {}
        names_blob = isinstance(value.get("digest"), str) and value["digest"].endswith(":" + old_hex)
        for key, item in value.items():
            new_item, c = _substitute(item, hexes, blob, media_type)
            out_d[key] = new_item
            changed |= c
        if names_blob:
            if isinstance(value.get("size"), int) and not isinstance(value.get("size"), bool):
                changed |= out_d["size"] != new_size
                out_d["size"] = new_size
            if media_type is not None and "mediaType" in value:
                changed |= out_d["mediaType"] != media_type
                out_d["mediaType"] = media_type
        return out_d, changed
    return value, False


def refresh(nodes: dict[str, Node], changes: list[Change]) -> tuple[dict[str, Node], dict[str, str]]:
    """Apply `changes` and propagate the new digests upwards. Returns the new node map and the
    blobs renamed on the way (old path -> new path)."""
    renames: dict[str, str] = {}
    nodes = dict(nodes)
    for change in changes:
        nodes[change.path] = replace(nodes[change.path], data=change.new)
    queue = list(changes)
    rounds = 0
    while queue and rounds < 64:
        rounds += 1
        change = queue.pop(0)
        old_hex, new_hex = sha256_hex(change.old), sha256_hex(change.new)
        if old_hex == new_hex and not change.diff_ids and change.media_type is None:
            continue
        hexes = {old_hex: new_hex, **change.diff_ids}
        path = change.path
        if path in nodes and old_hex in path.rsplit("/", 1)[-1]:
            renamed = path.replace(old_hex, new_hex)
            nodes = {(renamed if p == path else p): n for p, n in nodes.items() if p != renamed}
            renames = {k: (renamed if v == path else v) for k, v in renames.items()}
            renames.setdefault(path, renamed)
            path = renamed
        for p, node in list(nodes.items()):
            if node.kind in ("symlink", "hardlink") and old_hex in node.linkname:
                nodes[p] = replace(node, linkname=node.linkname.replace(old_hex, new_hex))
        docs = json_docs(nodes)
        for doc_path, doc in docs.items():
            if doc_path == path:
                continue
            new_doc, changed = _substitute(doc, hexes, (old_hex, new_hex, len(change.new)), change.media_type)
            if not changed:
                continue
            old_bytes = nodes[doc_path].data
            new_bytes = json.dumps(new_doc, separators=(",", ":")).encode()
            nodes[doc_path] = replace(nodes[doc_path], data=new_bytes)
            queue.append(Change(doc_path, old_bytes, new_bytes))
    return nodes, renames


def edit_blob(src: Path, dest: Path, digest: str, new: bytes) -> Path:
    """A copy of the layout directory `src` at `dest` whose blob `digest` holds `new`, with every
    digest above it recomputed: how a regression test states a minimal input."""
    nodes = read_dir(src)
    path = "blobs/sha256/" + digest.split(":", 1)[1]
    nodes, _ = refresh(nodes, [Change(path, nodes[path].data, new)])
    return write_image(nodes, "dir", dest)
