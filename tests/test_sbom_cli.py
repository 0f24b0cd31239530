"""`inspectr sbom` on real images, and `inspectr verify --sbom` (issue 17): the SBOMs validate
against the official CycloneDX 1.6 and SPDX 2.3 schemas and count what the inventory counts; an
SBOM that comes with an image (a signed attestation, or a file) is held against its contents."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Callable

import jsonschema
import pytest
from clirun import run_main
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from inspectr import open_image
from inspectr.packages.inventory import image_inventory
from inspectr.session import Session

FIX = Path(__file__).resolve().parent.parent / "fixtures"
LAYOUT = FIX / "packages" / "layout"
SPDX_SCHEMA = json.loads((Path(__file__).resolve().parent / "data" / "spdx" / "spdx-schema.json").read_text())
IMAGES = [f"oci:{LAYOUT}:app-v2", str(FIX / "packages-eco" / "layout")]


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """The real entry point (errors end as they do for users: one line, exit 2)."""
    return lambda *args: run_main(capsys, "--no-cache", *args)


@pytest.mark.parametrize("image", IMAGES, ids=["debian", "ecosystems"])
def test_cyclonedx_validates_and_counts_the_inventory(run: Run, image: str) -> None:
    code, out, err = run("sbom", "-f", "cyclonedx", image)
    assert code == 0, err
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out) is None
    doc = json.loads(out)
    inventory = image_inventory(open_image(image), session=Session(cache=None))
    libraries = [c for c in doc["components"] if c["type"] != "file"]
    assert len(libraries) == len(inventory.packages) > 0
    assert {c["purl"] for c in libraries} == {p.purl for p in inventory.packages}
    assert doc["metadata"]["component"]["type"] == "container"


@pytest.mark.parametrize("image", IMAGES, ids=["debian", "ecosystems"])
def test_spdx_validates_and_counts_the_inventory(run: Run, image: str) -> None:
    code, out, err = run("sbom", "-f", "spdx", image)
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, SPDX_SCHEMA)
    inventory = image_inventory(open_image(image), session=Session(cache=None))
    described = {r["relatedSpdxElement"] for r in doc["relationships"] if r["relationshipType"] == "DESCRIBES"}
    assert [p["primaryPackagePurpose"] for p in doc["packages"] if p["SPDXID"] in described] == ["CONTAINER"]
    packages = [p for p in doc["packages"] if p["SPDXID"] not in described]
    assert len(packages) == len(inventory.packages) > 0


def test_the_debian_sbom_names_the_layer_and_file_hashes(run: Run) -> None:
    code, out, _ = run("sbom", "-f", "cyclonedx", f"oci:{LAYOUT}:app-v2")
    less = next(c for c in json.loads(out)["components"] if c["name"] == "less")
    props = {p["name"]: p["value"] for p in less.get("properties", [])}
    assert props["inspectr:layer"] == "2" and props["inspectr:layer_digest"].startswith("sha256:")
    files = {c["name"]: c for c in less.get("components", [])}
    assert files["/usr/bin/less"]["hashes"][0]["alg"] == "SHA-256"


def test_sbom_text_and_json_and_output_file(run: Run, tmp_path: Path) -> None:
    code, out, _ = run("sbom", "-f", "text", f"oci:{LAYOUT}:app-v2")
    assert code == 0 and "less" in out and "11 packages: 11 deb" in out
    target = tmp_path / "sbom.json"
    code, out, _ = run("sbom", "-f", "json", "-o", str(target), f"oci:{LAYOUT}:app-v2")
    assert code == 0 and out == ""
    doc = json.loads(target.read_text())
    assert doc["kind"] == "inventory" and doc["counts"] == {"deb": 11}
    code, _, err = run("sbom", "-f", "json", "-o", str(tmp_path / "no" / "such" / "dir.json"), f"oci:{LAYOUT}:app-v2")
    assert code == 2 and json.loads(err)["error"] == "write-error" and len(err.strip().splitlines()) == 1


def test_sbom_of_an_image_without_packages_is_empty_not_an_error(run: Run) -> None:
    code, out, _ = run("sbom", "-f", "json", str(FIX / "oci-busybox"))
    assert code == 0 and json.loads(out)["packages"] == []


# --- verify --sbom ----------------------------------------------------------------------------

def test_an_sbom_file_of_the_same_image_matches(run: Run, tmp_path: Path) -> None:
    sbom = tmp_path / "app-v2.cdx.json"
    sbom.write_text(run("sbom", "-f", "cyclonedx", f"oci:{LAYOUT}:app-v2")[1])
    code, out, err = run("verify", "-f", "json", "--sbom-file", str(sbom), f"oci:{LAYOUT}:app-v2")
    doc = json.loads(out)
    assert code == 0, err
    assert doc["verdict"] == "integrity-verified" and [c["status"] for c in doc["sbom"]] == ["pass"]
    assert "not signed" in doc["sbom"][0]["subject"]


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_an_sbom_of_another_image_names_what_differs(run: Run, tmp_path: Path, fmt: str) -> None:
    sbom = tmp_path / "app-v1.json"
    sbom.write_text(run("sbom", "-f", fmt, f"oci:{LAYOUT}:app-v1")[1])
    code, out, _ = run("verify", "-f", "json", "--sbom-file", str(sbom), f"oci:{LAYOUT}:app-v2")
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "sbom-mismatch"
    unclaimed = sorted(c["subject"] for c in doc["sbom"] if c["check"] == "sbom-unclaimed")
    assert unclaimed == ["deb:less", "deb:libtinfo6"]
    assert not [c for c in doc["sbom"] if c["check"] == "sbom-claimed-absent"]


def test_a_hostile_sbom_file_is_a_failed_check_not_a_crash(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 7}')
    code, out, _ = run("verify", "-f", "json", "--sbom-file", str(bad), f"oci:{LAYOUT}:app-v2")
    doc = json.loads(out)
    assert code == 1 and doc["sbom"][0]["error"] == "malformed-sbom"
    code, out, err = run("verify", "--sbom-file", str(tmp_path / "missing.json"), f"oci:{LAYOUT}:app-v2")
    assert code == 2 and "SBOM file not found" in err


def _signed_sbom_attestation(tmp_path: Path, predicate: dict[str, object], digest: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "sbom-signer.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "app", "digest": {"sha256": digest.removeprefix("sha256:")}}],
                 "predicateType": "https://cyclonedx.org/bom", "predicate": predicate}
    body = json.dumps(statement).encode()
    kind = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind.encode(), len(body), body)
    signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
    envelope = tmp_path / "sbom.intoto.json"
    envelope.write_text(json.dumps({"payloadType": kind, "payload": base64.b64encode(body).decode(),
                                    "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}]}))
    return envelope, pub


def test_a_signed_sbom_attestation_is_checked_against_the_image(run: Run, tmp_path: Path) -> None:
    v1 = json.loads(run("sbom", "-f", "cyclonedx", f"oci:{LAYOUT}:app-v1")[1])
    v2 = json.loads(run("sbom", "-f", "cyclonedx", f"oci:{LAYOUT}:app-v2")[1])
    digest = open_image(f"oci:{LAYOUT}:app-v2").manifest_digest
    # the release's own SBOM, signed: verified, and the SBOM matches
    envelope, pub = _signed_sbom_attestation(tmp_path, v2, str(digest))
    code, out, err = run("verify", "-f", "json", "--key", str(pub), "--signatures", str(envelope), "--sbom",
                          "--attestation", "cyclonedx", f"oci:{LAYOUT}:app-v2")
    doc = json.loads(out)
    assert code == 0, (out, err)
    assert doc["verdict"] == "verified" and doc["sbom"][-1]["status"] == "pass"
    # a signed SBOM that leaves out less: the attestation verifies, the SBOM does not match
    (tmp_path / "stale").mkdir()
    stale, pub2 = _signed_sbom_attestation(tmp_path / "stale", v1, str(digest))
    code, out, _ = run("verify", "-f", "json", "--key", str(pub2), "--signatures", str(stale), "--sbom",
                        f"oci:{LAYOUT}:app-v2")
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "sbom-mismatch"
    assert sorted(c["subject"] for c in doc["sbom"] if c["check"] == "sbom-unclaimed") == ["deb:less", "deb:libtinfo6"]
    # an attestation whose signature does not verify is no evidence: no SBOM to check
    code, out, _ = run("verify", "-f", "json", "--key", str(pub), "--signatures", str(stale), "--sbom",
                        f"oci:{LAYOUT}:app-v2")
    doc = json.loads(out)
    assert code == 1 and [c["error"] for c in doc["sbom"]] == ["no-sbom"]
