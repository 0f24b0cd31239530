"""The seeds: real fixture images (fixtures/, made by umoci, skopeo and docker-save formats) read
into memory as an ordered map of files, and written back out as a mutant (a directory, or a tar
whose every header this module writes itself)."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from .tarfmt import header, inflate, padded, sniff

__all__ = ["FIXTURES", "Node", "SeedSpec", "Seed", "CORPUS", "load_seed", "read_dir", "write_image", "reference", "json_docs"]

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"


@dataclass(frozen=True)
class Node:
    """One file of an image directory or one member of an outer archive."""

    kind: str  # file | dir | symlink | hardlink | fifo
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644


@dataclass(frozen=True)
class SeedSpec:
    path: str                     # below fixtures/
    ref: str = ""                 # a name inside the layout, when the image needs one
    verify: tuple[str, ...] = ()  # extra `verify` arguments (paths below fixtures/ are made absolute)

    @property
    def name(self) -> str:
        return self.path


@dataclass
class Seed:
    spec: SeedSpec
    container: str                 # "dir" or "tar"
    nodes: dict[str, Node]
    layers: frozenset[str]         # paths of the nodes that are layer blobs
    cat_paths: tuple[str, ...]     # regular files (and a symlink) of the image, for `cat`
    verify_args: tuple[str, ...] = ()
    uncompressed: dict[str, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def source(self) -> Path:
        return FIXTURES / self.spec.path


CORPUS: tuple[SeedSpec, ...] = (
    SeedSpec("oci-busybox"),
    SeedSpec("oci-busybox.tar"),
    SeedSpec("docker-busybox.tar"),
    SeedSpec("docker25-busybox.tar"),
    SeedSpec("dir-busybox"),
    SeedSpec("oci-gzip"),
    SeedSpec("oci-zstd"),
    SeedSpec("oci-uncompressed"),
    SeedSpec("oci-layered"),
    SeedSpec("oci-multiarch"),
    SeedSpec("oci-multi-image", ref="one"),
    SeedSpec("oci-umoci-insert"),
    SeedSpec("diff/changed.tar"),
    SeedSpec("diff/ts0-1-docker.tar"),
    SeedSpec("diff/ts0-1-zstd"),
    SeedSpec("audit/risky.tar"),
    SeedSpec("signatures/cosign-layout", verify=("--key", "signatures/cosign-a.pub")),
    SeedSpec("signatures/bundle-layout", verify=("--key", "signatures/bundle-a.pub.pem")),
    SeedSpec("signatures/dir-rsa", verify=("--keyring", "signatures/rsa.pub.gpg")),
)


def _is_layer(data: bytes) -> bool:
    return sniff(data) != "none" or data[257:262] == b"ustar"


def read_dir(root: Path) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir != ".":
            nodes[rel_dir] = Node("dir", mode=0o755)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                nodes[rel] = Node("symlink", linkname=os.readlink(path), mode=0o777)
            elif stat.S_ISREG(st.st_mode):
                nodes[rel] = Node("file", Path(path).read_bytes(), mode=stat.S_IMODE(st.st_mode))
    return nodes


def _read_tar(path: Path) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    with tarfile.open(path) as tar:  # the fixtures are trusted: this reads the seed, never a mutant
        for info in tar:
            name = info.name
            if info.isdir():
                nodes[name] = Node("dir", mode=info.mode)
            elif info.issym():
                nodes[name] = Node("symlink", linkname=info.linkname, mode=info.mode)
            elif info.islnk():
                nodes[name] = Node("hardlink", linkname=info.linkname, mode=info.mode)
            elif info.isfile():
                fp = tar.extractfile(info)
                assert fp is not None
                nodes[name] = Node("file", fp.read(), mode=info.mode)
    return nodes


def _cat_paths(layers: list[bytes]) -> tuple[str, ...]:
    files: list[str] = []
    links: list[str] = []
    for data in reversed(layers):
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for info in tar:
                    name = os.path.normpath("/" + info.name).lstrip("/")
                    if not name or "/.wh." in "/" + name:
                        continue
                    if info.isfile() and name not in files:
                        files.append(name)
                    elif info.issym() and name not in links:
                        links.append(name)
        except tarfile.TarError:
            continue
    preferred = [p for p in ("etc/passwd", "etc/os-release", "bin/sh") if p in files + links]
    rest = [p for p in files if p not in preferred]
    return tuple(preferred + rest[:3] + links[:1])


@lru_cache(maxsize=None)
def load_seed(spec: SeedSpec) -> Seed:
    source = FIXTURES / spec.path
    container = "dir" if source.is_dir() else "tar"
    nodes = read_dir(source) if container == "dir" else _read_tar(source)
    layers = frozenset(p for p, n in nodes.items() if n.kind == "file" and n.data and _is_layer(n.data))
    uncompressed = {p: inflate(nodes[p].data) or b"" for p in sorted(layers)}
    verify_args = tuple(str(FIXTURES / a) if "/" in a else a for a in spec.verify)
    return Seed(spec, container, nodes, layers, _cat_paths(list(uncompressed.values())), verify_args, uncompressed)


def reference(seed: Seed, path: Path) -> str:
    """How a command names the mutant written at `path`."""
    if not seed.spec.ref:
        return str(path)
    transport = "oci" if seed.container == "dir" else "oci-archive"
    return f"{transport}:{path}:{seed.spec.ref}"


def _tar_bytes(nodes: dict[str, Node]) -> bytes:
    out = bytearray()
    for name, node in nodes.items():
        raw = name.encode("utf-8", "surrogateescape")
        if node.kind == "dir":
            out += header(raw.rstrip(b"/") + b"/", typeflag=b"5", mode=node.mode)
        elif node.kind == "symlink":
            out += header(raw, typeflag=b"2", linkname=node.linkname.encode(), mode=node.mode)
        elif node.kind == "hardlink":
            out += header(raw, typeflag=b"1", linkname=node.linkname.encode(), mode=node.mode)
        elif node.kind == "fifo":
            out += header(raw, typeflag=b"6", mode=node.mode)
        else:
            out += header(raw, size=len(node.data), mode=node.mode) + padded(node.data)
    return bytes(out + b"\0" * 1024)


def write_image(nodes: dict[str, Node], container: str, dest: Path,
                outer: list[Callable[[bytes], bytes]] | None = None) -> Path:
    """Write a mutant: a directory tree, or an archive whose bytes `outer` may still change."""
    if container == "tar":
        data = _tar_bytes(nodes)
        for op in outer or []:
            data = op(data)
        dest.write_bytes(data)
        return dest
    dest.mkdir()
    for name, node in nodes.items():
        path = dest / name
        if not path.resolve().is_relative_to(dest.resolve()):
            continue  # a mutated name must not make the harness itself write outside the mutant
        path.parent.mkdir(parents=True, exist_ok=True)
        if node.kind == "dir":
            path.mkdir(exist_ok=True)
        elif node.kind == "symlink":
            if not path.exists() and not path.is_symlink():
                os.symlink(node.linkname, path)
        elif node.kind == "hardlink":
            target = dest / node.linkname
            if target.is_file() and not path.exists():
                os.link(target, path)
        elif node.kind == "fifo":
            if not path.exists():
                os.mkfifo(path)
        elif not path.exists() or path.is_file():
            head = node.data.rstrip(b"\0") if len(node.data) > (1 << 20) else node.data
            path.write_bytes(head)
            if len(head) < len(node.data):
                os.truncate(path, len(node.data))  # a long run of zeros becomes a hole
            os.chmod(path, node.mode & 0o777 or 0o644)
    return dest


def json_docs(nodes: dict[str, Node]) -> dict[str, object]:
    """The nodes that hold one strict JSON value (no duplicate keys), parsed."""
    out: dict[str, object] = {}

    def no_dups(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    for path, node in nodes.items():
        if node.kind != "file" or not node.data[:1] in (b"{", b"[") or len(node.data) > (4 << 20):
            continue
        try:
            out[path] = json.loads(node.data, object_pairs_hook=no_dups)
        except (ValueError, RecursionError):
            continue
    return out
