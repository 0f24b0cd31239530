"""inspectr: a forensic tool for container images.

The library API: `open_image` resolves a reference to a verified Image (index, manifest,
config); `build_tree` streams and verifies every layer into a union Tree with provenance.
Names are imported on first use (PEP 562), so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "InspectrError",
    "Image",
    "LayerRef",
    "Limits",
    "EntryKind",
    "Node",
    "Tree",
    "open_image",
    "build_tree",
    "index_layers",
    "apply_layers",
]

__version__ = "0.1.0"

_WHERE = {
    "InspectrError": ".errors", "Image": ".image", "LayerRef": ".image", "Limits": ".limits",
    "EntryKind": ".fs.entry", "Node": ".fs.tree", "Tree": ".fs.tree", "apply_layers": ".fs.tree",
    "open_image": ".sources.detect", "build_tree": ".fs.build", "index_layers": ".fs.build",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'inspectr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
