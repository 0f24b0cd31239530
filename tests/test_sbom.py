"""SBOMs out (present/sbom.py) and in (untrusted/sbom.py): issue 17.

The documents inspectr writes are checked against the official schemas: CycloneDX 1.6 through
cyclonedx-python-lib's bundled schema (JsonStrictValidator), SPDX 2.3 against the SPDX project's
schema vendored in tests/data/spdx/ (NOTE.md says where it came from)."""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from inspectr.errors import MalformedImage
from inspectr.inventory_model import Inventory, LayerInfo
from inspectr.notice import Notice
from inspectr.package import ECOSYSTEMS, Package, PackageFile
from inspectr.present.sbom import cyclonedx_json, sbom_created, spdx_json
from inspectr.untrusted.sbom import ClaimedPackage, MalformedSbom, parse_sbom

SPDX_SCHEMA = Path(__file__).resolve().parent / "data" / "spdx" / "spdx-schema.json"
SPDX_SCHEMA_SHA256 = "239208b7ac287b3cf5d9a9af23f9d69863971102a5e1587a27a398b43490b89b"  # NOTE.md
DEFAULT = datetime(2030, 1, 1, tzinfo=timezone.utc)  # only used where the image records no time
HOSTILE_CREATED_BY = "/bin/sh -c echo '<script>alert(1)</script>' \x1b[31mred\x1b[0m \"quoted\" \\ back\nslash"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def inventory() -> Inventory:
    """A realistic mixed image: Debian base (multi-arch libc6), an apk and an rpm layer (as a
    scanner of a squashed multi-distro image would see them), Python in two places, an app with
    npm, a Go binary and a jar."""
    dpkg, apk, rpm = "var/lib/dpkg/status", "lib/apk/db/installed", "var/lib/rpm/rpmdb.sqlite"
    packages = (
        Package("deb", "libc6", "2.36-9+deb12u4", arch="amd64", source="glibc", location=dpkg, layer=0,
                files=(PackageFile("usr/lib/x86_64-linux-gnu/libc.so.6", "md5:" + "0" * 32),
                       PackageFile("usr/share/doc/libc6/copyright", "md5:" + "1" * 32),
                       PackageFile("usr/share/doc/libc6"))),  # a directory: no hash, not a file
        Package("deb", "libc6", "2.36-9+deb12u4", arch="i386", source="glibc", location=dpkg, layer=0,
                files=(PackageFile("usr/lib/i386-linux-gnu/libc.so.6", "md5:" + "2" * 32),
                       PackageFile("usr/share/doc/libc6/copyright", "md5:" + "1" * 32))),  # multi-arch: shared
        Package("deb", "bash", "5.2.15-2+b2", arch="amd64", source="bash", location=dpkg, layer=0,
                files=(PackageFile("usr/bin/bash", "md5:" + "3" * 32), PackageFile("etc/bash.bashrc", "md5:" + "4" * 32, True))),
        Package("apk", "musl", "1.2.4-r2", arch="x86_64", source="musl", location=apk, layer=1,
                files=(PackageFile("lib/ld-musl-x86_64.so.1", "sha1:" + "5" * 40),)),
        Package("rpm", "bash", "1:5.1.8-6.el9", arch="x86_64", source="bash-5.1.8-6.el9.src.rpm", location=rpm, layer=1,
                files=(PackageFile("usr/bin/bash", "sha256:" + "6" * 64),)),
        Package("python", "Jinja2", "3.1.2", location="usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA", layer=2,
                files=(PackageFile("usr/lib/python3/dist-packages/jinja2/__init__.py", "sha256:" + "7" * 64),)),
        Package("python", "requests", "2.31.0", location="usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", layer=2),
        Package("python", "requests", "2.31.0", location="opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
                layer=3),  # the same purl twice: two places
        Package("npm", "@babel/core", "7.22.5", location="app/node_modules/@babel/core/package.json", layer=3,
                files=(PackageFile("app/node_modules/@babel/core/lib/index.js"),)),
        Package("go", "github.com/spf13/cobra", "v1.7.0", location="usr/local/bin/app", layer=3, parent="example.com/app"),
        Package("maven", "org.apache.logging.log4j:log4j-core", "2.14.1",
                location="app/lib/app.jar!/META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties", layer=3,
                parent="app/lib/app.jar"),
    )
    owned = {f.path for p in packages for f in p.files if f.path != "usr/share/doc/libc6"}
    file_hashes = {path: sha(f"content of {path}") for path in sorted(owned)}
    layers = (
        LayerInfo(0, sha("blob0"), sha("tar0"), "/bin/sh -c #(nop) ADD file:1234 in / "),
        LayerInfo(1, sha("blob1"), sha("tar1"), "RUN apk add musl && rpm -i bash.rpm # buildkit"),
        LayerInfo(2, sha("blob2"), sha("tar2"), None),
        LayerInfo(3, sha("blob3"), sha("tar3"), HOSTILE_CREATED_BY),
    )
    return Inventory(
        reference="docker://registry.example:5000/team/app:1.0",
        image_digest=sha("manifest"),
        config_digest=sha("config"),
        layers=layers,
        packages=packages,
        notices=(Notice("npm-lock-only", "app/package-lock.json", 3, "a lockfile without node_modules"),),
        file_hashes=file_hashes,
        created="2024-05-01T12:34:56.123456789Z",
    )


def cdx(inv: Inventory) -> str:
    return cyclonedx_json(inv, tool_version="0.1.0", default_created=DEFAULT)


def spdx(inv: Inventory) -> str:
    return spdx_json(inv, tool_version="0.1.0", default_created=DEFAULT)


def spdx_validator() -> Any:
    assert hashlib.sha256(SPDX_SCHEMA.read_bytes()).hexdigest() == SPDX_SCHEMA_SHA256, "the vendored schema changed"
    schema = json.loads(SPDX_SCHEMA.read_text())
    assert schema["title"] == "SPDX 2.3"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def notes(package: dict[str, Any]) -> dict[str, str]:
    return dict(a["comment"].split(": ", 1) for a in package.get("annotations", []))


# --- writing -------------------------------------------------------------------------------------


def test_cyclonedx_is_valid_against_the_official_1_6_schema() -> None:
    text = cdx(inventory())
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    doc = json.loads(text)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")


def test_spdx_is_valid_against_the_official_2_3_schema() -> None:
    doc = json.loads(spdx(inventory()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in spdx_validator().iter_errors(doc)]
    assert not errors, errors
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"


def test_the_validators_do_reject_a_broken_document() -> None:
    # The validators are live: a document missing a required field fails each.
    cdx_doc = json.loads(cdx(inventory()))
    cdx_doc["components"][0]["type"] = "gadget"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(cdx_doc)) is not None
    spdx_doc = json.loads(spdx(inventory()))
    del spdx_doc["packages"][1]["downloadLocation"]
    assert list(spdx_validator().iter_errors(spdx_doc))


def test_every_package_is_one_component_and_one_spdx_package() -> None:
    inv = inventory()
    cdx_doc, spdx_doc = json.loads(cdx(inv)), json.loads(spdx(inv))
    assert len(cdx_doc["components"]) == len(inv.packages)
    assert len(spdx_doc["packages"]) == len(inv.packages) + 1  # + the image
    refs = [c["bom-ref"] for c in cdx_doc["components"]]
    assert len(set(refs)) == len(refs)  # requests twice: two places, two refs
    # Package.purl verbatim in both: the one purl text of a package in every inspectr output
    assert sorted(c["purl"] for c in cdx_doc["components"]) == sorted(p.purl for p in inv.packages)
    spdx_purls = [r["referenceLocator"] for p in spdx_doc["packages"][1:] for r in p["externalRefs"]]
    assert sorted(spdx_purls) == sorted(p.purl for p in inv.packages)
    assert "pkg:deb/libc6@2.36-9+deb12u4?arch=amd64&upstream=glibc" in spdx_purls
    assert "pkg:rpm/bash@5.1.8-6.el9?arch=x86_64&epoch=1&upstream=bash-5.1.8-6.el9.src.rpm" in spdx_purls


def test_the_image_is_the_root_with_its_digest_and_an_oci_purl() -> None:
    inv = inventory()
    root = json.loads(cdx(inv))["metadata"]["component"]
    hexdigest = inv.image_digest.removeprefix("sha256:")
    assert root["type"] == "container" and root["name"] == inv.reference and root["version"] == inv.image_digest
    assert root["hashes"] == [{"alg": "SHA-256", "content": hexdigest}]
    purl = PackageURL.from_string(root["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "app", inv.image_digest)
    assert purl.qualifiers == {"repository_url": "registry.example:5000/team/app", "tag": "1.0"}
    assert props(root) == {"inspectr:config_digest": inv.config_digest}
    deps = {d["ref"]: d.get("dependsOn", []) for d in json.loads(cdx(inv))["dependencies"]}
    assert len(deps[root["bom-ref"]]) == len(inv.packages)

    spdx_doc = json.loads(spdx(inv))
    image = spdx_doc["packages"][0]
    assert image["primaryPackagePurpose"] == "CONTAINER" and image["versionInfo"] == inv.image_digest
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": hexdigest}]
    assert image["externalRefs"][0]["referenceLocator"] == root["purl"]
    assert {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": image["SPDXID"],
            "relationshipType": "DESCRIBES"} in spdx_doc["relationships"]


@pytest.mark.parametrize("reference,name,qualifiers", [
    ("docker://debian", "debian", {"repository_url": "docker.io/library/debian", "tag": "latest"}),
    ("oci:fixtures/oci-busybox:latest", "oci-busybox", {"tag": "latest"}),
    ("app-1.0.tar", "app-1.0", {}),
    ("/srv/images/App.tar/", "app", {}),
    ("docker-archive:/tmp/app.tar:registry.example/app:2.0", "app", {"tag": "2.0"}),
    ("docker://Not A Reference", "not a reference", {}),
])
def test_the_image_purl_names_the_repository_or_the_file(reference: str, name: str, qualifiers: dict[str, str]) -> None:
    root = json.loads(cdx(replace(inventory(), reference=reference)))["metadata"]["component"]
    purl = PackageURL.from_string(root["purl"])
    assert (purl.name, purl.qualifiers) == (name, qualifiers)


def test_each_package_says_its_ecosystem_layer_and_database() -> None:
    inv = inventory()
    cdx_doc, spdx_doc = json.loads(cdx(inv)), json.loads(spdx(inv))
    for pkg in inv.packages:
        assert pkg.layer is not None
        layer = inv.layers[pkg.layer]
        expected = {"inspectr:ecosystem": pkg.ecosystem, "inspectr:layer": str(pkg.layer),
                    "inspectr:layer_digest": layer.digest, "inspectr:layer_diff_id": layer.diff_id,
                    "inspectr:location": pkg.location}
        if layer.created_by is not None:
            expected["inspectr:layer_created_by"] = layer.created_by
        for name, value in (("inspectr:arch", pkg.arch), ("inspectr:source", pkg.source), ("inspectr:parent", pkg.parent)):
            if value:
                expected[name] = value
        found = [c for c in cdx_doc["components"] if props(c)["inspectr:location"] == pkg.location
                 and c["purl"] == pkg.purl]
        assert len(found) == 1 and props(found[0]) == expected
        assert found[0]["version"] == pkg.version
        spdx_found = [p for p in spdx_doc["packages"][1:] if notes(p)["inspectr:location"] == pkg.location
                      and p["externalRefs"][0]["referenceLocator"] == pkg.purl]
        assert len(spdx_found) == 1 and notes(spdx_found[0]) == expected
        assert spdx_found[0]["name"] == pkg.name and spdx_found[0]["versionInfo"] == pkg.version
    maven = next(c for c in cdx_doc["components"] if props(c)["inspectr:ecosystem"] == "maven")
    assert (maven["group"], maven["name"]) == ("org.apache.logging.log4j", "log4j-core")
    npm = next(c for c in cdx_doc["components"] if props(c)["inspectr:ecosystem"] == "npm")
    assert (npm["group"], npm["name"]) == ("@babel", "core")


def test_files_carry_the_hash_the_verified_index_measured() -> None:
    inv = inventory()
    cdx_doc, spdx_doc = json.loads(cdx(inv)), json.loads(spdx(inv))
    for component in cdx_doc["components"]:
        pkg_files = {f["name"].removeprefix("/"): f for f in component.get("components", [])}
        for path, f in pkg_files.items():
            assert f["type"] == "file"
            assert f["hashes"] == [{"alg": "SHA-256", "content": inv.file_hashes[path].removeprefix("sha256:")}]
    libc = [c for c in cdx_doc["components"] if c["name"] == "libc6" and props(c)["inspectr:arch"] == "amd64"][0]
    # the directory has no hash and is not a file; the database's md5 is not what is reported
    assert sorted(f["name"] for f in libc["components"]) == ["/usr/lib/x86_64-linux-gnu/libc.so.6",
                                                             "/usr/share/doc/libc6/copyright"]
    assert "0" * 32 not in json.dumps(cdx_doc) and "0" * 32 not in json.dumps(spdx_doc)

    files = {f["fileName"]: f for f in spdx_doc["files"]}
    assert set(files) == {f"./{path}" for path in inv.file_hashes}  # a file two packages own is listed once
    for name, f in files.items():
        assert f["checksums"] == [{"algorithm": "SHA256", "checksumValue": inv.file_hashes[name[2:]].removeprefix("sha256:")}]
    ids = {p["SPDXID"]: p for p in spdx_doc["packages"]}
    contains = [(r["spdxElementId"], r["relatedSpdxElement"]) for r in spdx_doc["relationships"]
                if r["relationshipType"] == "CONTAINS" and r["relatedSpdxElement"].startswith("SPDXRef-File-")]
    copyright_id = files["./usr/share/doc/libc6/copyright"]["SPDXID"]
    assert sorted(ids[p]["name"] for p, f in contains if f == copyright_id) == ["libc6", "libc6"]
    for package in spdx_doc["packages"][1:]:
        owns = any(p == package["SPDXID"] for p, _ in contains)
        assert package["filesAnalyzed"] is owns and "packageVerificationCode" not in package
    all_ids = [p["SPDXID"] for p in spdx_doc["packages"]] + [f["SPDXID"] for f in spdx_doc["files"]]
    assert len(set(all_ids)) == len(all_ids)


def test_the_timestamp_is_the_image_creation_time_else_the_default() -> None:
    inv = inventory()
    assert json.loads(cdx(inv))["metadata"]["timestamp"] == "2024-05-01T12:34:56+00:00"
    assert json.loads(spdx(inv))["creationInfo"]["created"] == "2024-05-01T12:34:56Z"
    for created in (None, "yesterday", "2023-02-30T00:00:00Z", ""):
        bare = replace(inv, created=created)
        assert json.loads(spdx(bare))["creationInfo"]["created"] == "2030-01-01T00:00:00Z"
        assert json.loads(cdx(bare))["metadata"]["timestamp"] == "2030-01-01T00:00:00+00:00"
    assert sbom_created("2024-05-01T14:34:56+02:00", default=DEFAULT) == datetime(2024, 5, 1, 12, 34, 56, tzinfo=timezone.utc)


def test_the_same_inventory_gives_byte_identical_sboms_in_any_package_order() -> None:
    inv = inventory()
    shuffled = list(inv.packages)
    random.Random(17).shuffle(shuffled)
    other = replace(inv, packages=tuple(shuffled), file_hashes=dict(reversed(list(inv.file_hashes.items()))))
    assert cdx(inv) == cdx(inv) == cdx(other)
    assert spdx(inv) == spdx(inv) == spdx(other)
    # a naive default is read as UTC, never local time
    naive = replace(inv, created=None)
    assert spdx_json(naive, tool_version="0.1.0", default_created=datetime(2030, 1, 1)) == spdx(naive)


def test_serial_number_and_namespace_follow_the_image_digest() -> None:
    inv = inventory()
    other = replace(inv, image_digest=sha("another manifest"))
    serial, namespace = json.loads(cdx(inv))["serialNumber"], json.loads(spdx(inv))["documentNamespace"]
    assert serial.startswith("urn:uuid:") and namespace.startswith("urn:uuid:")
    assert serial != json.loads(cdx(other))["serialNumber"]
    assert namespace != json.loads(spdx(other))["documentNamespace"]
    assert serial == json.loads(cdx(replace(inv, packages=inv.packages[:2])))["serialNumber"]


def test_a_hostile_created_by_stays_data_and_nothing_but_the_inventory_is_written() -> None:
    inv = inventory()
    for text, doc in ((cdx(inv), "cdx"), (spdx(inv), "spdx")):
        assert "\x1b" not in text and "\n" + "slash" not in text  # control characters are JSON escapes
        assert "\\u001b[31m" in text and "<script>alert(1)</script>" in text
        parsed = json.loads(text)
        values = [props(c).get("inspectr:layer_created_by") for c in parsed["components"]] if doc == "cdx" else \
                 [notes(p).get("inspectr:layer_created_by") for p in parsed["packages"]]
        assert HOSTILE_CREATED_BY in values  # byte for byte, once decoded
        lowered = text.lower()
        for word in ('"env"', '"labels"', '"config"', "npm-lock-only"):  # no env, labels, or notices
            assert word not in lowered
    names = {p["name"] for c in json.loads(cdx(inv))["components"] for p in c.get("properties", [])}
    assert names <= {"inspectr:ecosystem", "inspectr:layer", "inspectr:layer_digest", "inspectr:layer_diff_id",
                     "inspectr:layer_created_by", "inspectr:location", "inspectr:arch", "inspectr:source", "inspectr:parent"}


def test_an_inventory_without_packages_is_a_valid_sbom() -> None:
    empty = Inventory("oci:layout:empty", sha("m"), sha("c"), (), ())
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx(empty)) is None
    assert not list(spdx_validator().iter_errors(json.loads(spdx(empty))))
    assert parse_sbom(cdx(empty).encode()).packages == parse_sbom(spdx(empty).encode()).packages == ()


def test_the_presenter_table_writes_both_formats() -> None:
    from inspectr.present.table import present

    inv = inventory()
    for fmt, text in (("cyclonedx", cdx(inv)), ("spdx", spdx(inv))):
        out = io.StringIO()
        present(inv, fmt, out)
        assert out.getvalue() == text + "\n"  # the image records its time: the clock is not read


# --- reading back --------------------------------------------------------------------------------


def expected_claims(inv: Inventory) -> list[ClaimedPackage]:
    return sorted(ClaimedPackage(p.name, p.version, p.purl, p.ecosystem) for p in inv.packages)


def test_cyclonedx_round_trips_through_the_reader() -> None:
    inv = inventory()
    claims = parse_sbom(cdx(inv).encode())
    assert (claims.format, claims.spec_version, claims.label) == ("cyclonedx", "1.6", "CycloneDX 1.6")
    assert sorted(claims.packages) == expected_claims(inv)


def test_spdx_round_trips_through_the_reader() -> None:
    inv = inventory()
    claims = parse_sbom(spdx(inv).encode())
    assert (claims.format, claims.spec_version, claims.label) == ("spdx", "SPDX-2.3", "SPDX 2.3")
    assert sorted(claims.packages) == expected_claims(inv)


def test_other_tools_sboms_are_read() -> None:
    # The shapes other scanners write: SPDX 2.2 with documentDescribes and the image as a package,
    # CycloneDX 1.4 with an operating-system component and a Maven group.
    spdx22 = {"spdxVersion": "SPDX-2.2", "SPDXID": "SPDXRef-DOCUMENT", "name": "alpine", "dataLicense": "CC0-1.0",
              "documentDescribes": ["SPDXRef-DocumentRoot-Image-alpine"],
              "packages": [
                  {"SPDXID": "SPDXRef-DocumentRoot-Image-alpine", "name": "alpine", "versionInfo": "sha256:abc",
                   "primaryPackagePurpose": "CONTAINER"},
                  {"SPDXID": "SPDXRef-Package-apk-musl", "name": "musl", "versionInfo": "1.2.4-r2",
                   "externalRefs": [{"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
                                     "referenceLocator": "cpe:2.3:a:musl:musl:1.2.4-r2:*:*:*:*:*:*:*"},
                                    {"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl",
                                     "referenceLocator": "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"}]},
                  {"SPDXID": "SPDXRef-Package-binary", "name": "busybox", "versionInfo": "1.36.1"}]}
    claims = parse_sbom(json.dumps(spdx22).encode())
    assert claims.packages == (ClaimedPackage("musl", "1.2.4-r2", "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64", "apk"),
                               ClaimedPackage("busybox", "1.36.1", "", ""))
    cdx14 = {"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1,
             "metadata": {"component": {"type": "container", "name": "app"}},
             "components": [{"type": "operating-system", "name": "debian", "version": "12.5"},
                            {"type": "library", "group": "org.yaml", "name": "snakeyaml", "version": "1.33",
                             "purl": "pkg:maven/org.yaml/snakeyaml@1.33",
                             "components": [{"type": "library", "name": "inner", "purl": "pkg:golang/example.com/inner@v1"}]},
                            {"type": "application", "name": "left-pad", "version": "1.3.0", "purl": "pkg:npm/left-pad@1.3.0"}]}
    claims = parse_sbom(json.dumps(cdx14).encode())
    assert claims.label == "CycloneDX 1.4"
    assert claims.packages == (ClaimedPackage("org.yaml:snakeyaml", "1.33", "pkg:maven/org.yaml/snakeyaml@1.33", "maven"),
                               ClaimedPackage("left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0", "npm"),
                               ClaimedPackage("inner", "", "pkg:golang/example.com/inner@v1", "go"))


def nested_components(depth: int) -> bytes:
    component: dict[str, Any] = {"type": "library", "name": "leaf"}
    for _ in range(depth - 1):
        component = {"type": "container", "name": "x", "components": [component]}
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]}).encode()


def cdx_doc(**fields: Any) -> bytes:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", **fields}).encode()


HOSTILE = [
    ("huge", b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "pad": "' + b"x" * (1 << 20) + b'"}',
     "exceeds the SBOM size cap of 1048576 bytes"),
    ("deep_json", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ("deep_components", nested_components(40), "nested more than 32 deep"),
    ("not_json", b"<bom xmlns='http://cyclonedx.org/schema/bom/1.6'/>", "invalid JSON"),
    ("not_utf8", b'{"bomFormat": "\xff"}', "not UTF-8"),
    ("duplicate_key", b'{"bomFormat": "CycloneDX", "bomFormat": "SPDX"}', "duplicate key 'bomFormat'"),
    ("nan", b'{"bomFormat": "CycloneDX", "specVersion": NaN}', "non-finite number NaN"),
    ("top_level_array", b"[]", "expected a JSON object, got an array"),
    ("neither_format", b'{"name": "x"}', "neither CycloneDX JSON"),
    ("spdx3", json.dumps({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}).encode(), "JSON-LD (SPDX 3)"),
    ("bad_bom_format", json.dumps({"bomFormat": ["CycloneDX"]}).encode(), "expected 'CycloneDX'"),
    ("old_cyclonedx", cdx_doc(specVersion="1.3"), "CycloneDX '1.3' is not read"),
    ("spec_version_number", cdx_doc(specVersion=1.6), "specVersion: expected a string, got a number"),
    ("components_not_a_list", cdx_doc(components={"name": "x"}), "components: expected an array, got an object"),
    ("component_not_an_object", cdx_doc(components=["bash"]), "components[0]: expected an object, got a string"),
    ("name_wrong_type", cdx_doc(components=[{"type": "library", "name": 5}]), "components[0].name: expected a string"),
    ("name_missing", cdx_doc(components=[{"type": "library"}]), "components[0]: missing 'name'"),
    ("nested_not_a_list", cdx_doc(components=[{"type": "library", "name": "a", "components": "b"}]),
     "components[0].components: expected an array"),
    ("purl_not_a_purl", cdx_doc(components=[{"type": "library", "name": "a", "purl": "http://evil\x1b[2J"}]),
     "is not a package URL"),
    ("too_many", cdx_doc(components=[{"type": "library", "name": str(i)} for i in range(11)]), "more than 10 packages"),
    ("spdx_packages_not_a_list", json.dumps({"spdxVersion": "SPDX-2.3", "packages": {}}).encode(),
     "packages: expected an array, got an object"),
    ("spdx_old", json.dumps({"spdxVersion": "SPDX-2.1"}).encode(), "'SPDX-2.1' is not read"),
    ("no_spec_version", json.dumps({"bomFormat": "CycloneDX"}).encode(), "sbom (cyclonedx): document: missing 'specVersion'"),
    ("spdx_external_refs_wrong", json.dumps({"spdxVersion": "SPDX-2.3", "packages": [
        {"SPDXID": "SPDXRef-a", "name": "a", "externalRefs": [{"referenceType": "purl", "referenceLocator": 7}]}]}).encode(),
     "packages[0].externalRefs[0].referenceLocator: expected a string, got a number"),
    ("spdx_relationship_wrong", json.dumps({"spdxVersion": "SPDX-2.3", "relationships": [None]}).encode(),
     "relationships[0]: expected an object, got null"),
    ("spdx_too_many", json.dumps({"spdxVersion": "SPDX-2.3", "packages": [
        {"SPDXID": f"SPDXRef-{i}", "name": str(i)} for i in range(12)]}).encode(), "more than 10 packages"),
]


@pytest.mark.parametrize("data,fragment", [pytest.param(d, f, id=name) for name, d, f in HOSTILE])
def test_a_hostile_sbom_is_a_malformed_sbom_error(data: bytes, fragment: str) -> None:
    with pytest.raises(MalformedSbom) as info:
        parse_sbom(data, max_bytes=1 << 20, max_packages=10)
    err = info.value
    assert isinstance(err, MalformedImage) and err.error_class == "malformed-sbom"
    assert fragment in err.message, err.message
    assert "\n" not in err.message and "\x1b" not in err.message and len(err.message) < 300, err.message


# --- laws ----------------------------------------------------------------------------------------

_TEXT = st.text(min_size=1, max_size=12)  # any character but a lone surrogate


@st.composite
def packages(draw: st.DrawFn) -> tuple[Package, ...]:
    out = []
    for i in range(draw(st.integers(0, 4))):
        ecosystem = draw(st.sampled_from(ECOSYSTEMS))
        name = draw(_TEXT)
        if ecosystem == "maven":
            name = f"{draw(_TEXT)}:{name}"
        out.append(Package(ecosystem, name, draw(st.text(max_size=8)), arch=draw(st.sampled_from(["", "amd64"])),
                           location=f"db/{i}", layer=draw(st.sampled_from([None, 0])),
                           files=(PackageFile(draw(_TEXT)),)))
    return tuple(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pkgs=packages(), created_by=st.one_of(st.none(), st.text(max_size=20)))
def test_any_inventory_writes_valid_sboms_that_read_back(pkgs: tuple[Package, ...], created_by: str | None) -> None:
    # Names, versions and paths from an image are arbitrary text: both documents stay valid and
    # every package comes back with its name, version and purl.
    inv = Inventory("oci:x:y", sha("m"), sha("c"), (LayerInfo(0, sha("b"), sha("t"), created_by),), pkgs,
                    file_hashes={f.path: sha(f.path) for p in pkgs for f in p.files})
    cdx_text, spdx_text = cdx(inv), spdx(inv)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx_text) is None
    assert not list(spdx_validator().iter_errors(json.loads(spdx_text)))
    for text in (cdx_text, spdx_text):
        claims = parse_sbom(text.encode()).packages
        assert sorted(claims) == sorted(ClaimedPackage(p.name, p.version, p.purl, p.ecosystem) for p in pkgs)
