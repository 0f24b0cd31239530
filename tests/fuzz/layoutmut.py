"""Mutations of the files around the blobs: a blob or document removed, emptied, replaced by a
symlink (to another blob, to a host file, to itself, dangling), a hardlink, a directory or a
FIFO; extra and duplicate members; and byte-level damage to the outer tar of an archive."""

from __future__ import annotations

from typing import Callable

from .corpus import Node
from .draw import Draw
from .tarmut import mutate_tar

__all__ = ["mutate_layout", "outer_tar_op"]


def mutate_layout(draw: Draw, nodes: dict[str, Node], container: str) -> tuple[dict[str, Node], str]:
    nodes = dict(nodes)
    files = [p for p, n in nodes.items() if n.kind == "file"]
    if not files:
        return nodes, "nothing to change"
    path = draw.choice(files)
    others = [p for p in files if p != path] or [path]
    op = draw.choice(("remove", "empty", "symlink-blob", "symlink-host", "symlink-self", "symlink-dangling",
                      "hardlink", "directory", "fifo", "extra", "duplicate", "mode"))
    if op == "remove":
        del nodes[path]
        return nodes, f"{path} removed"
    if op == "empty":
        nodes[path] = Node("file", b"", mode=nodes[path].mode)
        return nodes, f"{path} emptied"
    if op.startswith("symlink"):
        depth = path.count("/")
        target = {
            "symlink-blob": "../" * 0 + draw.choice(others).rsplit("/", 1)[-1],
            "symlink-host": draw.choice(("/etc/passwd", "/dev/zero", "/dev/urandom", "/proc/self/environ",
                                         "../" * (depth + 3) + "etc/passwd")),
            "symlink-self": path.rsplit("/", 1)[-1],
            "symlink-dangling": "does-not-exist",
        }[op]
        nodes[path] = Node("symlink", linkname=target, mode=0o777)
        return nodes, f"{path} -> {target}"
    if op == "hardlink" and container == "tar":
        target = draw.choice(others)
        nodes[path] = Node("hardlink", linkname=target, mode=0o644)
        return nodes, f"{path} hardlinked to {target}"
    if op == "directory":
        nodes[path] = Node("dir", mode=0o755)
        return nodes, f"{path} is a directory"
    if op == "fifo":
        nodes[path] = Node("fifo", mode=0o644)
        return nodes, f"{path} is a FIFO"
    if op == "duplicate" and container == "tar":
        # The same member name twice, the second with other bytes: which one is read?
        order = list(nodes.items())
        order.append((path + "\0dup", Node("file", draw.choice((b"", b"{}", nodes[others[0]].data[:4096])))))
        out: dict[str, Node] = dict(order)
        return out, f"{path} appears twice"
    if op == "mode":
        nodes[path] = Node("file", nodes[path].data, mode=draw.choice((0o000, 0o200, 0o4777, 0o1000)))
        return nodes, f"{path} mode changed"
    extra = path.rsplit("/", 1)[0] + "/" + "0" * 64 if "/" in path else "extra-file"
    nodes[extra] = Node("file", draw.choice((b"", b"{}", b"x" * 100)))
    return nodes, f"extra file {extra}"


def outer_tar_op(draw: Draw, ci: bool = False) -> tuple[Callable[[bytes], bytes], str]:
    """A mutation of the outer archive's bytes, applied after it is written. The draws happen
    now, against a stand-in, so the mutant stays a function of its draws alone."""
    family = draw.choice(("tar-header", "tar-header", "tar-insert", "tar-structure"))
    seed = draw.integer(0, 2 ** 32 - 1)
    from .draw import RandomDraw  # the op's own choices: fixed by the seed drawn above

    notes: list[str] = []

    def op(data: bytes) -> bytes:
        new, note = mutate_tar(RandomDraw(seed), data, family, ci)
        notes.append(note)
        return new

    op.notes = notes  # type: ignore[attr-defined]
    return op, f"outer archive: {family} (seed {seed})"
