"""Terminal text for inspect and ls. Every string from an image goes through safe.display_*."""

from __future__ import annotations

from typing import Any

import stat
from typing import Iterable, TextIO

from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from ..fs.entry import Entry, EntryKind
from ..fs.tree import Node, Removed
from ..summary import ImageSummary
from .safe import display_path, display_text

__all__ = ["render_summary", "render_nodes", "render_entries", "render_removed", "mode_string", "human_size"]

_TYPE_CHAR = {
    EntryKind.FILE: "-", EntryKind.DIR: "d", EntryKind.SYMLINK: "l", EntryKind.HARDLINK: "h",
    EntryKind.CHAR: "c", EntryKind.BLOCK: "b", EntryKind.FIFO: "p", EntryKind.WHITEOUT: "w",
    EntryKind.OPAQUE: "o",
}


def mode_string(kind: EntryKind, mode: int) -> str:
    return _TYPE_CHAR[kind] + stat.filemode(mode)[1:]


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def render_summary(s: ImageSummary, console: Console) -> None:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows = [
        ("reference", s.reference),
        ("format", s.format),
        ("names", ", ".join(s.names) or "-"),
        ("platform", s.platform + (f"  (index has: {', '.join(s.platforms)})" if len(s.platforms) > 1 else "")),
        ("index", s.index_digest or "-"),
        ("manifest", s.manifest_digest or "- (legacy docker save has no manifest)"),
        ("config", s.config_digest),
        ("created", s.created or "-"),
        ("size", f"{human_size(s.size)} compressed, "
                 + (f"{human_size(s.uncompressed_size)} uncompressed" if s.uncompressed_size is not None
                    else "uncompressed not known (--no-layers)")),
    ]
    cfg = s.config
    rows += [
        ("entrypoint", _argv(cfg["entrypoint"])),
        ("cmd", _argv(cfg["cmd"])),
        ("user", cfg["user"] or "(root: no USER set)"),
        ("workdir", cfg["working_dir"] or "-"),
        ("ports", ", ".join(cfg["exposed_ports"]) or "-"),
        ("volumes", ", ".join(cfg["volumes"]) or "-"),
    ]
    for key, value in rows:
        head.add_row(key, Text(display_text(str(value))))
    for i, env in enumerate(cfg["env"]):
        head.add_row("env" if i == 0 else "", Text(display_text(env)))
    for i, (k, v) in enumerate(cfg["labels"].items()):
        head.add_row("labels" if i == 0 else "", Text(display_text(f"{k}={v}")))
    console.print(head)
    table = Table(title="layers", title_justify="left", show_edge=False, pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"), ("digest", "left"), ("comp", "left"), ("size", "right"),
        ("uncompressed", "right"), ("entries", "right"), ("created by", "left"))
    for col, just in columns:
        table.add_column(col, justify=just, overflow="fold")
    for layer in s.layers:
        table.add_row(
            str(layer.index),
            Text((layer.digest or layer.diff_id or "-")[:19]),
            layer.compression,
            human_size(layer.size),
            human_size(layer.uncompressed_size),
            "-" if layer.entries is None else f"{layer.entries}" + (f" ({layer.whiteouts} wh)" if layer.whiteouts else ""),
            Text(display_text(_shorten(layer.created_by or "-", 80))),
        )
    console.print(table)
    for prov in s.provenance:
        _render_provenance(prov, console)


def _render_provenance(prov: dict[str, Any], console: Console) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    source = prov.get("source") or {}
    rows = [("attestation", prov.get("attestation")), ("signature", f"{prov.get('signature')} ({prov.get('signer') or 'no signer'})")]
    if "error" in prov:
        rows.append(("unreadable", prov["error"]))
    else:
        rows += [("builder", prov.get("builder")), ("build type", prov.get("build_type")),
                 ("source", source.get("uri")), ("commit", source.get("commit"))]
        rows += [("base image", f"{b['reference']}@{b['digest']}") for b in prov.get("base_images", [])]
        rows += [("build arg", f"{k}={v}") for k, v in (prov.get("build_args") or {}).items()]
        rows.append(("SOURCE_DATE_EPOCH", prov.get("source_date_epoch")))
    for key, value in rows:
        grid.add_row(key, Text(display_text(str(value if value is not None else "-"))))
    console.print(Text("provenance", style="bold"))
    console.print(grid)


def _argv(value: list[str] | None) -> str:
    if value is None:
        return "-"
    return " ".join(value) if value else "[]"


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _line(kind: EntryKind, mode: int, uid: int, gid: int, size: int, layer: int | str, path: str, link: str, suffix: str = "") -> str:
    out = f"{mode_string(kind, mode)} {uid:>5}:{gid:<5} {size:>10}  L{layer:<3} {display_path(path)}"
    if link:
        out += f" -> {display_path(link)}"
    return out + suffix + "\n"


def render_nodes(nodes: Iterable[Node], fp: TextIO) -> None:
    for n in nodes:
        inode = n.inode
        suffix = " (implied)" if n.implied else ""
        if inode.nlink > 1 and inode.kind is not EntryKind.DIR:
            suffix += f" [links={inode.nlink}]"
        fp.write(_line(inode.kind, inode.mode, inode.uid, inode.gid, n.size, n.layer, n.path, n.linkname, suffix))


def render_entries(entries: Iterable[Entry], layer: int, fp: TextIO) -> None:
    for e in entries:
        if e.kind is EntryKind.WHITEOUT:
            fp.write(f"{'w---------':10} {'':11} {'':>10}  L{layer:<3} {display_path(e.path)} (whiteout)\n")
        elif e.kind is EntryKind.OPAQUE:
            fp.write(f"{'o---------':10} {'':11} {'':>10}  L{layer:<3} {display_path(e.path or '/')} (opaque: hides lower children)\n")
        else:
            fp.write(_line(e.kind, e.mode, e.uid, e.gid, e.size, layer, e.path or ".", e.linkname))


def render_removed(removed: Iterable[Removed], fp: TextIO) -> None:
    for r in removed:
        n = r.node
        fp.write(
            _line(n.kind, n.mode, n.uid, n.gid, n.size, n.layer, r.path, n.linkname,
                  f"  (removed in layer {r.layer} by {r.reason})")
        )
