"""`sbom -f text|json`: the package inventory as a terminal table or inspectr's own JSON
(docs/formats/inventory.md). CycloneDX and SPDX are in sbom.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from ..inventory_model import Inventory
from ..package import Package
from .json import dump_document
from .safe import display_text

if TYPE_CHECKING:
    from .table import Target

__all__ = ["inventory_to_json", "present_text", "present_json"]


def _package(p: Package) -> dict[str, Any]:
    return {"ecosystem": p.ecosystem, "name": p.name, "version": p.version, "arch": p.arch, "source": p.source,
            "purl": p.purl, "location": p.location, "layer": p.layer, "parent": p.parent or None,
            "files": [{"path": f.path, "digest": f.digest or None, "conffile": f.conffile} for f in p.files]}


def inventory_to_json(inv: Inventory) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for p in inv.packages:
        counts[p.ecosystem] = counts.get(p.ecosystem, 0) + 1
    return {
        "reference": inv.reference, "manifest_digest": inv.image_digest or None, "config_digest": inv.config_digest,
        "layers": [{"index": li.index, "digest": li.digest, "diff_id": li.diff_id, "created_by": li.created_by}
                   for li in inv.layers],
        "counts": dict(sorted(counts.items())),
        "packages": [_package(p) for p in inv.packages],
        "notices": [{"code": n.code, "path": n.path, "layer": n.layer, "message": n.message} for n in inv.notices],
    }


def present_json(inv: Inventory, to: Target) -> None:
    dump_document("inventory", inventory_to_json(inv), to.out)


def present_text(inv: Inventory, to: Target) -> None:
    console = to.console()
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("ecosystem", "name", "version", "arch", "layer", "files", "where"):
        table.add_column(column, no_wrap=column in ("ecosystem", "layer", "files"))
    for p in inv.packages:
        table.add_row(p.ecosystem, display_text(p.name), display_text(p.version), display_text(p.arch),
                      "-" if p.layer is None else str(p.layer), str(len(p.files)),
                      display_text(p.location if p.ecosystem not in ("deb", "apk", "rpm") else ""))
    console.print(table)
    counts: dict[str, int] = {}
    for p in inv.packages:
        counts[p.ecosystem] = counts.get(p.ecosystem, 0) + 1
    summary = ", ".join(f"{n} {eco}" for eco, n in sorted(counts.items())) or "no package database found"
    console.print(Text(f"{len(inv.packages)} packages: {summary}"))
    for n in inv.notices:
        console.print(Text(f"note[{n.code}]: {display_text(n.message)}", style="yellow"))
