"""The merged-tree cache `run` starts from (fs/treecache.py): a hit gives the tree a fresh build
gives, still verifies every layer blob, and a corrupt, forged or foreign entry is rebuilt."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import zstandard

from builders import TarBuilder, write_oci_layout
from inspectr import build_tree, open_image
from inspectr.errors import InspectrError
from inspectr.fs import treecache
from inspectr.fs.cache import LayerCache
from inspectr.fs.tree import Tree
from inspectr.fs.treecache import build_cached_tree, tree_key
from inspectr.limits import Limits
from inspectr.session import Session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def state(tree: Tree) -> list[Any]:
    """Everything a run (and export) reads from a tree, hard-link identity included."""
    nodes = [(n.to_json(), n.inode.layer, n.inode.offset, n.inode.id, n.inode.nlink) for n in tree.walk(include_start=True)]
    root = tree.root.inode
    return [nodes, (root.mode, root.uid, root.gid, root.layer, root.id, tree.root.layer), tree.limits,
            [(w.code, w.path, w.layer, w.message) for w in tree.warnings]]


def no_rebuild(*args: object, **kw: object) -> None:
    raise AssertionError("a hit must not index the layers")


def edge_image(tmp_path: Path) -> str:
    """Hard links, whiteouts, an opaque dir, xattrs, devices, a symlinked dir and a duplicate."""
    lower = (TarBuilder().add_dir("etc").add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
             .add_file("bin/tool", "x" * 100, mode=0o4755).add_hardlink("bin/tool2", "bin/tool")
             .add_dir("var/cache").add_file("var/cache/a", "a").add_symlink("lib", "usr/lib").add_dir("usr/lib")
             .add_char("dev/null", 1, 3).add_file("x", "1", xattrs={"user.k": b"\x00\xff"}).finish())
    upper = (TarBuilder().add_whiteout("x").add_opaque("var/cache").add_file("var/cache/b", "b")
             .add_file("lib/libz.so", "z").add_hardlink("bin/tool3", "bin/tool2", mode=0o755)
             .add_file("dup", "1").add_file("dup", "2").finish())
    return write_oci_layout(tmp_path / "img", [lower, upper]).path


@pytest.mark.parametrize("name", ["oci-busybox", "oci-layered", "docker25-busybox.tar", "oci-umoci-insert", "edge"])
def test_a_hit_gives_the_tree_a_build_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    reference = edge_image(tmp_path) if name == "edge" else str(FIXTURES / name)
    fresh = build_tree(open_image(reference))
    cache = LayerCache(tmp_path / "c")
    stored = build_cached_tree(open_image(reference), session=Session(cache=cache))
    monkeypatch.setattr(treecache, "index_layers", no_rebuild)
    hit = build_cached_tree(open_image(reference), session=Session(cache=cache))
    assert state(stored) == state(fresh)
    assert state(hit) == state(fresh)


def test_layers_without_blob_digests_are_built_not_cached(tmp_path: Path) -> None:
    image = open_image(FIXTURES / "docker-busybox.tar")  # docker save before v25: no layer blob digests
    assert tree_key(image) is None
    cache = LayerCache(tmp_path / "c")
    assert state(build_cached_tree(image, session=Session(cache=cache))) == state(build_tree(image))
    assert not any(e.key.startswith("tree ") for e in cache.entries())


def test_a_hit_still_verifies_every_layer_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image_dir = tmp_path / "img"
    shutil.copytree(FIXTURES / "oci-layered", image_dir)
    cache = LayerCache(tmp_path / "c")
    image = open_image(image_dir)
    build_cached_tree(image, session=Session(cache=cache))
    monkeypatch.setattr(treecache, "index_layers", no_rebuild)
    verified: list[str] = []
    real = treecache.run_layer_jobs

    def counting(jobs, limits, *, session):  # type: ignore[no-untyped-def]
        assert all(verify_only for _, verify_only in jobs)
        verified.extend(str(ref.digest) for ref, _ in jobs)
        return real(jobs, limits, session=session)

    monkeypatch.setattr(treecache, "run_layer_jobs", counting)
    build_cached_tree(open_image(image_dir), session=Session(cache=cache))
    assert verified == [str(layer.digest) for layer in image.layers]
    top = image_dir / "blobs" / "sha256" / str(image.layers[-1].digest).split(":")[1]
    data = bytearray(top.read_bytes())
    data[-5] ^= 1
    top.write_bytes(bytes(data))
    with pytest.raises(InspectrError) as info:
        build_cached_tree(open_image(image_dir), session=Session(cache=cache))
    assert info.value.error_class == "digest-mismatch"


def test_a_blob_verified_earlier_in_the_session_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = LayerCache(tmp_path / "c")
    image = open_image(FIXTURES / "oci-layered")
    session = Session(cache=cache)
    build_cached_tree(image, session=session)  # a miss: indexed and verified in this session
    monkeypatch.setattr(treecache, "index_layers", no_rebuild)
    reads: list[object] = []
    monkeypatch.setattr(treecache, "run_layer_jobs", lambda jobs, limits, *, session: reads.extend(jobs) or [])
    build_cached_tree(image, session=session)
    assert reads == []


def _entry(cache: LayerCache) -> Path:
    (entry,) = [e for e in cache.entries() if e.key.startswith("tree ")]
    return entry.path


def _rewrite(path: Path, edit: Any, rehash: bool = True) -> None:
    header_line, _, payload = zstandard.ZstdDecompressor().decompress(path.read_bytes()).partition(b"\n")
    header, doc = json.loads(header_line), json.loads(payload)
    edit(header, doc)
    payload = json.dumps(doc).encode()
    if rehash:
        header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    path.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(header).encode() + b"\n" + payload))


def _drop_parent(header: dict[str, Any], doc: dict[str, Any]) -> None:
    doc["nodes"] = [n for n in doc["nodes"] if n[0] != "etc"]  # etc/passwd without etc


def _other_key(header: dict[str, Any], doc: dict[str, Any]) -> None:
    header["key"] = header["key"].replace("strict:0", "strict:1")


def _forged_mode(header: dict[str, Any], doc: dict[str, Any]) -> None:
    doc["inodes"][1][1] = 0o7777


@pytest.mark.parametrize("damage", ["garbage", "inconsistent", "other key", "payload edited"])
def test_corrupt_forged_or_foreign_entries_are_rebuilt_not_trusted(tmp_path: Path, damage: str) -> None:
    cache = LayerCache(tmp_path / "c")
    reference = edge_image(tmp_path)
    fresh = state(build_tree(open_image(reference)))
    build_cached_tree(open_image(reference), session=Session(cache=cache))
    path = _entry(cache)
    match damage:
        case "garbage":
            path.write_bytes(b"\x28\xb5\x2f\xfd garbage")
        case "inconsistent":
            _rewrite(path, _drop_parent)
        case "other key":
            _rewrite(path, _other_key)
        case "payload edited":
            _rewrite(path, _forged_mode, rehash=False)
    assert state(build_cached_tree(open_image(reference), session=Session(cache=cache))) == fresh
    assert state(build_cached_tree(open_image(reference), session=Session(cache=cache))) == fresh  # rewritten


def test_the_key_holds_every_layer_limits_and_strict() -> None:
    image = open_image(FIXTURES / "oci-layered")
    key = tree_key(image)
    assert key is not None and key.startswith("tree sha256:")
    assert tree_key(image, strict=True) != key
    assert tree_key(dataclasses.replace(image, limits=Limits(max_symlink_hops=8))) != key
    assert tree_key(dataclasses.replace(image, layers=image.layers[:-1])) != key
    other = dataclasses.replace(image.layers[-1], media_type="application/vnd.oci.image.layer.v1.tar+zstd")
    assert tree_key(dataclasses.replace(image, layers=(*image.layers[:-1], other))) != key


def test_no_cache_neither_reads_nor_writes(tmp_path: Path) -> None:
    image = open_image(FIXTURES / "oci-layered")
    assert state(build_cached_tree(image, session=Session(cache=None))) == state(build_tree(image))
    assert not (tmp_path / "c").exists()


def test_tree_entries_are_listed_and_pruned_with_the_cache(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "c")
    build_cached_tree(open_image(FIXTURES / "oci-busybox"), session=Session(cache=cache))
    (entry,) = [e for e in cache.entries() if e.key.startswith("tree ")]
    assert entry.key.startswith("tree sha256:")  # the ChainID first: `cache ls` shows it
    cache.prune()
    assert cache.entries() == []
