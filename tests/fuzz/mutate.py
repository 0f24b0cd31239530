"""A mutant: one to three mutations of one seed image, applied deepest first (layer tars, then
their compression, then JSON documents, then the files around them, then the outer archive),
each followed by the digest refresh unless the mutant is meant to carry stale digests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .compmut import mutate_compression
from .corpus import Node, Seed, json_docs, write_image
from .draw import Draw
from .fixup import Change, refresh
from .jsonmut import mutate_json
from .layoutmut import mutate_layout, outer_tar_op
from .tarfmt import compress, sha256_hex, sniff
from .tarmut import mutate_tar

__all__ = ["FAMILIES", "Mutant", "make_mutant"]

# Application order, deepest first, so that a refresh never has to rewrite a document that an
# earlier mutation already broke.
FAMILIES = ("tar-structure", "tar-header", "tar-insert", "compression", "blob-bytes", "json", "layout", "outer")
_WEIGHTED = ("json", "json", "json", "tar-header", "tar-header", "tar-insert", "tar-insert", "tar-structure",
             "compression", "compression", "layout", "outer", "blob-bytes")
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass
class Mutant:
    seed: Seed
    nodes: dict[str, Node]
    families: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outer: list[Callable[[bytes], bytes]] = field(default_factory=list)

    def write(self, dest: Path) -> Path:
        return write_image(self.nodes, self.seed.container, dest, self.outer)

    def describe(self) -> str:
        return f"{self.seed.name}: " + "; ".join(self.notes)


def _blobs(nodes: dict[str, Node]) -> list[tuple[str, int]]:
    out = []
    for path, node in nodes.items():
        name = path.rsplit("/", 1)[-1]
        if node.kind == "file" and _HEX.fullmatch(name):
            out.append((f"sha256:{name}", len(node.data)))
    return out


def make_mutant(draw: Draw, seed: Seed, ci: bool = False) -> Mutant:
    """One to three mutations of `seed`. `ci` leaves out what is slow by design or races (see
    compmut.CI_OPS and tarmut._sparse); the long run draws everything."""
    count = 1 + int(draw.chance(30)) + int(draw.chance(10))
    families = sorted((draw.choice(_WEIGHTED) for _ in range(count)), key=FAMILIES.index)
    stale = draw.chance(4)
    mutant = Mutant(seed, dict(seed.nodes), families=list(families))
    if stale:
        mutant.notes.append("digests not recomputed")
    uncompressed: dict[str, bytes | None] = dict(seed.uncompressed)
    for family in families:
        change: Change | None = None
        nodes = mutant.nodes
        layers = [p for p in uncompressed if p in nodes and nodes[p].kind == "file"]
        if family.startswith("tar-") or family == "compression":
            if not layers:
                family = "json"
            else:
                path = draw.choice(layers)
                blob, tar = nodes[path].data, uncompressed[path]
                if tar is None:
                    mutant.notes.append(f"{path}: left alone (its stream is already broken)")
                    continue
                if family == "compression":
                    new_blob, new_tar, media_type, note = mutate_compression(draw, blob, tar, ci)
                    diff_ids = {sha256_hex(tar): sha256_hex(new_tar)} if new_tar is not None and new_tar != tar else {}
                    change = Change(path, blob, new_blob, diff_ids, media_type)
                    uncompressed[path] = new_tar
                else:
                    new_tar, note = mutate_tar(draw, tar, family, ci)
                    new_blob = compress(new_tar, sniff(blob))
                    change = Change(path, blob, new_blob, {sha256_hex(tar): sha256_hex(new_tar)})
                    uncompressed[path] = new_tar
                mutant.notes.append(f"{family} {path.rsplit('/', 1)[-1][:12]}: {note}")
        if family == "blob-bytes":
            files = [p for p, n in nodes.items() if n.kind == "file" and n.data]
            path = draw.choice(files)
            data = nodes[path].data
            how = draw.choice(("flip", "truncate", "append"))
            at = draw.integer(0, len(data) - 1)
            new = {"flip": data[:at] + bytes([data[at] ^ 0x80]) + data[at + 1:], "truncate": data[:at],
                   "append": data + b"\n\0"}[how]
            change = Change(path, data, new)
            uncompressed.pop(path, None)
            mutant.notes.append(f"blob-bytes {path}: {how} at {at}")
        if family == "json":
            docs = json_docs(nodes)
            if not docs:
                continue
            path = draw.choice(sorted(docs))
            new, note = mutate_json(draw, docs[path], nodes[path].data, _blobs(nodes))
            change = Change(path, nodes[path].data, new)
            mutant.notes.append(f"json {path}: {note}")
        if family == "layout":
            mutant.nodes, note = mutate_layout(draw, nodes, seed.container)
            mutant.notes.append(f"layout: {note}")
        if family == "outer":
            if seed.container != "tar":
                mutant.nodes, note = mutate_layout(draw, nodes, seed.container)
                mutant.notes.append(f"layout: {note}")
            else:
                op, note = outer_tar_op(draw, ci)
                mutant.outer.append(op)
                mutant.notes.append(note)
        if change is None:
            continue
        if stale:
            mutant.nodes[change.path] = Node("file", change.new, mode=nodes[change.path].mode)
            continue
        mutant.nodes, renames = refresh(mutant.nodes, [change])
        for old_path, new_path in renames.items():
            if old_path in uncompressed:
                uncompressed[new_path] = uncompressed.pop(old_path)
    return mutant
