"""Image references, format detection and the source adapters."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from builders import TarBuilder, write_docker_archive, write_oci_layout
from inspectr import build_tree, open_image
from inspectr.errors import InspectrError
from inspectr.sources.detect import parse_reference
from inspectr.untrusted.decompress import Compression, open_decompressed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def error_of(fn) -> InspectrError:  # type: ignore[no-untyped-def]
    with pytest.raises(InspectrError) as info:
        fn()
    return info.value


def test_reference_path_may_contain_colons(tmp_path: Path) -> None:
    odd = tmp_path / "a:b"
    shutil.copytree(FIXTURES / "oci-busybox", odd)
    assert parse_reference(f"oci:{odd}") == ("oci", str(odd), None)
    assert parse_reference(f"oci:{odd}:latest") == ("oci", str(odd), "latest")
    assert open_image(f"oci:{odd}:latest").names == ("latest",)


def test_docker_archive_reference_is_name_and_tag() -> None:
    path = FIXTURES / "docker-busybox.tar"
    assert parse_reference(f"docker-archive:{path}:busybox:latest") == ("docker-archive", str(path), "busybox:latest")
    image = open_image(f"docker-archive:{path}:docker.io/library/busybox:latest")
    assert image.names == ("docker.io/library/busybox:latest",)
    assert open_image(f"docker-archive:{path}:@0").config_digest == image.config_digest
    err = error_of(lambda: open_image(f"docker-archive:{path}:nginx:1.0"))
    assert err.error_class == "reference-error" and "docker.io/library/busybox:latest" in err.message


def test_docker25_archive_is_read_through_its_oci_index() -> None:
    image = open_image(FIXTURES / "docker25-busybox.tar")
    assert image.manifest is not None and image.manifest_digest is not None
    assert "docker.io/library/busybox:latest" in image.names
    legacy = open_image(FIXTURES / "docker-busybox.tar")
    assert image.config.diff_ids == legacy.config.diff_ids


def test_legacy_docker_archive_with_two_images_needs_a_reference(tmp_path: Path) -> None:
    one = tmp_path / "one.tar"
    write_docker_archive(one, [TarBuilder().add_file("a", b"1").finish()], repo_tag="app:one")
    # Make a second image in the same archive by duplicating the manifest entry under a new tag.
    with tarfile.open(one) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf.getmembers()]
    manifest = json.loads(next(data for m, data in members if m.name == "manifest.json"))
    manifest.append(dict(manifest[0], RepoTags=["app:two"]))
    both = tmp_path / "both.tar"
    with tarfile.open(both, "w") as tf:
        for member, data in members:
            if member.name == "manifest.json":
                data = json.dumps(manifest).encode()
                member.size = len(data)
            tf.addfile(member, io.BytesIO(data) if data is not None else None)
    err = error_of(lambda: open_image(both))
    assert err.error_class == "reference-error"
    assert "holds 2 images" in err.message and "app:one" in err.message and "app:two" in err.message
    assert open_image(f"docker-archive:{both}:app:two").names == ("app:two",)


def test_compressed_archive_gets_a_clear_error(tmp_path: Path) -> None:
    packed = tmp_path / "busybox.tar.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "docker-busybox.tar").read_bytes(), 1))
    err = error_of(lambda: open_image(packed))
    assert err.error_class == "malformed-image" and "compressed archive" in err.message


def test_directory_that_is_no_image_is_named_in_the_error(tmp_path: Path) -> None:
    err = error_of(lambda: open_image(tmp_path))
    assert err.error_class == "image-not-found" and str(tmp_path) in err.message


def test_symlinked_blob_in_a_layout_is_refused(tmp_path: Path) -> None:
    layout = tmp_path / "img"
    shutil.copytree(FIXTURES / "oci-gzip", layout)
    secret = tmp_path / "host-secret"
    secret.write_text("host data")
    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_text())
    layer = layout / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    layer.unlink()
    os.symlink(secret, layer)
    err = error_of(lambda: build_tree(open_image(layout)))
    assert err.error_class == "malformed-image" and "not a regular file" in err.message


def test_multiarch_default_is_the_host_platform() -> None:
    image = open_image(FIXTURES / "oci-multiarch")
    assert image.platform in ("linux/amd64", "linux/arm64")
    assert image.platform == {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}.get(os.uname().machine, image.platform)


def test_oci_layout_without_oci_layout_file_is_rejected(tmp_path: Path) -> None:
    written = write_oci_layout(tmp_path / "img", [TarBuilder().add_file("a", b"x").finish()])
    (Path(written.path) / "oci-layout").unlink()
    err = error_of(lambda: open_image(f"oci:{written.path}"))
    assert err.error_class == "blob-not-found" and "oci-layout" in err.message


def test_gzip_multi_member_streams_are_read_whole() -> None:
    data = gzip.compress(b"hello ") + gzip.compress(b"world")
    reader = open_decompressed(io.BytesIO(data), Compression.GZIP, "t", lambda code, msg: None)
    out = b""
    while chunk := reader.read(3):
        assert len(chunk) <= 3
        out += chunk
    assert out == b"hello world"


@pytest.mark.parametrize("backend", ["isal", "zlib"])
def test_gzip_multi_member_streams_end_with_either_inflate_backend(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    # With stdlib zlib (the fallback when isal is missing) the member after the first was read
    # twice and the stream never ended.
    import zlib

    from inspectr.untrusted import decompress
    if backend == "zlib":
        monkeypatch.setattr(decompress, "_zlib", zlib)
        monkeypatch.setattr(decompress, "_ZLIB_ERRORS", (zlib.error, ValueError))
    data = gzip.compress(b"hello ") + gzip.compress(b"world") + gzip.compress(b"!" * 100_000)
    for size in (3, 1 << 20):
        reader = open_decompressed(io.BytesIO(data), Compression.GZIP, "t", lambda code, msg: None)
        out = b""
        for _ in range(200_000):
            chunk = reader.read(size)
            if not chunk:
                break
            out += chunk
        assert out == b"hello world" + b"!" * 100_000
