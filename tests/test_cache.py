"""The layer-index cache: hits give the same tree, corrupt entries are rebuilt, blobs are still
verified on a hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import TarBuilder, write_oci_layout
from inspectr import build_tree, open_image
from inspectr.session import Session
from inspectr.cli import cli
from inspectr.errors import InspectrError
from inspectr.fs.cache import LayerCache

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def listing(tree) -> list:  # type: ignore[no-untyped-def,type-arg]
    return [n.to_json() for n in tree.walk()]


def test_a_cache_hit_gives_the_same_tree(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "c")
    image = open_image(FIXTURES / "oci-layered")
    cold = build_tree(image, session=Session(cache=cache))
    assert len(cache.entries()) == 4
    warm = build_tree(open_image(FIXTURES / "oci-layered"), session=Session(cache=cache))
    assert listing(warm) == listing(cold)
    assert [r.path for r in warm.deleted] == [r.path for r in cold.deleted]


def test_corrupt_or_foreign_entries_are_rebuilt_not_trusted(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "c")
    image = open_image(FIXTURES / "oci-gzip")
    cold = listing(build_tree(image, session=Session(cache=cache)))
    for entry in cache.entries():
        entry.path.write_bytes(b"\x28\xb5\x2f\xfd garbage")
    assert listing(build_tree(image, session=Session(cache=cache))) == cold
    for entry in cache.entries():  # rewritten with a valid entry
        assert entry.key.startswith("sha256:")


def test_a_hit_still_verifies_the_blob(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "c")
    written = write_oci_layout(tmp_path / "img", [TarBuilder().add_file("a", "1").finish()])
    build_tree(open_image(written.path), session=Session(cache=cache))
    layer = Path(written.path) / "blobs" / "sha256" / written.layer_digests[0].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-5] ^= 1
    layer.write_bytes(bytes(data))
    with pytest.raises(InspectrError) as info:
        build_tree(open_image(written.path), session=Session(cache=cache))
    assert info.value.error_class == "digest-mismatch"


def test_cli_cache_ls_and_prune(tmp_path: Path) -> None:
    runner = CliRunner()
    cache_dir = str(tmp_path / "c")
    assert runner.invoke(cli, ["--cache-dir", cache_dir, "ls", str(FIXTURES / "oci-gzip")]).exit_code == 0
    out = runner.invoke(cli, ["--cache-dir", cache_dir, "cache", "ls"])
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 2
    assert runner.invoke(cli, ["--cache-dir", cache_dir, "cache", "prune"]).exit_code == 0
    assert runner.invoke(cli, ["--cache-dir", cache_dir, "cache", "ls"]).stdout == ""
    assert runner.invoke(cli, ["--no-cache", "ls", str(FIXTURES / "oci-gzip")]).exit_code == 0


def test_diff_uses_the_cache_and_gives_the_same_result(tmp_path: Path) -> None:
    runner = CliRunner()
    cache_dir = str(tmp_path / "c")
    args = ["diff", str(FIXTURES / "diff" / "ts0-1.tar"), str(FIXTURES / "diff" / "changed.tar"), "--format", "json"]
    cold = runner.invoke(cli, ["--cache-dir", cache_dir, *args])
    warm = runner.invoke(cli, ["--cache-dir", cache_dir, *args])
    assert cold.exit_code == warm.exit_code == 1
    assert json.loads(cold.stdout) == json.loads(warm.stdout)


def test_gc_paused_restores_the_collector_even_on_error() -> None:
    import gc

    from inspectr.fs.gcpause import gc_paused

    seen: list[bool] = []

    @gc_paused
    def inner() -> None:
        seen.append(gc.isenabled())

    @gc_paused
    def outer(fail: bool) -> None:
        inner()
        seen.append(gc.isenabled())  # the inner pause did not switch it back on
        if fail:
            raise ValueError("boom")

    assert gc.isenabled()
    outer(False)
    with pytest.raises(ValueError):
        outer(True)
    assert seen == [False, False, False, False] and gc.isenabled()
    gc.disable()
    try:
        outer(False)
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()


def test_prune_removes_unpacked_layer_dirs_and_stale_builds_but_not_fresh_ones(tmp_path: Path) -> None:
    import os
    import time

    from inspectr.runtime.rootfs import prune_unpacked, unpacked_dirs

    layers = tmp_path / "layers"
    (layers / "abc" / "fs").mkdir(parents=True)
    (layers / "abc" / "fs" / "file").write_text("12345")
    (layers / "abc" / "complete").write_text("1\n")
    (layers / ".build-killed" / "fs").mkdir(parents=True)
    (layers / ".build-running").mkdir()
    hour_and_more = time.time() - 4000
    os.utime(layers / ".build-killed", (hour_and_more, hour_and_more))
    assert sorted(p.name for p, _, _ in unpacked_dirs(tmp_path)) == [".build-killed", "abc"]
    assert prune_unpacked(None, tmp_path) == (2, 5 + 2)  # the file and the marker
    assert sorted(p.name for p in layers.iterdir()) == [".build-running"]


def test_a_lowered_limit_applies_to_a_cached_layer_as_to_a_fresh_read(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # A small gzip bomb: 64 MiB of zeros. Cached once with the default limits, it must still be
    # refused by `--limit max_layer_bytes=16M`, exactly as `--no-cache` refuses it (issue 20).
    from builders import TarBuilder, write_oci_layout
    from clirun import run_main

    written = write_oci_layout(tmp_path / "bomb", [TarBuilder().add_file("zeros", b"\0" * (64 << 20)).finish()])
    cache = tmp_path / "cache"
    code, _, err = run_main(capsys, "--cache-dir", str(cache), "ls", str(written.path))
    assert code == 0, err
    fresh = run_main(capsys, "--no-cache", "ls", str(written.path), "--limit", "max_layer_bytes=16M")
    cached = run_main(capsys, "--cache-dir", str(cache), "ls", str(written.path), "--limit", "max_layer_bytes=16M")
    assert fresh[0] == cached[0] == 2
    assert "error[size-limit-exceeded]" in fresh[2] and "error[size-limit-exceeded]" in cached[2], (fresh, cached)
    for (code, out, _) in (fresh, cached):
        assert out == ""


@pytest.mark.parametrize("problem", ["world-writable", "other-owner"])
def test_a_cache_dir_others_can_write_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str) -> None:
    import os

    from clirun import run_main

    cache = tmp_path / "cache"
    cache.mkdir()
    if problem == "world-writable":
        cache.chmod(0o777)
    else:
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(cache, 65534, 65534)
    code, out, err = run_main(capsys, "--cache-dir", str(cache), "ls", str(FIXTURES / "oci-busybox"))
    assert code == 2 and out == "" and "error[usage]" in err and str(cache) in err, err
    assert ("writable by others" if problem == "world-writable" else "owned by uid 65534") in err
    code, _, _ = run_main(capsys, "--no-cache", "ls", str(FIXTURES / "oci-busybox"))
    assert code == 0


def test_a_new_cache_dir_is_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clirun import run_main

    cache = tmp_path / "new" / "cache"
    assert run_main(capsys, "--cache-dir", str(cache), "ls", str(FIXTURES / "oci-busybox"))[0] == 0
    assert cache.stat().st_mode & 0o777 == 0o700


def test_verify_and_gate_never_reach_a_verdict_through_a_cached_index(tmp_path: Path) -> None:
    # Issue 20 ("the cache as a trust boundary"): the user's account can forge a cache entry with
    # a recomputed checksum. Here the forged entry claims that a layer inflates to the diff_id an
    # altered config names. ls trusts its cache (documented); verify and gate must not.
    import hashlib

    import zstandard

    from fuzz.fixup import edit_blob

    src = FIXTURES / "oci-busybox"
    index = json.loads((src / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((src / "blobs/sha256" / manifest_digest.split(":")[1]).read_bytes())
    config_digest = manifest["config"]["digest"]
    config = json.loads((src / "blobs/sha256" / config_digest.split(":")[1]).read_bytes())
    real_diff_id = config["rootfs"]["diff_ids"][0]
    fake_diff_id = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
    config["rootfs"]["diff_ids"][0] = fake_diff_id
    image = edit_blob(src, tmp_path / "img", config_digest, json.dumps(config).encode())
    cache = tmp_path / "cache"
    assert CliRunner().invoke(cli, ["--cache-dir", str(cache), "ls", str(src)]).exit_code == 0  # a genuine entry
    # The forgery: the genuine entry re-keyed to the fake diff_id, checksum recomputed.
    layer = manifest["layers"][0]
    genuine = f"{layer['digest']}|{layer['mediaType']}|{real_diff_id}|0"
    entry = cache / "layers" / hashlib.sha256(genuine.encode()).hexdigest()[:2] / f"{hashlib.sha256(genuine.encode()).hexdigest()}.json.zst"
    header_line, _, payload = zstandard.ZstdDecompressor().decompress(entry.read_bytes()).partition(b"\n")
    header = json.loads(header_line)
    assert header["key"] == genuine
    doc = json.loads(payload)
    doc["diff_id"] = fake_diff_id
    payload = json.dumps(doc).encode()
    header.update(key=f"{layer['digest']}|{layer['mediaType']}|{fake_diff_id}|0", payload_sha256=hashlib.sha256(payload).hexdigest())
    name = hashlib.sha256(header["key"].encode()).hexdigest()
    forged = cache / "layers" / name[:2] / f"{name}.json.zst"
    forged.parent.mkdir(parents=True, exist_ok=True)
    forged.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(header).encode() + b"\n" + payload))

    assert CliRunner().invoke(cli, ["--cache-dir", str(cache), "ls", str(image)]).exit_code == 0  # the cache is trusted here
    result = CliRunner().invoke(cli, ["--cache-dir", str(cache), "verify", "--format", "json", str(image)])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["verdict"] == "integrity-failed"
    assert "diffid-mismatch" in {c["error"] for c in doc["checks"]}
    gate = CliRunner().invoke(cli, ["--cache-dir", str(cache), "gate", "--release", str(image), "--rebuild", str(image),
                                    "--json", str(tmp_path / "g.json")])
    assert gate.exit_code == 1 and json.loads((tmp_path / "g.json").read_text())["verdict"] == "untrusted"


@pytest.mark.parametrize("version", [3, 4])
def test_an_entry_in_the_previous_format_is_rebuilt_not_misread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                version: int) -> None:
    # Format 4 added the count of gzip members (seek points are used only when it is small). An
    # entry written by format 3, or one that says 4 but lacks the field, is not decoded into an
    # index with a made-up count: the layer is indexed again and the entry rewritten.
    from inspectr.fs import build, cache as cache_mod

    assert cache_mod.VERSION == 4
    layer = TarBuilder().add_file("a", "1").finish()
    written = write_oci_layout(tmp_path / "img", [layer])
    cache = LayerCache(tmp_path / "c")
    build_tree(open_image(written.path), session=Session(cache=cache))
    (entry,) = cache.entries()
    ref = open_image(written.path).layers[0]
    key = cache_mod._key(ref, False)
    assert key is not None and entry.key == key
    old = cache_mod.read_entry(entry.path, cache_mod.FORMAT, 4, key)
    del old["gzip_members"]  # the previous format's document
    cache_mod.write_entry(entry.path, cache_mod.FORMAT, version, key, old)
    assert cache.get(ref, 0) is None

    indexed: list[int] = []
    real = build.index_layer
    monkeypatch.setattr(build, "index_layer", lambda *a, **kw: indexed.append(1) or real(*a, **kw))
    session = Session(cache=cache)
    build_tree(open_image(written.path), session=session)
    assert indexed == [1]
    doc = cache_mod.read_entry(entry.path, cache_mod.FORMAT, 4, key)
    assert doc is not None and doc["gzip_members"] == 1
    hit = cache.get(ref, 0)
    assert hit is not None and hit.gzip_members == 1


def test_an_index_pickles_to_an_equal_one_with_every_kind_of_field() -> None:
    """Indexes cross from pool workers as pickles of plain tuples (LayerIndex.__reduce__)."""
    import pickle

    from inspectr.fs.layer_index import index_tar_bytes
    from inspectr.untrusted.secrets import SecretMatch

    tar = (TarBuilder().add_dir("etc", mode=0o700, uid=3).add_file("etc/shadow", "root:x\n", xattrs={"user.k": b"\x00\xff"})
           .add_hardlink("etc/shadow2", "etc/shadow").add_symlink("bin", "usr/bin").add_char("dev/null", 1, 3)
           .add_file(b"./odd//\xff-name", "x").add_whiteout("gone").add_file("var/lib/dpkg/status", "Package: a\n").finish())
    index = index_tar_bytes(tar, layer=2)
    index.secrets.append(("etc/shadow", [SecretMatch("password-hash", "high", "root:***", 1)]))
    assert index.evidence and any(e.xattrs for e in index.entries) and any(e.raw_name for e in index.entries)
    back = pickle.loads(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == index
    assert [type(e) for e in back.entries] == [type(e) for e in index.entries]
