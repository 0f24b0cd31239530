"""inspectr: a forensic tool for container images.

The library API: `open_image` resolves a reference to a verified Image (index, manifest,
config); `build_tree` streams and verifies every layer into a union Tree with provenance.
"""

from .errors import InspectrError
from .fs.build import build_tree, index_layers
from .fs.entry import EntryKind
from .fs.tree import Node, Tree, apply_layers
from .image import Image, LayerRef
from .limits import Limits
from .sources.detect import open_image

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
