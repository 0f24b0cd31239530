"""Helpers shared by the seek tests: gzip points (test_seekpoints.py) and zstd frame boundaries
(test_seek_zstd.py)."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

import builders
from builders import write_oci_layout

from inspectr.fs import seekpoints
from inspectr.fs.build import build_tree
from inspectr.fs.content import content_sources, stream_contents
from inspectr.fs.entry import EntryKind
from inspectr.fs.tree import Inode, Node
from inspectr.image import Image
from inspectr.session import Session


def random_files(rng: random.Random, words: list[str]) -> dict[str, bytes]:
    """About 2.5-3 MB: text (deflate back-references reach into the 32 KiB windows) and random bytes."""
    out: dict[str, bytes] = {}
    for i in range(24):
        if i % 5 == 4:
            out[f"data/bin{i:02d}.bin"] = rng.randbytes(rng.randrange(20_000, 200_000))
        else:
            out[f"data/text{i:02d}.txt"] = " ".join(rng.choice(words) for _ in range(rng.randrange(2_000, 30_000))).encode()
    out["data/empty"] = b""
    return out


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(autouse=True)
def small_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A point every 64 KiB at most, so these small layers get several, and seeking always pays.
    monkeypatch.setattr(seekpoints, "MIN_SPACING", 64 << 10)
    monkeypatch.setattr(seekpoints, "_FIXED_COST_BYTES", 0)


def blob_bytes(image: Image) -> bytes:
    with image.layers[0].open() as fp:
        return fp.read()


def files_of(image: Image, session: Session) -> list[Node]:
    return [node for node in build_tree(image, session=session).walk() if node.inode.kind is EntryKind.FILE]


def read_files(image: Image, nodes: list[Node], session: Session | None) -> dict[str, bytes]:
    """Each node's bytes as stream_contents gives them (through points when the session allows)."""
    got: dict[int, bytearray] = {}
    inodes: list[Inode] = [node.inode for node in nodes]
    stream_contents(image, content_sources(inodes), lambda inode: got.setdefault(inode.id, bytearray()).extend,
                    lambda inode: None, session=session)
    return {node.path: bytes(got[node.inode.id]) for node in nodes}


def expected_files(reference: dict[str, bytes], nodes: list[Node]) -> dict[str, bytes]:
    return {node.path: reference[node.path.lstrip("/")] for node in nodes}


def cat_three_times(image: str, path: str, cache: str) -> list[bytes]:
    """`inspectr cat` of one file three times with one cache: the first read indexes, the second
    records seek points, the third reads through them."""
    from click.testing import CliRunner

    from inspectr.cli import cli

    outputs = []
    for _ in range(3):
        result = CliRunner().invoke(cli, ["--cache-dir", cache, "cat", image, path])
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout_bytes)
    return outputs


def layout_compressed_by(compress: Callable[..., bytes], path: Path, layers: list[bytes], **kwargs: Any) -> Path:
    """An OCI layout whose layers `compress` wrote (multi-member gzip, chunked zstd, odd shapes)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(builders, "compress", compress)
    try:
        return Path(write_oci_layout(path, layers, **kwargs).path)
    finally:
        mp.undo()


def buildah_with(base: Path, files: dict[str, bytes]) -> tuple[list[str], str]:
    """A buildah working container (vfs storage under `base`) holding `files` under /data:
    the command prefix and the container, to commit in whatever form a test needs."""
    ctx = base / "ctx"
    for name, data in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_bytes(data)
    buildah = [tool("buildah"), "--root", str(base / "root"), "--runroot", str(base / "run"), "--storage-driver", "vfs"]
    container = subprocess.run([*buildah, "from", "scratch"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*buildah, "copy", container, str(ctx / "data"), "/data/"], check=True, capture_output=True)
    return buildah, container
