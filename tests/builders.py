"""Precise builders for tar layers and whole images, for tests.

The tar builder writes every 512-byte header itself instead of using `tarfile`, so
that a test can make exactly the hostile or unusual input it needs: a wrong
checksum, a prefix field, PAX records (`x` and global `g`), GNU `L`/`K` long names,
any typeflag byte, base-256 numbers, PAX 1.0 sparse members, and any end-of-archive
framing (no, one or two zero blocks, trailing garbage).

The image writers wrap uncompressed layer tars into an OCI image layout (directory or
tar archive) or a legacy `docker save` archive, computing digests, sizes and diff_ids,
with knobs (`Corrupt`) that break exactly one integrity property at a time.

Facts used (shared/specs/unionfs.md): R5/R7 whiteout names, R17 dialects, R18 types,
R19 framing, R20 compression, R21 media types, R22 integrity.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

__all__ = [
    "BLOCK",
    "TarBuilder",
    "pax_records",
    "encode_number",
    "compress",
    "sha256_hex",
    "Corrupt",
    "WrittenImage",
    "write_oci_layout",
    "write_oci_archive",
    "write_docker_archive",
    "MT_OCI_MANIFEST",
    "MT_OCI_CONFIG",
    "MT_OCI_LAYER",
    "MT_DOCKER_MANIFEST",
    "MT_DOCKER_CONFIG",
    "MT_DOCKER_LAYER_GZIP",
    "sparse_expand",
    "apply_tars",
]

BLOCK = 512
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

# (name, offset, width) of the ustar header fields.
_FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "gid": (116, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "chksum": (148, 8),
    "typeflag": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 6),
    "version": (263, 2),
    "uname": (265, 32),
    "gname": (297, 32),
    "devmajor": (329, 8),
    "devminor": (337, 8),
    "prefix": (345, 155),
}

_NUMERIC = ("mode", "uid", "gid", "size", "mtime", "devmajor", "devminor")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b(value: str | bytes) -> bytes:
    """Names are given as str (encoded UTF-8, surrogateescape for raw bytes) or bytes."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape")


def encode_number(value: int, width: int, *, base256: bool = False) -> bytes:
    """Encode `value` for a numeric field of `width` bytes.

    Octal with a trailing NUL when it fits (the ustar form); otherwise, or when
    `base256` is set, GNU base-256: the first byte has its high bit set and the rest is
    the big-endian two's-complement value (0xff lead byte for negative numbers).
    """
    if not base256 and 0 <= value < 8 ** (width - 1):
        return b"%0*o" % (width - 1, value) + b"\0"
    if value >= 0:
        if value >= 1 << (8 * width - 1):
            raise ValueError(f"{value} does not fit a base-256 field of {width} bytes")
        raw = value.to_bytes(width, "big")
        return bytes([0x80 | raw[0]]) + raw[1:]
    raw = value.to_bytes(width, "big", signed=True)
    return bytes([0xFF]) + raw[1:]


def pax_records(records: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]) -> bytes:
    """Encode PAX extended-header records: `"%d %s=%s\\n"`, the length counting itself."""
    items = records.items() if isinstance(records, Mapping) else records
    out = bytearray()
    for key, value in items:
        body = b" " + _b(key) + b"=" + _b(value) + b"\n"
        length = len(body) + len(str(len(body)))
        while len(str(length)) + len(body) != length:
            length = len(body) + len(str(length))
        out += str(length).encode() + body
    return bytes(out)


def _pad(data: bytes) -> bytes:
    rem = len(data) % BLOCK
    return data if rem == 0 else data + b"\0" * (BLOCK - rem)


class TarBuilder:
    """Append tar members one by one; `bytes()` / `finish()` returns the archive.

    Every `add_*` helper accepts `pax=` (extra PAX records written in an `x` header
    before the member), `mode`, `uid`, `gid`, `mtime` and `xattrs` (as
    `SCHILY.xattr.*` PAX records). Names longer than 100 bytes are split into the
    ustar prefix field when possible and then by a PAX `path` record
    (`long_names="auto"`, the default), or always by a PAX `path` record
    (`long_names="pax"`), a GNU `L`/`K` member (`long_names="gnu"`) or the prefix
    field (`long_names="prefix"`, error if impossible).
    """

    def __init__(self, *, long_names: str = "auto") -> None:
        self._parts: list[bytes] = []
        self.long_names = long_names
        self._pax_serial = 0

    # -- raw material -------------------------------------------------------------

    @staticmethod
    def header(
        name: str | bytes = b"",
        *,
        typeflag: bytes | str = b"0",
        size: int = 0,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        linkname: str | bytes = b"",
        uname: str | bytes = b"",
        gname: str | bytes = b"",
        devmajor: int = 0,
        devminor: int = 0,
        prefix: str | bytes = b"",
        fmt: str = "ustar",
        checksum: int | str | None = None,
        base256: Iterable[str] = (),
        overrides: Mapping[str, bytes] | None = None,
    ) -> bytes:
        """One 512-byte header.

        `fmt`: "ustar" (magic `ustar\\0` + `00`), "gnu" (`ustar  \\0`) or "v7" (no
        magic). `checksum`: None = correct; "bad" = correct + 1; an int = that value.
        `base256`: names of numeric fields to force into base-256 form.
        `overrides`: raw bytes for any field, written last (before the checksum).
        """
        base256 = set(base256)
        hdr = bytearray(BLOCK)

        def put(fname: str, raw: bytes) -> None:
            off, width = _FIELDS[fname]
            if len(raw) > width:
                raise ValueError(f"field {fname} too long: {len(raw)} > {width}")
            hdr[off : off + len(raw)] = raw
            hdr[off + len(raw) : off + width] = b"\0" * (width - len(raw))

        put("name", _b(name))
        nums = {
            "mode": mode,
            "uid": uid,
            "gid": gid,
            "size": size,
            "mtime": mtime,
            "devmajor": devmajor,
            "devminor": devminor,
        }
        for fname, value in nums.items():
            put(fname, encode_number(value, _FIELDS[fname][1], base256=fname in base256))
        tf = typeflag.encode("latin-1") if isinstance(typeflag, str) else typeflag
        put("typeflag", tf)
        put("linkname", _b(linkname))
        if fmt == "ustar":
            put("magic", b"ustar\0")
            put("version", b"00")
        elif fmt == "gnu":
            put("magic", b"ustar ")
            put("version", b" \0")
        elif fmt != "v7":
            raise ValueError(fmt)
        put("uname", _b(uname))
        put("gname", _b(gname))
        put("prefix", _b(prefix))
        for fname, raw in (overrides or {}).items():
            put(fname, raw)
        hdr[148:156] = b" " * 8
        real = sum(hdr)
        if checksum is None:
            value = real
        elif checksum == "bad":
            value = real + 1
        else:
            value = int(checksum)
        hdr[148:156] = b"%06o\0 " % value
        return bytes(hdr)

    def raw(self, data: bytes) -> "TarBuilder":
        """Append bytes verbatim (no padding)."""
        self._parts.append(data)
        return self

    def member(self, name: str | bytes, data: bytes = b"", *, size: int | None = None,
               pad: bool = True, **hdr: object) -> "TarBuilder":
        """A header followed by `data` padded to a block. `size` overrides the header's size."""
        header = self.header(name, size=len(data) if size is None else size, **hdr)  # type: ignore[arg-type]
        self._parts.append(header)
        self._parts.append(_pad(data) if pad else data)
        return self

    def add_pax(self, records: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]],
                *, typeflag: bytes = b"x", name: str | bytes | None = None,
                data: bytes | None = None, **hdr: object) -> "TarBuilder":
        """A PAX extended header (`x`) or global header (`g`) with these records."""
        payload = pax_records(records) if data is None else data
        if name is None:
            self._pax_serial += 1
            name = ("PaxHeaders.0/entry%d" % self._pax_serial) if typeflag == b"x" else "GlobalHead.0.1"
        return self.member(name, payload, typeflag=typeflag, **hdr)

    def add_global(self, records: Mapping[str, str | bytes], **hdr: object) -> "TarBuilder":
        return self.add_pax(records, typeflag=b"g", **hdr)

    def add_gnu_longname(self, name: str | bytes, *, typeflag: bytes = b"L") -> "TarBuilder":
        """A GNU `L` (long name) or `K` (long link name) member; data = name + NUL."""
        return self.member("././@LongLink", _b(name) + b"\0", typeflag=typeflag, fmt="gnu",
                           mode=0o644)

    # -- entries ------------------------------------------------------------------

    def entry(
        self,
        name: str | bytes,
        *,
        typeflag: bytes | str,
        data: bytes = b"",
        size: int | None = None,
        linkname: str | bytes = b"",
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        xattrs: Mapping[str, bytes | str] | None = None,
        pax: Mapping[str, str | bytes] | None = None,
        long_names: str | None = None,
        **hdr: object,
    ) -> "TarBuilder":
        """Any entry; handles long names/link names and PAX records automatically."""
        long_names = long_names or self.long_names
        records: dict[str, str | bytes] = {}
        bname = _b(name)
        blink = _b(linkname)
        prefix = b""
        if len(bname) > 100:
            split = _split_prefix(bname) if long_names in ("auto", "prefix") else None
            if long_names == "prefix" and split is None:
                raise ValueError(f"name cannot be split into prefix: {bname!r}")
            if split is not None:
                prefix, bname = split
            elif long_names == "gnu":
                self.add_gnu_longname(bname, typeflag=b"L")
                bname = bname[:100]
            else:
                records["path"] = bname
                bname = bname[:100]
        if len(blink) > 100:
            if long_names == "gnu":
                self.add_gnu_longname(blink, typeflag=b"K")
            else:
                records["linkpath"] = blink
            blink = blink[:100]
        for key, value in (xattrs or {}).items():
            records["SCHILY.xattr." + key] = value
        records.update(pax or {})
        if records:
            self.add_pax(records)
        return self.member(
            bname,
            data,
            size=size,
            typeflag=typeflag,
            linkname=blink,
            mode=mode,
            uid=uid,
            gid=gid,
            mtime=mtime,
            prefix=prefix,
            **hdr,
        )

    def add_file(self, name: str | bytes, data: bytes | str = b"", *, mode: int = 0o644,
                 typeflag: bytes = b"0", **kw: object) -> "TarBuilder":
        if isinstance(data, str):
            data = data.encode()
        return self.entry(name, typeflag=typeflag, data=data, mode=mode, **kw)  # type: ignore[arg-type]

    def add_dir(self, name: str | bytes, *, mode: int = 0o755, **kw: object) -> "TarBuilder":
        return self.entry(name, typeflag=b"5", mode=mode, **kw)  # type: ignore[arg-type]

    def add_symlink(self, name: str | bytes, target: str | bytes, *, mode: int = 0o777,
                    **kw: object) -> "TarBuilder":
        return self.entry(name, typeflag=b"2", linkname=target, mode=mode, **kw)  # type: ignore[arg-type]

    def add_hardlink(self, name: str | bytes, target: str | bytes, *, mode: int = 0o644,
                     **kw: object) -> "TarBuilder":
        return self.entry(name, typeflag=b"1", linkname=target, mode=mode, **kw)  # type: ignore[arg-type]

    def add_char(self, name: str | bytes, major: int = 1, minor: int = 3, *, mode: int = 0o666,
                 **kw: object) -> "TarBuilder":
        return self.entry(name, typeflag=b"3", devmajor=major, devminor=minor, mode=mode, **kw)  # type: ignore[arg-type]

    def add_block(self, name: str | bytes, major: int = 8, minor: int = 0, *, mode: int = 0o660,
                  **kw: object) -> "TarBuilder":
        return self.entry(name, typeflag=b"4", devmajor=major, devminor=minor, mode=mode, **kw)  # type: ignore[arg-type]

    def add_fifo(self, name: str | bytes, *, mode: int = 0o644, **kw: object) -> "TarBuilder":
        return self.entry(name, typeflag=b"6", mode=mode, **kw)  # type: ignore[arg-type]

    def add_whiteout(self, path: str, *, typeflag: bytes = b"0", data: bytes = b"",
                     **kw: object) -> "TarBuilder":
        """Whiteout for `path` (R5): the entry `dirname(path)/.wh.basename(path)`."""
        head, _, base = path.rstrip("/").rpartition("/")
        name = (head + "/" if head else "") + WHITEOUT_PREFIX + base
        return self.entry(name, typeflag=typeflag, data=data, **kw)  # type: ignore[arg-type]

    def add_opaque(self, directory: str, *, typeflag: bytes = b"0", **kw: object) -> "TarBuilder":
        """Opaque whiteout marker in `directory` ('' = the root) (R7)."""
        d = directory.strip("/")
        name = (d + "/" if d else "") + OPAQUE_MARKER
        return self.entry(name, typeflag=typeflag, **kw)  # type: ignore[arg-type]

    def add_sparse(self, name: str, segments: Sequence[tuple[int, bytes]], realsize: int,
                   *, mode: int = 0o644, **kw: object) -> "TarBuilder":
        """A PAX 1.0 sparse member (GNU.sparse.major=1, minor=0; the map at data start)."""
        sparse_map = b"%d\n" % len(segments)
        for offset, chunk in segments:
            sparse_map += b"%d\n%d\n" % (offset, len(chunk))
        payload = _pad(sparse_map) + b"".join(chunk for _, chunk in segments)
        records = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": name,
            "GNU.sparse.realsize": str(realsize),
        }
        self.add_pax(records)
        base = name.rsplit("/", 1)
        fake = (base[0] + "/GNUSparseFile.0/" + base[1]) if len(base) == 2 else "GNUSparseFile.0/" + name
        return self.member(fake[:100], payload, typeflag=b"0", mode=mode, **kw)

    # -- output -------------------------------------------------------------------

    def finish(self, *, zero_blocks: int = 2, trailing: bytes = b"") -> bytes:
        """The archive: members, `zero_blocks` end-of-archive blocks, then `trailing`."""
        return b"".join(self._parts) + b"\0" * (BLOCK * zero_blocks) + trailing

    def __bytes__(self) -> bytes:
        return self.finish()


def sparse_expand(segments: Sequence[tuple[int, bytes]], realsize: int) -> bytes:
    """The logical content of a sparse file (holes are zeros)."""
    buf = bytearray(realsize)
    for offset, chunk in segments:
        buf[offset : offset + len(chunk)] = chunk
    return bytes(buf)


def _split_prefix(name: bytes) -> tuple[bytes, bytes] | None:
    """Split `name` at a '/' so that prefix <= 155 and name <= 100 bytes."""
    for i in range(len(name) - 1, -1, -1):
        if name[i : i + 1] == b"/" and i <= 155 and len(name) - i - 1 <= 100 and i > 0:
            return name[:i], name[i + 1 :]
    return None


# -- compression ----------------------------------------------------------------------


def compress(data: bytes, kind: str = "gzip") -> bytes:
    """'gzip' (mtime 0, so reproducible), 'zstd' (one frame with content size) or 'none'."""
    if kind == "gzip":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
            gz.write(data)
        return buf.getvalue()
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if kind == "none":
        return data
    raise ValueError(kind)


# -- images ---------------------------------------------------------------------------

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER = {"gzip": MT_DOCKER_LAYER_GZIP, "none": "application/vnd.docker.image.rootfs.diff.tar"}


@dataclass
class Corrupt:
    """Which integrity property to break (at most one per test, usually).

    layer_digest: index of a layer whose descriptor digest does not match its bytes
        (the real bytes are stored under the claimed digest: a substituted blob).
    layer_size: index of a layer whose descriptor size is off by `size_delta`.
    diff_id: index of a layer whose config diff_id is wrong.
    diff_id_count: add (>0) or drop (<0) that many diff_ids at the end.
    manifest_bytes: the manifest blob differs (same length) from its digest.
    config_bytes: the config blob differs (same length) from its digest.
    missing_blob: index of a layer whose blob is not written.
    missing_config: the config blob is not written.
    manifest_media_type: media type string put in the index descriptor and manifest.
    trailing_after_layer: index -> bytes appended to that layer's *compressed* blob
        before digests are computed (e.g. garbage after a gzip member).
    truncate_blob: index -> length: the compressed blob is cut to that many bytes
        before digests are computed (a validly described but truncated stream).
    diff_id_override: index -> the diff_id string written in the config.
    """

    layer_digest: int | None = None
    layer_size: int | None = None
    size_delta: int = 1
    diff_id: int | None = None
    diff_id_count: int = 0
    manifest_bytes: bool = False
    config_bytes: bool = False
    missing_blob: int | None = None
    missing_config: bool = False
    manifest_media_type: str | None = None
    trailing_after_layer: dict[int, bytes] = field(default_factory=dict)
    truncate_blob: dict[int, int] = field(default_factory=dict)
    diff_id_override: dict[int, str] = field(default_factory=dict)


@dataclass
class WrittenImage:
    ref: str
    path: Path
    layer_digests: list[str]
    layer_sizes: list[int]
    diff_ids: list[str]
    config_digest: str
    manifest_digest: str
    blobs: list[bytes]


def _layer_compressions(n: int, compression: str | Sequence[str]) -> list[str]:
    if isinstance(compression, str):
        return [compression] * n
    if len(compression) != n:
        raise ValueError("one compression per layer")
    return list(compression)


def _tweak_same_length(data: bytes) -> bytes:
    """Same length, different bytes, still valid JSON: the final newline becomes a space."""
    assert data.endswith(b"\n")
    return data[:-1] + b" "


def _config_json(diff_ids: list[str], *, docker: bool, n_layers: int) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(n_layers)],
        "created": "2024-01-01T00:00:00Z",
    }
    return json.dumps(config, sort_keys=True, indent=1).encode() + b"\n"


def _image_parts(layers: Sequence[bytes], compression: str | Sequence[str],
                 media_types: Sequence[str | None] | None, corrupt: Corrupt, docker: bool):
    comps = _layer_compressions(len(layers), compression)
    blobs = [compress(layer, c) for layer, c in zip(layers, comps)]
    for i, extra in corrupt.trailing_after_layer.items():
        blobs[i] = blobs[i] + extra
    for i, length in corrupt.truncate_blob.items():
        blobs[i] = blobs[i][:length]
    diff_ids = ["sha256:" + sha256_hex(layer) for layer in layers]
    config_diff_ids = list(diff_ids)
    if corrupt.diff_id is not None:
        config_diff_ids[corrupt.diff_id] = "sha256:" + sha256_hex(b"not the layer %d" % corrupt.diff_id)
    for i, value in corrupt.diff_id_override.items():
        config_diff_ids[i] = value
    if corrupt.diff_id_count > 0:
        config_diff_ids += ["sha256:" + sha256_hex(b"extra %d" % i) for i in range(corrupt.diff_id_count)]
    elif corrupt.diff_id_count < 0:
        config_diff_ids = config_diff_ids[: corrupt.diff_id_count]
    config = _config_json(config_diff_ids, docker=docker, n_layers=len(layers))
    descs = []
    digests = []
    sizes = []
    for i, (blob, c) in enumerate(zip(blobs, comps)):
        digest = "sha256:" + sha256_hex(blob)
        if corrupt.layer_digest == i:
            digest = "sha256:" + sha256_hex(blob + b"tampered")
        size = len(blob)
        if corrupt.layer_size == i:
            size += corrupt.size_delta
        mt = (MT_DOCKER_LAYER if docker else MT_OCI_LAYER)[c]
        if media_types is not None and media_types[i] is not None:
            mt = media_types[i]  # type: ignore[assignment]
        descs.append({"mediaType": mt, "digest": digest, "size": size})
        digests.append(digest)
        sizes.append(size)
    return comps, blobs, diff_ids, config, descs, digests, sizes


def write_oci_layout(
    directory: str | os.PathLike[str],
    layers: Sequence[bytes],
    *,
    compression: str | Sequence[str] = "gzip",
    media_types: Sequence[str | None] | None = None,
    corrupt: Corrupt | None = None,
    docker_media_types: bool = False,
    tag: str = "latest",
    layer_urls: Mapping[int, Sequence[str]] | None = None,
) -> WrittenImage:
    """Write an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`).

    `layers` are uncompressed tars; `compression` is one kind or one per layer;
    `media_types` overrides layer media types (None entries keep the default);
    `docker_media_types` uses Docker v2 schema 2 manifest/config/layer types;
    `layer_urls` adds a `urls` list to layer descriptors (non-distributable layers).
    Returns the `oci:DIR:TAG` reference and the digests written.
    """
    corrupt = corrupt or Corrupt()
    root = Path(directory)
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    comps, blobs, diff_ids, config, descs, digests, sizes = _image_parts(
        layers, compression, media_types, corrupt, docker_media_types
    )

    def put(digest: str, data: bytes) -> None:
        (root / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)

    for i, (blob, digest) in enumerate(zip(blobs, digests)):
        if corrupt.missing_blob == i:
            continue
        put(digest, blob)
    config_digest = "sha256:" + sha256_hex(config)
    if not corrupt.missing_config:
        put(config_digest, _tweak_same_length(config) if corrupt.config_bytes else config)
    for i, urls in (layer_urls or {}).items():
        descs[i]["urls"] = list(urls)
    manifest_mt = MT_DOCKER_MANIFEST if docker_media_types else MT_OCI_MANIFEST
    if corrupt.manifest_media_type is not None:
        manifest_mt = corrupt.manifest_media_type
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_mt,
        "config": {
            "mediaType": MT_DOCKER_CONFIG if docker_media_types else MT_OCI_CONFIG,
            "digest": config_digest,
            "size": len(config),
        },
        "layers": descs,
    }
    manifest_bytes = json.dumps(manifest, indent=1).encode() + b"\n"
    manifest_digest = "sha256:" + sha256_hex(manifest_bytes)
    put(manifest_digest, _tweak_same_length(manifest_bytes) if corrupt.manifest_bytes else manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": manifest_mt,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}\n')
    return WrittenImage(
        ref=f"oci:{root}:{tag}",
        path=root,
        layer_digests=digests,
        layer_sizes=sizes,
        diff_ids=diff_ids,
        config_digest=config_digest,
        manifest_digest=manifest_digest,
        blobs=blobs,
    )


def _tar_directory(src: Path, dest: Path) -> None:
    # The outer archive is trusted test scaffolding, so tarfile is fine here.
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(src.rglob("*")):
            tf.add(path, arcname=str(path.relative_to(src)), recursive=False)


def write_oci_archive(path: str | os.PathLike[str], layers: Sequence[bytes], **kw: object) -> WrittenImage:
    """`write_oci_layout` into a tar file; the reference is `oci-archive:PATH:TAG`."""
    import tempfile

    dest = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        written = write_oci_layout(Path(tmp) / "layout", layers, **kw)  # type: ignore[arg-type]
        _tar_directory(Path(tmp) / "layout", dest)
    tag = written.ref.rsplit(":", 1)[1]
    written.ref = f"oci-archive:{dest}:{tag}"
    written.path = dest
    return written


def write_docker_archive(
    path: str | os.PathLike[str],
    layers: Sequence[bytes],
    *,
    compression: str | Sequence[str] = "none",
    corrupt: Corrupt | None = None,
    repo_tag: str = "inspectr-test:latest",
) -> WrittenImage:
    """Legacy `docker save` archive: manifest.json, <config-hex>.json, <id>/layer.tar.

    `Corrupt.diff_id`, `diff_id_count`, `config_bytes`, `missing_blob` and
    `missing_config` apply; descriptor digests and sizes do not exist in this form.
    The reference is `docker-archive:PATH`.
    """
    import tempfile

    corrupt = corrupt or Corrupt()
    comps, blobs, diff_ids, config, _descs, _digests, _sizes = _image_parts(
        layers, compression, None, corrupt, True
    )
    config_hex = sha256_hex(config)
    dest = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        layer_paths = []
        parent = ""
        for i, blob in enumerate(blobs):
            layer_id = sha256_hex(f"{parent}\n{diff_ids[i]}".encode())
            d = root / layer_id
            d.mkdir()
            (d / "VERSION").write_text("1.0")
            meta: dict[str, object] = {"id": layer_id}
            if parent:
                meta["parent"] = parent
            (d / "json").write_text(json.dumps(meta))
            if corrupt.missing_blob != i:
                (d / "layer.tar").write_bytes(blob)
            layer_paths.append(f"{layer_id}/layer.tar")
            parent = layer_id
        if not corrupt.missing_config:
            (root / f"{config_hex}.json").write_bytes(
                _tweak_same_length(config) if corrupt.config_bytes else config
            )
        manifest = [{"Config": f"{config_hex}.json", "RepoTags": [repo_tag], "Layers": layer_paths}]
        (root / "manifest.json").write_text(json.dumps(manifest) + "\n")
        name, _, tag = repo_tag.rpartition(":")
        (root / "repositories").write_text(json.dumps({name: {tag: parent}}) + "\n")
        _tar_directory(root, dest)
    return WrittenImage(
        ref=f"docker-archive:{dest}",
        path=dest,
        layer_digests=[],
        layer_sizes=[len(b) for b in blobs],
        diff_ids=diff_ids,
        config_digest="sha256:" + config_hex,
        manifest_digest="",
        blobs=blobs,
    )


# -- applying layers through inspectr (imported lazily: builders itself needs no inspectr)


def apply_tars(layers: Sequence[bytes | TarBuilder], *, strict: bool = False, limits: object = None):
    """Index each uncompressed tar with inspectr and apply them in order; returns the Tree."""
    from inspectr.fs.layer_index import index_tar_bytes
    from inspectr.fs.tree import apply_layers
    from inspectr.limits import Limits

    lim = limits if limits is not None else Limits()
    indexes = [
        index_tar_bytes(bytes(layer), layer=i, limits=lim)  # type: ignore[arg-type]
        for i, layer in enumerate(layers)
    ]
    return apply_layers(indexes, limits=lim, strict=strict)
