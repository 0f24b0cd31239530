"""Text package databases found in images: dpkg (status, status.d, info/*.list and *.md5sums),
Alpine's apk installed db, Python METADATA/RECORD and npm package.json and lockfiles. Also the
path rule that says which image files are package evidence, so the indexing pass can keep them.

Bounded, and lenient only where the formats are: unknown fields are ignored, a malformed stanza
or row is skipped. A database that is not text of its kind gives fewer packages, never a crash;
a database over its size cap raises PackageDbError, which the inventory turns into a notice."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from dataclasses import dataclass

from ..package import Package, PackageFile

__all__ = ["MAX_DB_BYTES", "MAX_PACKAGES", "PackageDbError", "evidence_kind", "DpkgStanza", "parse_dpkg_status",
           "parse_dpkg_list", "parse_dpkg_md5sums", "parse_dpkg_diversions", "parse_apk_installed", "parse_python_metadata",
           "parse_python_record", "parse_npm_package", "parse_npm_lock", "normalise_path"]

MAX_DB_BYTES = 64 << 20
MAX_PACKAGES = 200_000  # per database; a real distro has a few thousand
MAX_FILES = 2_000_000  # file rows per database


class PackageDbError(ValueError):
    """A package database that cannot be read within its bounds (the message says which)."""


# What the indexing pass keeps of a layer, by path. "db": a database file (kept whole, bounded);
# "jar": a Java archive (read for pom.properties); "exec": a candidate binary (scanned for Go
# build info while it is hashed). Patterns are anchored at the image root.
_DB = re.compile(
    r"(?:var/lib/dpkg/(?:status|diversions|status\.d/[^/]+|info/[^/]+\.(?:list|md5sums))"
    r"|lib/apk/db/installed"
    r"|(?:var/lib/rpm|usr/lib/sysimage/rpm)/(?:rpmdb\.sqlite|Packages|Packages\.db)"
    r"|(?:.*/)?[^/]+\.dist-info/(?:METADATA|RECORD)|(?:.*/)?[^/]+\.egg-info/PKG-INFO"
    r"|(?:.*/)?node_modules/(?:@[^/]+/)?[^/]+/package\.json|(?:.*/)?node_modules/\.package-lock\.json"
    r"|(?:.*/)?package-lock\.json)\Z")
_JAR = re.compile(r".*\.(?:jar|war|ear)\Z")
_MD5 = re.compile(r"[0-9a-f]{32}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HASH_SIZES = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


def evidence_kind(path: str, mode: int, size: int) -> str | None:
    """Which evidence a regular file is, if any: "db", "jar" or "exec" (see above)."""
    if size <= 0:
        return None
    if path.endswith(("status", "diversions", ".list", ".md5sums", "installed", "METADATA", "RECORD", "PKG-INFO", ".json",
                      "rpmdb.sqlite", "Packages", "Packages.db")) and size <= MAX_DB_BYTES and _DB.match(path):
        return "db"
    if path.endswith(("ar",)) and _JAR.match(path):
        return "jar"
    if mode & 0o111 and size >= 4096:
        return "exec"
    return None


def normalise_path(path: str, base: str = "") -> str:
    """A database's file name as an image path: relative to the root, '.' and '..' resolved
    lexically, never above the root."""
    if not base and "/." not in path and "//" not in path and not path.startswith("."):
        return path.strip("/")  # the common case: nothing to resolve (dpkg lists ~100k such names)
    parts: list[str] = []
    for part in (f"{base}/{path}" if base else path).split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _text(data: bytes, what: str) -> str:
    if len(data) > MAX_DB_BYTES:
        raise PackageDbError(f"{what}: {len(data)} bytes, over the {MAX_DB_BYTES >> 20} MiB cap for a package database")
    return data.decode("utf-8", "replace")


def _stanzas(text: str) -> list[dict[str, str]]:
    """RFC 822-style stanzas; continuation lines are kept, joined by newlines."""
    out: list[dict[str, str]] = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if last:
                    fields[last] += "\n" + line.strip()
                continue
            key, sep, value = line.partition(":")
            if not sep:
                continue
            last = key.strip()
            fields[last] = value.strip()
        if fields:
            out.append(fields)
            if len(out) > MAX_PACKAGES:
                raise PackageDbError(f"more than {MAX_PACKAGES} stanzas")
    return out


@dataclass(frozen=True, slots=True)
class DpkgStanza:
    """One package of dpkg's status: the package, its state and its conffiles (path → md5)."""

    package: Package
    state: str
    conffiles: tuple[tuple[str, str], ...]


# dpkg's states in which a package's files are (or may partly be) on disk; "not-installed" and
# "config-files" (removed, only conffiles left) are not installed packages.
_PRESENT = ("installed", "half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending")


def parse_dpkg_status(data: bytes, location: str, *, require_status: bool = True) -> list[DpkgStanza]:
    """Packages from var/lib/dpkg/status, or one file of distroless's status.d (whose stanzas
    may carry no Status field: `require_status=False`)."""
    out = []
    for fields in _stanzas(_text(data, location)):
        name = fields.get("Package", "")
        status = fields.get("Status", "")
        state = status.split()[-1] if status.split() else ""
        if not name or (require_status or status) and state not in _PRESENT:
            continue
        source = fields.get("Source", "").split(" ")[0] or name
        conffiles = []
        for line in fields.get("Conffiles", "").splitlines():
            parts = line.split()
            if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{32}", parts[1]):
                conffiles.append((normalise_path(parts[0]), parts[1]))
        pkg = Package("deb", name, fields.get("Version", ""), fields.get("Architecture", ""), source, location)
        out.append(DpkgStanza(pkg, state or "installed", tuple(conffiles)))
    return out


def parse_dpkg_list(data: bytes, location: str = "dpkg .list") -> list[str]:
    """Paths from var/lib/dpkg/info/<pkg>.list (directories included, '/.' left out)."""
    out = [normalise_path(line) for line in _text(data, location).splitlines() if line.strip() not in ("", "/.")]
    if len(out) > MAX_FILES:
        raise PackageDbError(f"{location}: more than {MAX_FILES} files")
    return [p for p in out if p]


def parse_dpkg_md5sums(data: bytes, location: str = "dpkg .md5sums") -> dict[str, str]:
    """path → md5 hex from var/lib/dpkg/info/<pkg>.md5sums ("HEX  path" per line)."""
    out: dict[str, str] = {}
    for line in _text(data, location).splitlines():
        digest, _, path = line.partition(" ")
        path = path.lstrip(" *")
        if _MD5.fullmatch(digest) and path:
            out[normalise_path(path)] = digest
            if len(out) > MAX_FILES:
                raise PackageDbError(f"{location}: more than {MAX_FILES} files")
    return out


def parse_dpkg_diversions(data: bytes, location: str = "var/lib/dpkg/diversions") -> dict[str, tuple[str, str]]:
    """path -> (where the file really is, the package that diverted it; ":" for a local diversion)
    from dpkg's diversions file: three lines per diversion."""
    lines = _text(data, location).splitlines()
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(lines) - 2, 3):
        out[normalise_path(lines[i])] = (normalise_path(lines[i + 1]), lines[i + 2].strip())
        if len(out) > MAX_FILES:
            raise PackageDbError(f"{location}: more than {MAX_FILES} diversions")
    return out


def _apk_checksum(value: str) -> str:
    # "Q1" + base64 of a SHA-1 (apk's own form); a bare hex digest is MD5 in old databases
    if value.startswith("Q1"):
        try:
            raw = base64.b64decode(value[2:], validate=True)
        except (binascii.Error, ValueError):
            return ""
        return f"sha1:{raw.hex()}" if len(raw) == 20 else ""
    return f"md5:{value}" if re.fullmatch(r"[0-9a-f]{32}", value) else ""


def parse_apk_installed(data: bytes, location: str = "lib/apk/db/installed") -> list[Package]:
    """lib/apk/db/installed: stanzas of `X:value` lines. F: sets the directory for the R: files
    after it, and the Z: after an R: is that file's checksum."""
    out = []
    count = 0
    for block in re.split(r"\n[ \t]*\n", _text(data, location)):
        head: dict[str, str] = {}
        files: list[PackageFile] = []
        directory = ""
        for line in block.splitlines():
            if len(line) < 2 or line[1] != ":":
                continue
            key, value = line[0], line[2:]
            if key in "PVAo" and key not in head:
                head[key] = value
            elif key == "F":
                directory = normalise_path(value)
            elif key == "R":
                files.append(PackageFile(normalise_path(value, directory)))
                count += 1
                if count > MAX_FILES:
                    raise PackageDbError(f"{location}: more than {MAX_FILES} files")
            elif key == "Z" and files and not files[-1].digest:
                files[-1] = PackageFile(files[-1].path, _apk_checksum(value))
        if head.get("P"):
            out.append(Package("apk", head["P"], head.get("V", ""), head.get("A", ""), head.get("o", ""), location,
                               files=tuple(files)))
            if len(out) > MAX_PACKAGES:
                raise PackageDbError(f"{location}: more than {MAX_PACKAGES} packages")
    return out


def parse_python_metadata(data: bytes, location: str) -> Package | None:
    """Name and Version from a dist-info METADATA or egg-info PKG-INFO (RFC 822 headers)."""
    name = version = None
    for line in _text(data, location).splitlines():
        if not line.strip():
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return Package("python", name, version or "", location=location) if name else None


def _record_digest(value: str) -> str:
    """RECORD's ALGO=DIGEST: urlsafe base64 without padding (PEP 376), or hex, as Debian's
    dh_python writes it; the two are told apart by length (a sha256 is 43 or 64 characters)."""
    algo, sep, encoded = value.partition("=")
    if not sep or algo not in _HASH_SIZES:
        return ""
    if len(encoded) == 2 * _HASH_SIZES[algo] and _HEX.fullmatch(encoded):
        return f"{algo}:{encoded.lower()}"
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return ""
    return f"{algo}:{raw.hex()}" if len(raw) == _HASH_SIZES[algo] else ""


def parse_python_record(data: bytes, site_dir: str, location: str = "RECORD") -> list[PackageFile]:
    """Files from a dist-info RECORD (CSV: path, hash, size), relative to the site dir. A bare
    carriage return ends a line, as in importlib.metadata (csv wants newline=""); a RECORD that
    is still not CSV (a field over csv's 128 KiB limit) ends the list where it breaks."""
    out = []
    try:
        for row in csv.reader(io.StringIO(_text(data, location), newline="")):
            if row and row[0]:
                out.append(PackageFile(normalise_path(row[0], site_dir), _record_digest(row[1]) if len(row) > 1 else ""))
                if len(out) > MAX_FILES:
                    raise PackageDbError(f"{location}: more than {MAX_FILES} files")
    except csv.Error:
        pass  # the image's data, not an error of inspectr's
    return out


def _json(data: bytes, location: str) -> object:
    try:
        return json.loads(_text(data, location))
    except (ValueError, RecursionError):
        return None


def parse_npm_package(data: bytes, location: str) -> Package | None:
    """An installed npm package from node_modules/<name>/package.json."""
    doc = _json(data, location)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        return None
    version = doc.get("version")
    return Package("npm", doc["name"], version if isinstance(version, str) else "", location=location)


def parse_npm_lock(data: bytes, location: str) -> list[Package]:
    """Packages a package-lock.json (or node_modules/.package-lock.json) names. Version 2 and 3
    lockfiles list "packages" by install path; version 1 nests "dependencies". Each Package's
    location is the install path it names, relative to the lockfile's directory."""
    doc = _json(data, location)
    if not isinstance(doc, dict):
        return []
    out: list[Package] = []
    base = location.rsplit("/", 1)[0] if "/" in location else ""
    if base.endswith("node_modules"):
        base = base.rsplit("/", 1)[0] if "/" in base else ""
    packages = doc.get("packages")
    if isinstance(packages, dict):
        for install_path, meta in packages.items():
            if not install_path or not isinstance(install_path, str) or not isinstance(meta, dict):
                continue
            if "node_modules/" not in f"{install_path}/" or meta.get("link") is True:
                continue
            name = meta.get("name") if isinstance(meta.get("name"), str) else install_path.rsplit("node_modules/", 1)[-1]
            version = meta.get("version") if isinstance(meta.get("version"), str) else ""
            out.append(Package("npm", str(name), str(version), location=normalise_path(install_path, base)))
            if len(out) > MAX_PACKAGES:
                raise PackageDbError(f"{location}: more than {MAX_PACKAGES} packages")
        return out
    stack: list[tuple[str, object]] = [(base, doc.get("dependencies"))]
    while stack:
        where, deps = stack.pop()
        if not isinstance(deps, dict):
            continue
        for name, meta in deps.items():
            if not isinstance(meta, dict):
                continue
            install = normalise_path(f"node_modules/{name}", where)
            version = meta.get("version") if isinstance(meta.get("version"), str) else ""
            out.append(Package("npm", name, str(version), location=install))
            if len(out) > MAX_PACKAGES:
                raise PackageDbError(f"{location}: more than {MAX_PACKAGES} packages")
            stack.append((install, meta.get("dependencies")))
    return out
