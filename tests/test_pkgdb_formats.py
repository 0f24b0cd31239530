"""The rpmdb.sqlite, Go build info and jar parsers (untrusted/rpmdb.py, gobuild.py, jar.py) against
the bytes real tools wrote (fixtures/packages-eco: rpm 4.18, go 1.19, javac + jar; expected.json
is what rpm -qa, go version -m and the pom.properties say), and against hostile input, which
must give a typed error or notice, never a traceback.

The fixture's files are taken out of the layout's gzip layer blobs with tarfile, here in the test
only: inspectr itself never reads images with tarfile."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sqlite3
import struct
import tarfile
import zipfile
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pytest

from inspectr.notice import Notice
from inspectr.package import Package, PackageFile
from inspectr.untrusted.gobuild import (
    GoBuildInfo,
    GoBuildInfoError,
    GoBuildInfoScanner,
    go_packages,
    is_executable,
    parse_go_buildinfo,
    parse_modinfo,
    read_go_buildinfo,
)
from inspectr.untrusted.jar import JarError, parse_pom_properties, parse_properties, read_jar
from inspectr.untrusted.pkgdb import PackageDbError
from inspectr.untrusted.rpmdb import (
    RpmdbFormat,
    RpmDbError,
    RpmDbUnsupported,
    detect_rpmdb_format,
    parse_rpm_header,
    parse_rpmdb,
    read_rpmdb,
    rpm_package,
    rpmdb_format_notice,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "packages-eco"
RPMDB = "var/lib/rpm/rpmdb.sqlite"
GOBIN = "usr/local/bin/inspectr-goapp"
JAR = "opt/app/demo-app.jar"


# ------------------------------------------------------------------ fixture access (test only)

@cache
def expected() -> Any:
    return json.loads((FIXTURE / "expected.json").read_text())


@cache
def layer_files(layer: int) -> dict[str, bytes]:
    layout = FIXTURE / "layout"
    index = json.loads((layout / "index.json").read_text())
    (desc,) = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "eco"]

    def blob(digest: str) -> Path:
        return layout / "blobs" / Path(*digest.split(":"))

    manifest = json.loads(blob(desc["digest"]).read_bytes())
    out = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(manifest["layers"][layer]["digest"]).read_bytes()))) as tf:
        for member in tf:
            if member.isfile():
                f = tf.extractfile(member)
                assert f is not None
                out[member.name.lstrip("./")] = f.read()
    return out


def fixture_file(ecosystem: str, path: str) -> bytes:
    return layer_files(expected()["layers"][ecosystem])[path]


# ------------------------------------------------------------------ rpm: the real database

def expected_rpm_packages() -> list[Package]:
    out = []
    for p in expected()["rpm"]["packages"]:
        assert p["filedigestalgo"] == 8  # rpm 4.18 writes sha256
        version = f"{p['version']}-{p['release']}"
        if p["epoch"] is not None:
            version = f"{p['epoch']}:{version}"
        files = tuple(PackageFile(f["path"].lstrip("/"), f"sha256:{f['digest']}" if f["digest"] else "",
                                  bool(f["flags"] & 1)) for f in p["files"])
        out.append(Package("rpm", p["name"], version, p["arch"], p["sourcerpm"].rsplit("-", 2)[0], RPMDB, files=files))
    return out


def test_rpmdb_lists_what_rpm_qa_lists() -> None:
    result = read_rpmdb(fixture_file("rpm", RPMDB), RPMDB)
    assert result.notices == ()
    assert list(result.packages) == expected_rpm_packages()
    hello = next(p for p in result.packages if p.name == "inspectr-hello")
    assert hello.version == "2:1.2.3-4" and hello.arch == "noarch"
    assert [f.path for f in hello.files if f.conffile] == ["etc/inspectr-hello/hello.conf"]
    doc = next(p for p in result.packages if p.name == "inspectr-hello-doc")
    assert doc.source == "inspectr-hello" and "upstream=inspectr-hello" in doc.purl
    tool = next(p for p in result.packages if p.name == "inspectr-tool")
    assert tool.version == "0.9-1.fixture" and tool.arch == "x86_64" and tool.source == "inspectr-tool"


def test_rpmdb_digests_are_the_installed_files_own() -> None:
    files = layer_files(expected()["layers"]["rpm"])
    checked = 0
    for package in parse_rpmdb(fixture_file("rpm", RPMDB), RPMDB):
        for f in package.files:
            if f.digest:
                assert f.algorithm == "sha256"
                assert hashlib.sha256(files[f.path]).hexdigest() == f.hexdigest, f.path
                checked += 1
            else:  # directories and the symlink carry no digest
                assert f.path not in files or f.path.endswith(".link")
    assert checked == 4


def test_rpmdb_format_recognises_sqlite_berkeleydb_and_ndb() -> None:
    assert detect_rpmdb_format(fixture_file("rpm", RPMDB)[:64]) is RpmdbFormat.SQLITE
    assert rpmdb_format_notice(RPMDB, fixture_file("rpm", RPMDB)[:64]) is None
    bdb_hash = bytes(12) + struct.pack("<I", 0x00061561) + bytes(48)
    bdb_btree_be = bytes(12) + struct.pack(">I", 0x00053162) + bytes(48)
    ndb = b"RpmP" + bytes(60)
    for head, kind in ((bdb_hash, RpmdbFormat.BERKELEY_DB), (bdb_btree_be, RpmdbFormat.BERKELEY_DB), (ndb, RpmdbFormat.NDB)):
        assert detect_rpmdb_format(head) is kind
        notice = rpmdb_format_notice("var/lib/rpm/Packages", head, 3)
        assert notice is not None and notice.code == "rpmdb-unsupported-format" and notice.layer == 3
        with pytest.raises(RpmDbUnsupported, match="only rpmdb.sqlite is read") as err:
            read_rpmdb(head + bytes(4096), "var/lib/rpm/Packages")
        assert err.value.code == "rpmdb-unsupported-format"
        assert isinstance(err.value, PackageDbError)
    notice = rpmdb_format_notice("var/lib/rpm/Packages", b"garbage bytes here")
    assert notice is not None and "unrecognised" in notice.message


# ------------------------------------------------------------------ rpm: hostile headers

@cache
def real_blob() -> bytes:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(fixture_file("rpm", RPMDB)[:18] + b"\x01\x01" + fixture_file("rpm", RPMDB)[20:])
    (blob,) = conn.execute("SELECT blob FROM Packages WHERE hnum = 3").fetchone()
    conn.close()
    return bytes(blob)


def entry_index(blob: bytes, tag: int) -> int:
    il = struct.unpack_from(">i", blob, 0)[0]
    return next(i for i in range(il) if struct.unpack_from(">i", blob, 8 + 16 * i)[0] == tag)


def patch_entry(blob: bytes, tag: int, *, kind: int | None = None, offset: int | None = None, count: int | None = None) -> bytes:
    i = entry_index(blob, tag)
    t, k, o, c = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
    out = bytearray(blob)
    struct.pack_into(">iIiI", out, 8 + 16 * i, t, k if kind is None else kind, o if offset is None else offset,
                     c if count is None else count)
    return bytes(out)


def test_real_header_blob_parses() -> None:
    package, unknown = rpm_package(parse_rpm_header(real_blob()))
    assert package.name in {p["name"] for p in expected()["rpm"]["packages"]} and unknown is None


@pytest.mark.parametrize(("make", "message"), [
    (lambda b: b[:7], "shorter than its 8-byte lengths"),
    (lambda b: b[:-1], "bytes, but index count"),
    (lambda b: b + b"\x00", "bytes, but index count"),
    (lambda b: struct.pack(">ii", 2 ** 31 - 1, 0) + b[8:], "index count 2147483647 outside"),
    (lambda b: struct.pack(">II", 2 ** 31, 0) + b[8:], "index count -2147483648 outside"),
    (lambda b: struct.pack(">ii", 0, 0), "index count 0 outside"),
    (lambda b: b[:4] + struct.pack(">i", -5) + b[8:], "data length -5 outside"),
    (lambda b: b[:4] + struct.pack(">i", 0x10000000) + b[8:], "data length 268435456 outside"),
    (lambda b: patch_entry(b, 1000, offset=10 ** 8), "offset 100000000 outside"),
    (lambda b: patch_entry(b, 1000, offset=-1), "offset -1 outside"),
    (lambda b: patch_entry(b, 1117, count=2 ** 31), "count 2147483648 larger than"),
    (lambda b: patch_entry(b, 1117, count=2 ** 32 - 1), "count 4294967295 larger than"),
    (lambda b: patch_entry(b, 1000, kind=99), "unknown type 99"),
])
def test_hostile_header_is_a_typed_error(make: Callable[[bytes], bytes], message: str) -> None:
    with pytest.raises(RpmDbError, match=message):
        rpm_package(parse_rpm_header(make(real_blob())))


def test_strings_past_the_store_and_wrong_types_are_refused() -> None:
    blob = real_blob()
    dl = struct.unpack_from(">i", blob, 4)[0]
    # a name that starts on the store's last byte (not a NUL) runs off its end
    assert blob[-1] != 0
    with pytest.raises(RpmDbError, match="string at offset .* is not NUL-terminated inside the data store"):
        rpm_package(parse_rpm_header(patch_entry(blob, 1000, offset=dl - 1)))
    with pytest.raises(RpmDbError, match="count 1 does not fit in the 0 bytes after offset"):
        rpm_package(parse_rpm_header(patch_entry(blob, 1000, offset=dl)))
    with pytest.raises(RpmDbError, match="type 4, expected one of"):
        rpm_package(parse_rpm_header(patch_entry(blob, 1000, kind=4)))
    with pytest.raises(RpmDbError, match="STRING with count 2"):
        rpm_package(parse_rpm_header(patch_entry(blob, 1000, count=2)))
    with pytest.raises(RpmDbError, match="not aligned"):
        rpm_package(parse_rpm_header(patch_entry(blob, 1116, offset=struct.unpack_from(">iIiI", blob, 8 + 16 * entry_index(blob, 1116))[2] + 1)))
    n = struct.unpack_from(">iIiI", blob, 8 + 16 * entry_index(blob, 1117))[3]
    if n > 1:
        with pytest.raises(RpmDbError, match="BASENAMES but"):
            rpm_package(parse_rpm_header(patch_entry(blob, 1116, count=n - 1)))


def db_with(rows: list[tuple[int, object]], table: str = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)") -> bytes:
    conn = sqlite3.connect(":memory:")
    conn.execute(table)
    if rows:
        conn.executemany("INSERT INTO Packages VALUES (?, ?)", rows)
    conn.commit()
    data = conn.serialize()
    conn.close()
    return data


def test_one_bad_header_is_a_notice_and_the_others_are_kept() -> None:
    bad_utf8 = real_blob().replace(b"inspectr-", b"inspectr\xff", 1)
    data = db_with([(1, real_blob()), (2, real_blob()[:100]), (3, bad_utf8), (4, "text, not a blob")])
    result = read_rpmdb(data, RPMDB, 2)
    assert [p.name for p in result.packages] == [rpm_package(parse_rpm_header(real_blob()))[0].name]
    assert [n.code for n in result.notices] == ["rpmdb-bad-header"] * 3
    assert all(n.layer == 2 and n.path == RPMDB for n in result.notices)
    assert "hnum 2" in result.notices[0].message and "not UTF-8" in result.notices[1].message
    assert "blob is text, not a blob" in result.notices[2].message


def test_unknown_digest_algorithm_keeps_the_package_without_digests() -> None:
    blob = real_blob()
    _, _, offset, _ = struct.unpack_from(">iIiI", blob, 8 + 16 * entry_index(blob, 5011))
    il = struct.unpack_from(">i", blob, 0)[0]
    patched = bytearray(blob)
    struct.pack_into(">I", patched, 8 + 16 * il + offset, 12)  # rpm 4.19's SHA3-256
    result = read_rpmdb(db_with([(1, bytes(patched))]), RPMDB)
    (package,) = result.packages
    assert package.files and all(f.digest == "" for f in package.files)
    assert [n.code for n in result.notices] == ["rpmdb-unknown-digest-algorithm"]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not an SQLite database"),
    (b"\x00" * 4096, "not an SQLite database"),
    (b"PK\x03\x04 not a database at all", "not an SQLite database"),
])
def test_non_sqlite_bytes_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(RpmDbError, match=message):
        read_rpmdb(data, RPMDB)


def test_sqlite_that_is_not_an_rpmdb_is_refused() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE Names (x)")
    data = conn.serialize()
    with pytest.raises(RpmDbError, match="no Packages table"):
        read_rpmdb(data, RPMDB)
    view = db_with([], "CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob")
    with pytest.raises(RpmDbError, match="no Packages table"):
        read_rpmdb(view, RPMDB)


def test_corrupt_or_truncated_sqlite_is_refused() -> None:
    real = fixture_file("rpm", RPMDB)
    with pytest.raises(RpmDbError, match="sqlite refused it"):
        read_rpmdb(real[:8192], RPMDB)
    # every page after the first overwritten: the schema's b-tree is garbage
    with pytest.raises(RpmDbError, match="sqlite refused it"):
        read_rpmdb(real[:100] + b"\xa5" * (len(real) - 100), RPMDB)


def test_sqlite_caps_blob_size_packages_and_steps() -> None:
    data = db_with([(1, real_blob()), (2, real_blob())])
    with pytest.raises(RpmDbError, match="too big"):
        read_rpmdb(data, RPMDB, max_header_bytes=100)
    with pytest.raises(RpmDbError, match="more than max_packages=1"):
        read_rpmdb(data, RPMDB, max_packages=1)
    with pytest.raises(RpmDbError, match="exceeds max_db_bytes=1000"):
        read_rpmdb(data, RPMDB, max_db_bytes=1000)
    # a schema that makes the query run for ever is stopped by the step budget
    slow = db_with([], "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    conn = sqlite3.connect(":memory:")
    conn.deserialize(slow)
    conn.executemany("INSERT INTO Packages VALUES (?, ?)", [(i, b"") for i in range(1, 20001)])
    conn.commit()
    many = conn.serialize()
    with pytest.raises(RpmDbError, match="interrupted"):
        read_rpmdb(many, RPMDB, max_sqlite_steps=10_000)


# ------------------------------------------------------------------ go: the real binary

def test_go_buildinfo_matches_go_version_m() -> None:
    want = expected()["go"]
    info = read_go_buildinfo(fixture_file("go", GOBIN), GOBIN)
    assert isinstance(info, GoBuildInfo)
    assert info.go_version == want["go_version"] == "go1.19.8"
    assert info.path == want["main_path"]
    assert info.main is not None and (info.main.path, info.main.version, info.main.sum) == (
        want["mod"]["path"], want["mod"]["version"], want["mod"]["sum"])
    got = [{"path": d.path, "version": d.version, "sum": d.sum,
            "replace": None if d.replace is None else {"path": d.replace.path, "version": d.replace.version, "sum": d.replace.sum}}
           for d in info.deps]
    assert got == want["deps"]
    assert [list(s) for s in info.settings] == want["build"]
    assert info.setting("GOARCH") == "amd64" and info.setting("GOOS") == "linux" and info.setting("nope") == ""
    assert info.offset % 16 == 0 and fixture_file("go", GOBIN)[info.offset:].startswith(info.raw)


def test_go_packages_are_the_main_module_and_its_deps() -> None:
    info = read_go_buildinfo(fixture_file("go", GOBIN), GOBIN)
    assert isinstance(info, GoBuildInfo)
    assert go_packages(info, GOBIN) == (
        Package("go", "example.com/inspectr/app", "(devel)", location=GOBIN),
        Package("go", "example.com/inspectr/greet", "v1.4.0", source="../greet", location=GOBIN, parent="example.com/inspectr/app"),
        Package("go", "example.com/inspectr/quote", "v1.0.0", location=GOBIN, parent="example.com/inspectr/app"),
    )
    assert parse_go_buildinfo(fixture_file("go", GOBIN), GOBIN) == list(go_packages(info, GOBIN))
    assert parse_go_buildinfo(info.raw, GOBIN) == list(go_packages(info, GOBIN))  # the block a scan keeps


@pytest.mark.parametrize("chunk", [1, 7, 16, 4093, 65536, 1 << 22])
def test_go_scanner_gives_the_same_answer_for_any_chunking(chunk: int) -> None:
    data = fixture_file("go", GOBIN)
    scanner = GoBuildInfoScanner(GOBIN)
    view = memoryview(data)
    largest = 0
    for start in range(0, len(data), chunk):
        if scanner.feed(view[start:start + chunk]):
            break
        largest = max(largest, len(scanner._buf))  # what it keeps between chunks: bounded
    assert largest <= chunk + 4096
    assert scanner.result() == read_go_buildinfo(data, GOBIN)
    assert scanner.done


def test_go_scanner_memory_stays_small_over_a_large_file() -> None:
    scanner = GoBuildInfoScanner("big")
    assert not scanner.feed(b"\x7fELF" + bytes(1 << 20))
    for _ in range(32):
        assert not scanner.feed(b"\xff Go buil" + bytes(1 << 20))  # near-misses of the magic
        assert len(scanner._buf) < 16
    assert scanner.result() is None


def test_non_executables_are_not_scanned() -> None:
    assert not is_executable(b"\x00\x01\x02\x03") and is_executable(b"MZ\x90\x00") and is_executable(b"\xcf\xfa\xed\xfe")
    header = b"\xff Go buildinf:\x08\x02" + bytes(16) + b"\x08go1.19.8\x00"
    scanner = GoBuildInfoScanner("data.bin")
    assert scanner.feed(b"text " + header)  # done at once: not an executable
    assert scanner.result() is None
    # a one-byte first chunk that could start "MZ" waits for the next
    scanner = GoBuildInfoScanner("x")
    assert not scanner.feed(b"M")
    assert scanner.feed(b"Q rest")
    assert scanner.result() is None
    assert read_go_buildinfo(b"", "empty") is None


def elf_with(block: bytes, at: int = 4096) -> bytes:
    return b"\x7fELF" + bytes(at - 4) + block


def inline_header(ptr: int = 8, flags: int = 2) -> bytes:
    return b"\xff Go buildinf:" + bytes([ptr, flags]) + bytes(16)


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


SENT_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
SENT_END = bytes.fromhex("f932433186182072008242104116d8f2")


def modinfo_block(text: str, version: str = "go1.21.0") -> bytes:
    mod = SENT_START + text.encode() + SENT_END
    return inline_header() + uvarint(len(version)) + version.encode() + uvarint(len(mod)) + mod


def test_synthetic_buildinfo_with_replaced_main_and_quoted_settings() -> None:
    text = ("path\texample.com/x/cmd/x\nmod\texample.com/x\tv1.2.3\th1:abc=\n"
            "dep\tgolang.org/x/sys\tv0.1.0\th1:def=\n=>\tgithub.com/fork/sys\tv0.1.1\th1:ghi=\n"
            'build\t-ldflags="-s -w"\nbuild\tvcs.revision=0123abcd\n')
    info = read_go_buildinfo(elf_with(modinfo_block(text)), "bin")
    assert isinstance(info, GoBuildInfo)
    assert info.path == "example.com/x/cmd/x" and info.main is not None and info.main.sum == "h1:abc="
    assert info.setting("-ldflags") == "-s -w" and info.setting("vcs.revision") == "0123abcd"
    (dep,) = go_packages(info, "bin")[1:]
    assert dep.source == "github.com/fork/sys@v0.1.1" and dep.parent == "example.com/x"


@pytest.mark.parametrize(("block", "code", "message"), [
    # the module info's length says 100 bytes, the file ends after 3
    (inline_header() + uvarint(8) + b"go1.21.0" + uvarint(100) + b"abc", "go-buildinfo-malformed", "runs past the end"),
    (inline_header() + uvarint(50) + b"go1", "go-buildinfo-malformed", "runs past the end"),
    (inline_header() + b"\xff" * 10 + b"\x01", "go-buildinfo-malformed", "overflows 64 bits"),
    (inline_header() + b"\xff" * 9, "go-buildinfo-malformed", "length runs past the end"),
    (inline_header() + uvarint(1 << 40), "go-buildinfo-malformed", "exceeds 1024"),
    (inline_header() + uvarint(8) + b"go1.21.0" + uvarint(1 << 30), "go-buildinfo-malformed", "exceeds"),
    (inline_header() + uvarint(8) + b"notgo!!!" + uvarint(0), "go-buildinfo-malformed", "is not a Go version"),
    (inline_header() + uvarint(8) + b"go1.2\xff\xfe1" + uvarint(0), "go-buildinfo-malformed", "not UTF-8"),
    (modinfo_block("mod\n"), "go-buildinfo-malformed", "expected a module path and version"),
    (modinfo_block("=>\tx\tv1\n"), "go-buildinfo-malformed", "replacement without a module"),
    (modinfo_block("build\tnoequals\n"), "go-buildinfo-malformed", "without key=value"),
    (inline_header()[:20], "go-buildinfo-malformed", "header truncated"),
    (inline_header(flags=0) + struct.pack("<QQ", 0x4000, 0x4010), "go-buildinfo-unsupported", "Go < 1.18"),
    (inline_header(ptr=4, flags=1), "go-buildinfo-unsupported", "Go < 1.18"),
])
def test_hostile_buildinfo_is_a_notice(block: bytes, code: str, message: str) -> None:
    result = read_go_buildinfo(elf_with(block), "bin", 1)
    assert isinstance(result, Notice), result
    assert result.code == code and message in result.message and result.layer == 1 and result.path == "bin"
    assert "offset 4096" in result.message
    with pytest.raises(GoBuildInfoError, match=code):
        parse_go_buildinfo(elf_with(block), "bin")


def test_misaligned_or_headerless_magic_is_not_build_info() -> None:
    good = modinfo_block("path\tp\nmod\tm\tv1.0.0\t\n")
    assert read_go_buildinfo(elf_with(good, at=4097), "bin") is None  # not 16-byte aligned
    assert read_go_buildinfo(elf_with(b"\xff Go buildinf: is a string literal here"), "bin") is None
    assert parse_go_buildinfo(elf_with(b"garbage" * 100), "bin") == []
    assert read_go_buildinfo(b"\x7fELF" + bytes(range(256)) * 64, "bin") is None


def test_a_bad_candidate_does_not_hide_a_later_good_header() -> None:
    bad = inline_header() + b"\xff" * 11  # varint overflow
    good = modinfo_block("path\tp\nmod\tm\tv1.0.0\t\n")
    data = elf_with(bad + bytes(-len(bad) % 16) + bytes(64) + good)
    info = read_go_buildinfo(data, "bin")
    assert isinstance(info, GoBuildInfo) and info.main is not None and info.main.path == "m"


def test_modinfo_parser_rejects_what_go_rejects() -> None:
    path, main, deps, settings = parse_modinfo("path\tp\n\nunknownkind\tx\ndep\ta\tv1\n")
    assert path == "p" and main is None and [d.path for d in deps] == ["a"] and settings == ()
    with pytest.raises(ValueError, match="replacement without a module"):
        parse_modinfo("path\tp\n=>\tx\tv1\n")


# ------------------------------------------------------------------ maven: the real jar

def test_jar_packages_match_the_pom_properties() -> None:
    want = expected()["maven"]["packages"]
    result = read_jar(fixture_file("maven", JAR), JAR, 3)
    assert result.notices == ()
    assert [(p.ecosystem, p.name, p.version, p.location, p.parent) for p in result.packages] == [
        ("maven", w["name"], w["version"], w["location"], w["parent"]) for w in want]
    assert result.packages[1].purl == "pkg:maven/com.example.inspectr/demo-lib@2.0.1"
    # without nested jars, only the outer one
    assert [p.name for p in read_jar(fixture_file("maven", JAR), JAR, nested=False).packages] == [want[0]["name"]]


def test_pom_properties_read_on_their_own() -> None:
    with zipfile.ZipFile(io.BytesIO(fixture_file("maven", JAR))) as zf:
        outer = zf.read("META-INF/maven/com.example.inspectr/demo-app/pom.properties")
        with zipfile.ZipFile(io.BytesIO(zf.read("BOOT-INF/lib/demo-lib-2.0.1.jar"))) as inner_zf:
            inner = inner_zf.read("META-INF/maven/com.example.inspectr/demo-lib/pom.properties")
    assert parse_pom_properties(outer, f"{JAR}!/META-INF/maven/com.example.inspectr/demo-app/pom.properties") == [
        Package("maven", "com.example.inspectr:demo-app", "1.0.0", location=JAR)]
    nested = f"{JAR}!/BOOT-INF/lib/demo-lib-2.0.1.jar"
    assert parse_pom_properties(inner, f"{nested}!/META-INF/maven/com.example.inspectr/demo-lib/pom.properties") == [
        Package("maven", "com.example.inspectr:demo-lib", "2.0.1", location=nested, parent="demo-app.jar")]
    with pytest.raises(JarError, match="no groupId"):
        parse_pom_properties(b"groupId=g\n", "x.jar!/META-INF/maven/g/a/pom.properties")


def test_properties_syntax_follows_java() -> None:
    text = ("# comment\n! also a comment\n  groupId = com.example\nartifactId:demo\\\n    -lib\n"
            "version 1.0\\u0041\nkey\\ with\\ space=v\\tx\nempty\n")
    assert parse_properties(text) == {"groupId": "com.example", "artifactId": "demo-lib", "version": "1.0A",
                                      "key with space": "v\tx", "empty": ""}


# ------------------------------------------------------------------ maven: hostile jars

def jar_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


POM = "META-INF/maven/g/a/pom.properties"


def many_member_zip(n: int, declared: int | None = None) -> bytes:
    """A stored zip of n empty members, written directly (zipfile would take seconds)."""
    local, central = [], []
    offset = 0
    for i in range(n):
        name = b"f%06d" % i
        lh = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, offset) + name)
        local.append(lh)
        offset += len(lh)
    cd = b"".join(central)
    count = n if declared is None else declared
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), len(cd), offset, 0)
    return b"".join(local) + cd + eocd


def test_jar_with_100000_members_is_refused_before_zipfile_reads_it() -> None:
    data = many_member_zip(100_000)  # the end record says 0xFFFF, as without zip64
    with pytest.raises(JarError, match="65535 members exceeds max_members=50000"):
        read_jar(data, "many.jar", max_members=50_000)
    # the end record lies (says 1 member): the walk still counts the directory
    with pytest.raises(JarError, match="more than max_members=50000"):
        read_jar(many_member_zip(100_000, declared=1), "liar.jar", max_members=50_000)
    assert read_jar(many_member_zip(1000), "ok.jar").packages == ()


def test_zip_bomb_members_are_refused_by_their_caps() -> None:
    bomb = jar_bytes({POM: b"groupId=g\nartifactId=a\nversion=1\n" + b"#" * (8 << 20)})
    assert len(bomb) < 64 << 10  # 8 MiB that compress to a few KiB
    with pytest.raises(JarError, match="over its cap of 65536"):
        read_jar(bomb, "bomb.jar")
    # a nested jar over its cap is a notice; the outer jar's own package is still listed
    # the nested jar is stored (4 MiB as it is), inside an outer jar that deflates it to KiB
    inner = jar_bytes({POM.replace("/a/", "/inner/"): b"groupId=g\nartifactId=inner\nversion=2\n", "pad": bytes(4 << 20)},
                      zipfile.ZIP_STORED)
    outer = jar_bytes({POM: b"groupId=g\nartifactId=a\nversion=1\n", "BOOT-INF/lib/inner.jar": inner})
    result = read_jar(outer, "fat.jar", max_nested_jar_bytes=1 << 20)
    assert [p.name for p in result.packages] == ["g:a"]
    assert [n.code for n in result.notices] == ["jar-nested-unread"] and "over its cap" in result.notices[0].message
    # the whole call's inflated bytes are capped as well
    result = read_jar(outer, "fat.jar", max_total_bytes=1 << 20)
    assert [n.code for n in result.notices] == ["jar-nested-unread"]
    assert [p.name for p in read_jar(outer, "fat.jar").packages] == ["g:a", "g:inner"]


def test_member_whose_size_lies_is_not_inflated_past_its_claim() -> None:
    data = bytearray(jar_bytes({POM: b"groupId=g\nartifactId=a\nversion=1\n" + b"#" * 100_000}))
    # declare 30 bytes in the central directory: zipfile reads at most that, then fails the CRC
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 30)
    with pytest.raises(JarError, match="zip cannot be read"):
        read_jar(bytes(data), "liar.jar")


def test_nesting_stops_after_one_level() -> None:
    deepest = jar_bytes({POM.replace("/a/", "/deep/"): b"groupId=g\nartifactId=deep\nversion=3\n"})
    inner = jar_bytes({POM.replace("/a/", "/inner/"): b"groupId=g\nartifactId=inner\nversion=2\n",
                       "BOOT-INF/lib/deep.jar": deepest})
    outer = jar_bytes({"WEB-INF/lib/inner.jar": inner})
    assert [(p.name, p.parent) for p in read_jar(outer, "app.war").packages] == [("g:inner", "app.war")]


@pytest.mark.parametrize("data", [
    b"",
    b"not a zip at all",
    b"PK\x05\x06" + bytes(18),  # an empty archive's end record, but nothing before it ... that is fine
])
def test_non_zip_or_empty_jar(data: bytes) -> None:
    if data.startswith(b"PK\x05\x06"):
        assert read_jar(data, "empty.jar").packages == ()
    else:
        with pytest.raises(JarError, match="not a zip"):
            read_jar(data, "x.jar")


def test_truncated_and_corrupt_jars_are_typed_errors() -> None:
    real = fixture_file("maven", JAR)
    with pytest.raises(JarError):
        read_jar(real[: len(real) // 2], "cut.jar")
    corrupt = bytearray(real)
    cd = corrupt.rfind(b"PK\x01\x02")
    corrupt[cd:cd + 4] = b"XXXX"
    with pytest.raises(JarError, match="zip cannot be read"):
        read_jar(bytes(corrupt), "corrupt.jar")
    with pytest.raises(JarError, match="exceeds max_jar_bytes=100"):
        read_jar(real, "big.jar", max_jar_bytes=100)
    for n in (1, 7, 100, 1000):
        with pytest.raises(JarError, match="not a zip"):
            read_jar(real[:n], "cut.jar")
    # Cut anywhere, a jar is a JarError or what zipfile finds in what is left. Cut inside the
    # outer end record, the last end record left is the stored nested jar's, and zipfile (like
    # the JDK, which allows a launch script before the zip) reads that jar from its own offsets.
    for n in range(0, len(real), 13):
        try:
            found = read_jar(real[:n], "cut.jar")
        except JarError:
            continue
        assert [p.name for p in found.packages] == ["com.example.inspectr:demo-lib"], n


def test_every_error_is_a_package_db_error() -> None:
    assert issubclass(RpmDbError, PackageDbError) and issubclass(JarError, PackageDbError)
    assert issubclass(GoBuildInfoError, PackageDbError) and issubclass(PackageDbError, ValueError)
