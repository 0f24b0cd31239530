"""inspectr verify: the integrity chain on corrupted layouts, and real third-party signatures
(containers/image's cosign and GPG test vectors, in ../shared/thirdparty)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import Corrupt, TarBuilder, write_docker_archive, write_oci_layout
from inspectr.cli import cli
from inspectr.verify.engine import verify_image
from inspectr.sources.detect import open_container
from inspectr.verify.integrity import check_integrity
from inspectr.verify.keys import gpgv_available
from inspectr.verify.report import Status

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
VECTORS = FIXTURES / "thirdparty" / "containers-image" / "signature" / "fixtures"  # vendored: see its README.md
needs_gpgv = pytest.mark.skipif(not gpgv_available(), reason="gpgv not installed")


def layers() -> list[bytes]:
    return [TarBuilder().add_file("etc/motd", "hello\n").finish(), TarBuilder().add_file("bin/app", "#!/bin/sh\n", mode=0o755).finish()]


def failed(report_checks) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(c.check, c.error) for c in report_checks if c.status is Status.FAIL}


@pytest.mark.parametrize("name", ["oci-busybox", "oci-busybox.tar", "docker-busybox.tar", "docker25-busybox.tar",
                                  "dir-busybox", "oci-zstd", "oci-multiarch", "oci-multi-image"])
def test_real_images_pass_every_integrity_check(name: str) -> None:
    result = check_integrity(open_container(str(FIXTURES / name)))
    assert not [c for c in result.checks if c.status is Status.FAIL]
    assert any(c.status is Status.PASS for c in result.checks)


@pytest.mark.parametrize("corrupt,expected", [
    (Corrupt(layer_digest=1), ("layer-digest", "digest-mismatch")),
    (Corrupt(layer_size=0), ("layer-size", "size-mismatch")),
    (Corrupt(diff_id=1), ("layer-diffid", "diffid-mismatch")),
    (Corrupt(manifest_bytes=True), ("manifest-digest", "digest-mismatch")),
    (Corrupt(config_bytes=True), ("config-digest", "digest-mismatch")),
    (Corrupt(diff_id_count=1), ("diffid-count", "diffid-mismatch")),
    (Corrupt(missing_blob=0), ("layer-present", "blob-not-found")),
])
def test_each_corruption_kind_is_caught_with_its_own_check(tmp_path: Path, corrupt: Corrupt, expected: tuple[str, str]) -> None:
    written = write_oci_layout(tmp_path / "img", layers(), corrupt=corrupt)
    report = verify_image(str(written.path))
    assert expected in failed(report.checks)
    assert report.verdict == "integrity-failed" and not report.ok


def test_every_failure_is_reported_not_only_the_first(tmp_path: Path) -> None:
    written = write_oci_layout(tmp_path / "img", layers(), corrupt=Corrupt(layer_digest=0, diff_id=1))
    fails = failed(check_integrity(open_container(str(written.path))).checks)
    assert ("layer-digest", "digest-mismatch") in fails and ("layer-diffid", "diffid-mismatch") in fails


def test_unreferenced_blobs_are_flagged(tmp_path: Path) -> None:
    written = write_oci_layout(tmp_path / "img", layers())
    stray = Path(written.path) / "blobs" / "sha256" / ("ab" * 32)
    stray.write_bytes(b"left behind")
    report = verify_image(str(written.path))
    assert ("blob-referenced", Status.WARN) in {(c.check, c.status) for c in report.checks}
    assert report.ok  # a warning, not a failure


def test_unknown_digest_algorithm_is_unverifiable_not_valid(tmp_path: Path) -> None:
    written = write_oci_layout(tmp_path / "img", layers())
    index = json.loads((Path(written.path) / "index.json").read_text())
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": "blake3:" + "0" * 64, "size": 10})
    (Path(written.path) / "index.json").write_text(json.dumps(index))
    checks = check_integrity(open_container(str(written.path))).checks
    assert any(c.status is Status.UNVERIFIABLE and c.error == "unverifiable-digest-algorithm" for c in checks)


def test_legacy_docker_archive_checks_config_name_and_diff_ids(tmp_path: Path) -> None:
    good = tmp_path / "good.tar"
    write_docker_archive(good, layers())
    assert not failed(check_integrity(open_container(str(good))).checks)
    bad = tmp_path / "bad.tar"
    write_docker_archive(bad, layers(), corrupt=Corrupt(diff_id=0))
    assert ("layer-diffid", "diffid-mismatch") in failed(check_integrity(open_container(str(bad))).checks)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte_in_any_blob_is_caught(tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("flip")
    written = write_oci_layout(tmp / "img", layers(), compression=data.draw(st.sampled_from(["gzip", "zstd", "none"])))
    blobs = sorted((Path(written.path) / "blobs" / "sha256").iterdir())
    target = data.draw(st.sampled_from(blobs))
    content = bytearray(target.read_bytes())
    pos = data.draw(st.integers(0, len(content) - 1))
    content[pos] ^= data.draw(st.integers(1, 255))
    target.chmod(0o644)
    target.write_bytes(bytes(content))
    report = verify_image(str(written.path))
    assert not report.ok, f"flip at {pos} of {target.name} went unnoticed"


# -- signatures on real third-party vectors -------------------------------------------------


def materialise(src: Path, dest: Path) -> Path:
    """Copy a vector dir; git stored its symlinks as files holding the target path."""
    dest.mkdir(parents=True)
    for f in src.iterdir():
        path = f
        data = path.read_bytes()
        for _ in range(5):
            if not (data.startswith(b"../") and len(data) < 200 and b"\n" not in data.strip()):
                break
            path = path.parent / data.decode().strip()
            data = path.read_bytes()
        (dest / f.name).write_bytes(data)
    return dest


def run_verify(tmp_path: Path, vector: str, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    d = materialise(VECTORS / vector, tmp_path / vector)
    result = CliRunner().invoke(cli, ["verify", str(d), "--skip-blob-checks", "--format", "json", *args],
                                catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("vector", ["dir-img-cosign-valid", "dir-img-cosign-valid-2", "dir-img-cosign-valid-with-tag"])
def test_real_cosign_signatures_verify_with_their_key(tmp_path: Path, vector: str) -> None:
    code, doc = run_verify(tmp_path, vector, "--key", str(VECTORS / "cosign.pub"))
    assert code == 0 and doc["verdict"] == "verified"
    assert any(s["status"] == "pass" and s["kind"] == "cosign" for s in doc["signatures"])


def test_real_cosign_signature_fails_with_another_key(tmp_path: Path) -> None:
    code, doc = run_verify(tmp_path, "dir-img-cosign-valid", "--key", str(VECTORS / "cosign2.pub"))
    assert code == 1 and doc["verdict"] == "signature-failed"
    assert [s["error"] for s in doc["signatures"]] == ["bad-signature"]


@pytest.mark.parametrize("vector,error", [
    ("dir-img-cosign-modified-manifest", "digest-mismatch"),
    ("dir-img-cosign-manifest-digest-error", "digest-mismatch"),
])
def test_real_cosign_signature_for_another_manifest_is_rejected(tmp_path: Path, vector: str, error: str) -> None:
    code, doc = run_verify(tmp_path, vector, "--key", str(VECTORS / "cosign.pub"))
    assert code == 1
    assert error in {s["error"] for s in doc["signatures"]} or doc["verdict"] == "integrity-failed"


def test_cosign_identity_is_checked_by_repository(tmp_path: Path) -> None:
    key = str(VECTORS / "cosign.pub")
    code, doc = run_verify(tmp_path / "a", "dir-img-cosign-valid", "--key", key,
                           "--identity", "192.168.64.2:5000/cosign-signed-single-sample:latest")
    assert code == 0, doc
    code, doc = run_verify(tmp_path / "b", "dir-img-cosign-valid", "--key", key, "--identity", "docker.io/library/busybox")
    assert code == 1 and [s["error"] for s in doc["signatures"]] == ["identity-mismatch"]


@needs_gpgv
@pytest.mark.parametrize("vector", ["dir-img-valid", "dir-img-valid-2"])
def test_real_gpg_simple_signatures_verify(tmp_path: Path, vector: str) -> None:
    code, doc = run_verify(tmp_path, vector, "--keyring", str(VECTORS / "public-key.gpg"), "--identity", "testing/manifest")
    assert code == 0, doc
    assert all(s["status"] == "pass" for s in doc["signatures"])


@needs_gpgv
def test_gpg_subkey_signature_verifies_with_the_primary_keyring(tmp_path: Path) -> None:
    code, doc = run_verify(tmp_path, "dir-img-valid-subkey", "--keyring", str(VECTORS / "public-key-with-subkey.gpg"))
    assert code == 0, doc


@needs_gpgv
def test_gpg_signature_by_an_unknown_key_is_untrusted(tmp_path: Path) -> None:
    code, doc = run_verify(tmp_path, "dir-img-valid", "--keyring", str(VECTORS / "public-key-2.gpg"))
    assert code == 1 and [s["error"] for s in doc["signatures"]] == ["untrusted-key"]


@needs_gpgv
def test_gpg_wrong_identity_is_rejected(tmp_path: Path) -> None:
    code, doc = run_verify(tmp_path, "dir-img-valid", "--keyring", str(VECTORS / "public-key.gpg"), "--identity", "other/repo")
    assert code == 1 and [s["error"] for s in doc["signatures"]] == ["identity-mismatch"]


@needs_gpgv
def test_mixed_signatures_pass_when_one_is_valid(tmp_path: Path) -> None:
    code, doc = run_verify(tmp_path, "dir-img-mixed", "--keyring", str(VECTORS / "public-key.gpg"))
    statuses = sorted(s["status"] for s in doc["signatures"])
    assert code == 0 and "pass" in statuses and "fail" in statuses


@needs_gpgv
@pytest.mark.parametrize("sig,error", [
    ("expired.signature", "untrusted-key"),
    ("unknown-key.signature", "untrusted-key"),
    ("corrupt.signature", "bad-signature"),
    ("unsigned-literal.signature", "unsupported-format"),
    ("invalid-blob.signature", "unsupported-format"),
])
def test_standalone_gpg_signature_failure_classes(tmp_path: Path, sig: str, error: str) -> None:
    d = tmp_path / "img"
    d.mkdir()
    (d / "manifest.json").write_bytes((VECTORS / "image.manifest.json").read_bytes())
    result = CliRunner().invoke(cli, ["verify", f"dir:{d}", "--skip-blob-checks", "--format", "json",
                                      "--keyring", str(VECTORS / "public-key.gpg"), "--signatures", str(VECTORS / sig)])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [s["error"] for s in doc["signatures"]] == [error]


@needs_gpgv
def test_standalone_gpg_signature_with_its_manifest_verifies(tmp_path: Path) -> None:
    d = tmp_path / "img"
    d.mkdir()
    (d / "manifest.json").write_bytes((VECTORS / "image.manifest.json").read_bytes())
    result = CliRunner().invoke(cli, ["verify", str(d), "--skip-blob-checks", "--format", "json",
                                      "--keyring", str(VECTORS / "public-key.gpg"), "--signatures", str(VECTORS / "image.signature")])
    assert result.exit_code == 0, result.stdout


def test_trust_input_without_any_signature_is_no_signature(tmp_path: Path) -> None:
    key = tmp_path / "k.pub"
    if VECTORS.is_dir():
        shutil.copy(VECTORS / "cosign.pub", key)
    else:
        pytest.skip("needs a PEM key")
    result = CliRunner().invoke(cli, ["verify", str(FIXTURES / "oci-gzip"), "--key", str(key), "--format", "json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["verdict"] == "no-signature"
    assert [s["error"] for s in doc["signatures"]] == ["no-signature"]


def test_unusable_key_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    from inspectr.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["verify", str(FIXTURES / "oci-gzip"), "--key", str(bad)])
    assert exc.value.code == 2


def test_sarif_has_rules_and_results_for_failures(tmp_path: Path) -> None:
    written = write_oci_layout(tmp_path / "img", layers(), corrupt=Corrupt(diff_id=0))
    result = CliRunner().invoke(cli, ["verify", str(written.path), "--format", "sarif"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"diffid-mismatch"}
    assert any(r["ruleId"] == "diffid-mismatch" and r["level"] == "error" for r in run["results"])


@pytest.mark.parametrize("requirement,code,status", [
    ({"type": "insecureAcceptAnything"}, 0, "pass"),
    ({"type": "reject"}, 1, "fail"),
    ({"type": "sigstoreSigned", "keyPath": "COSIGN", "signedIdentity": {"type": "exactRepository",
      "dockerRepository": "192.168.64.2:5000/cosign-signed-single-sample"}}, 0, "pass"),
    ({"type": "sigstoreSigned", "keyPath": "COSIGN2"}, 1, "fail"),
    ({"type": "sigstoreSigned", "keyPath": "COSIGN", "signedIdentity": {"type": "exactRepository",
      "dockerRepository": "docker.io/library/other"}}, 1, "fail"),
])
def test_policy_subset_decides_the_verdict(tmp_path: Path, requirement: dict, code: int, status: str) -> None:  # type: ignore[type-arg]
    req = json.loads(json.dumps(requirement).replace("COSIGN2", str(VECTORS / "cosign2.pub")).replace("COSIGN", str(VECTORS / "cosign.pub")))
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": [req]}}}))
    exit_code, doc = run_verify(tmp_path, "dir-img-cosign-valid", "--policy", str(policy))
    assert exit_code == code, doc
    assert [p["status"] for p in doc["policy"]] == [status]


@needs_gpgv
def test_policy_signed_by_gpg_with_exact_reference(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(VECTORS / "public-key.gpg"),
                                               "signedIdentity": {"type": "exactReference", "dockerReference": "testing/manifest:latest"}}]}))
    code, doc = run_verify(tmp_path, "dir-img-valid", "--policy", str(policy))
    assert code == 0, doc


def test_invalid_policy_names_the_field(tmp_path: Path) -> None:
    from inspectr.cli import main

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "signedBy", "keyType": "X509"}]}))
    with pytest.raises(SystemExit) as exc:
        main(["verify", str(FIXTURES / "oci-gzip"), "--policy", str(policy)])
    assert exc.value.code == 2


def _attach_bundle(layout: Path, image_digest: str, key, subject_digest: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """A referrer manifest holding a key-signed sigstore bundle v0.3 (DSSE, in-toto statement)."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from inspectr.untrusted.bundle import pae

    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://sigstore.dev/cosign/sign/v1",
                            "subject": [{"name": "img", "digest": {"sha256": (subject_digest or image_digest).split(":")[1]}}],
                            "predicate": {}}).encode()
    sig = key.sign(pae("application/vnd.in-toto+json", statement), ec.ECDSA(hashes.SHA256()))
    bundle = json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                         "verificationMaterial": {"publicKey": {"hint": "k"}},
                         "dsseEnvelope": {"payload": base64.b64encode(statement).decode(), "payloadType": "application/vnd.in-toto+json",
                                          "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": "k"}]}}).encode()
    blobs = layout / "blobs" / "sha256"

    def put(data: bytes) -> str:
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return f"sha256:{h}"

    manifest_size = (blobs / image_digest.split(":")[1]).stat().st_size
    referrer = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": put(b"{}"), "size": 2},
                           "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": put(bundle), "size": len(bundle)}],
                           "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image_digest, "size": manifest_size}}).encode()
    put(referrer)  # stored only as a blob: found by the subject scan


@pytest.mark.parametrize("other_key,other_subject,expected", [(False, False, "pass"), (True, False, "bad-signature"),
                                                              (False, True, "digest-mismatch")])
def test_sigstore_bundle_referrer_is_found_by_subject_scan_and_verified(tmp_path: Path, other_key: bool, other_subject: bool,
                                                                        expected: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    written = write_oci_layout(tmp_path / "img", layers())
    signer, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _attach_bundle(Path(written.path), written.manifest_digest, other if other_key else signer,
                   "sha256:" + "1" * 64 if other_subject else None)
    pub = tmp_path / "key.pub"
    pub.write_bytes(signer.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = CliRunner().invoke(cli, ["verify", str(written.path), "--key", str(pub), "--format", "json"])
    doc = json.loads(result.stdout)
    bundles = [s for s in doc["signatures"] if s["kind"] == "sigstore-bundle"]
    assert len(bundles) == 1
    assert (bundles[0]["status"] if expected == "pass" else bundles[0]["error"]) == expected
    assert result.exit_code == (0 if expected == "pass" else 1)
    assert not any(c["check"] == "blob-referenced" and c["status"] == "fail" for c in doc["checks"])


def test_buildkit_attestation_manifests_are_listed_as_unsigned(tmp_path: Path) -> None:
    import hashlib

    written = write_oci_layout(tmp_path / "img", layers())
    root = Path(written.path)
    blobs = root / "blobs" / "sha256"

    def put(data: bytes) -> str:
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return f"sha256:{h}"

    index = json.loads((root / "index.json").read_text())
    image_desc = dict(index["manifests"][0])
    image_desc.pop("annotations", None)
    image_desc["platform"] = {"os": "linux", "architecture": "amd64"}
    provenance = b'{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[]}'
    config = b'{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}'
    att = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
                      "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": put(provenance), "size": len(provenance),
                                  "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]}).encode()
    att_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(att), "size": len(att),
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                "vnd.docker.reference.digest": image_desc["digest"]}}
    nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                         "manifests": [image_desc, att_desc]}).encode()
    index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(nested), "size": len(nested),
                           "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    (root / "index.json").write_text(json.dumps(index))
    report = verify_image(f"oci:{root}:latest")
    listed = [s for s in report.signatures if s.kind == "buildkit-attestation"]
    assert len(listed) == 1 and listed[0].status is Status.INFO and "unsigned" in listed[0].message
    assert report.ok
