"""The file tree is the architecture (STYLE.md): imports flow one way."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "inspectr"

# Lower layers must not import higher ones.
FORBIDDEN = {
    "untrusted": {"fs", "sources", "present", "cli", "image", "summary"},
    "fs": {"present", "cli"},
    "sources": {"present", "cli", "fs.tree", "fs.build"},
    "present": {"cli"},
    # the network layer knows wire formats and the cache, not images, trees or engines
    "registry": {"fs.tree", "fs.build", "sources", "image", "diff", "verify", "audit", "gate", "runtime", "present", "cli"},
}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    rel = path.relative_to(PKG).with_suffix("")
    package = list(rel.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                out.append(("inspectr." + name if name else "inspectr", node.level))
            else:
                out.append((node.module or "", 0))
    return out


def test_only_cli_imports_click_and_only_cli_and_present_import_rich() -> None:
    for path in PKG.rglob("*.py"):
        top = path.relative_to(PKG).parts[0]
        for name, _ in _imports(path):
            if name.split(".")[0] == "click":
                assert top == "cli", f"{path}: imports click"
            if name.split(".")[0] == "rich":
                assert top in ("cli", "present"), f"{path}: imports rich"


def test_imports_flow_one_way() -> None:
    for path in PKG.rglob("*.py"):
        top = path.relative_to(PKG).parts[0]
        banned = FORBIDDEN.get(top)
        if not banned:
            continue
        for name, _ in _imports(path):
            if not name.startswith("inspectr."):
                continue
            target = name[len("inspectr."):]
            for b in banned:
                assert not (target == b or target.startswith(b + ".")), f"{path}: imports inspectr.{target}"


def test_tarfile_is_never_used_to_read_images() -> None:
    # tarfile may build headers for export, but never parse image bytes (unionfs.md §4).
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        assert "tarfile.open" not in text, path
        assert ".extract" not in text or "tarfile" not in text, path
