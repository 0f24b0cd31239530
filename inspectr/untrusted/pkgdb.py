"""Parsers for package databases found in images: dpkg status and .list files, Alpine's apk
installed db, Python METADATA/RECORD and npm package.json. Bounded, and lenient only where
the formats are (unknown fields are ignored; malformed stanzas are skipped)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

__all__ = ["Package", "parse_dpkg_status", "parse_dpkg_list", "parse_apk_installed", "parse_python_metadata",
           "parse_python_record", "parse_npm_package"]

MAX_DB_BYTES = 64 << 20


@dataclass(slots=True)
class Package:
    ecosystem: str  # deb | apk | python | npm
    name: str
    version: str
    files: list[str] = field(default_factory=list)
    source_path: str = ""
    layer: int | None = None


def _text(data: bytes) -> str:
    return data[:MAX_DB_BYTES].decode("utf-8", "replace")


def parse_dpkg_status(data: bytes) -> list[Package]:
    """Installed packages (Status: install ok installed) from var/lib/dpkg/status."""
    out = []
    for stanza in _text(data).split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        name, version, status = fields.get("Package"), fields.get("Version", ""), fields.get("Status", "")
        if name and status.endswith(" installed"):
            arch = fields.get("Architecture", "")
            out.append(Package("deb", name if arch in ("", "all") or ":" in name else name, version))
    return out


def parse_dpkg_list(data: bytes) -> list[str]:
    """Paths (relative, no leading '/') from var/lib/dpkg/info/<pkg>.list."""
    return [line.strip().lstrip("/") for line in _text(data).splitlines() if line.strip() and line.strip() != "/."]


def parse_apk_installed(data: bytes) -> list[Package]:
    """lib/apk/db/installed: stanzas of `X:value` lines; F: sets the directory for R: files."""
    out = []
    for stanza in _text(data).split("\n\n"):
        pkg: Package | None = None
        directory = ""
        for line in stanza.splitlines():
            if len(line) < 2 or line[1] != ":":
                continue
            key, value = line[0], line[2:]
            if key == "P":
                pkg = Package("apk", value, "")
            elif pkg is None:
                continue
            elif key == "V":
                pkg.version = value
            elif key == "F":
                directory = value.strip("/")
            elif key == "R":
                pkg.files.append(f"{directory}/{value}" if directory else value)
        if pkg is not None:
            out.append(pkg)
    return out


def parse_python_metadata(data: bytes) -> Package | None:
    """Name and Version from a dist-info METADATA or egg-info PKG-INFO (RFC 822 headers)."""
    name = version = None
    for line in _text(data).splitlines():
        if not line.strip():
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return Package("python", name, version or "") if name else None


def parse_python_record(data: bytes, site_dir: str) -> list[str]:
    """Files from a dist-info RECORD (CSV: path, hash, size), relative to the site dir. A bare
    carriage return ends a line, as in importlib.metadata (csv wants newline=""); a RECORD that
    is still not CSV (a field over csv's 128 KiB limit) ends the list where it breaks."""
    out = []
    try:
        for row in csv.reader(io.StringIO(_text(data), newline="")):
            if row and row[0]:
                path = row[0]
                parts: list[str] = []
                for part in f"{site_dir}/{path}".split("/"):
                    if part == "..":
                        if parts:
                            parts.pop()
                    elif part not in ("", "."):
                        parts.append(part)
                out.append("/".join(parts))
    except csv.Error:
        pass  # the image's data, not an error of inspectr's
    return out


def parse_npm_package(data: bytes) -> Package | None:
    try:
        doc = json.loads(_text(data))
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        return None
    version = doc.get("version")
    return Package("npm", doc["name"], version if isinstance(version, str) else "")
