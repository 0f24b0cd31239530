"""inspectr: a forensic tool for container images.

The library API: `open_image` resolves a reference to a verified Image (index, manifest,
config); `build_tree` streams and verifies every layer into a union Tree with provenance.
Names are imported on first use (PEP 562), so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "InspectrError",
    "Image",
    "LayerRef",
    "Limits",
    "Session",
    "EntryKind",
    "Node",
    "Tree",
    "Container",
    "open_container",
    "open_image",
    "build_tree",
    "index_layers",
    "apply_layers",
    "diff_images",
    "verify_image",
    "audit_image",
    "run_image",
    "behave",
    "run_gate",
]

if TYPE_CHECKING:  # what type checkers see; at run time the names load on first use
    from .audit.engine import audit_image
    from .diff.engine import diff_images
    from .errors import InspectrError
    from .fs.build import build_tree, index_layers
    from .fs.entry import EntryKind
    from .fs.tree import Node, Tree, apply_layers
    from .gate.engine import run_gate
    from .image import Image, LayerRef
    from .limits import Limits
    from .runtime.behave import behave
    from .runtime.run import run_image
    from .session import Session
    from .store import Container
    from .sources.detect import open_container, open_image
    from .verify.engine import verify_image

__version__ = "0.1.0"

_WHERE = {
    "InspectrError": ".errors", "Image": ".image", "LayerRef": ".image", "Limits": ".limits",
    "EntryKind": ".fs.entry", "Node": ".fs.tree", "Tree": ".fs.tree", "apply_layers": ".fs.tree",
    "open_image": ".sources.detect", "open_container": ".sources.detect", "Container": ".store",
    "build_tree": ".fs.build", "index_layers": ".fs.build", "Session": ".session",
    "diff_images": ".diff.engine", "verify_image": ".verify.engine", "audit_image": ".audit.engine",
    "run_image": ".runtime.run", "behave": ".runtime.behave", "run_gate": ".gate.engine",
}


def __getattr__(name: str) -> Any:  # PEP 562: `import inspectr` stays cheap
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'inspectr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
