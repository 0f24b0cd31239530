"""Keyless verification (issue 15) on real public-good vectors, offline, through the CLI:
- the slsa-verifier images: cosign `.att` SLSA provenance signed by GitHub Actions (dsse and
  the older intoto log entries);
- containers/image's keyless `.sig` (hashedrekord, an e-mail identity);
- cosign's bundle v0.3 attestation, attached as an OCI 1.1 referrer to the very image its
  statement names (go-containerregistry's empty image, rebuilt byte for byte here).
Expected verdicts come from each upstream's own tests (see the READMEs beside the vectors)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from inspectr.cli import cli
from clirun import run_main

THIRD = Path(__file__).resolve().parent.parent / "fixtures" / "thirdparty"
SLSA = THIRD / "slsa-verifier/cli/slsa-verifier/testdata/gha_generic_container"
SIG_DIR = THIRD / "containers-image/signature/fixtures/dir-img-cosign-fulcio-rekor-valid"
COSIGN_BUNDLE = THIRD / "cosign/pkg/cosign/testdata/oci-attestation.sigstore.json"
GENERATOR = "^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/"
ACTIONS = "https://token.actions.githubusercontent.com"
GH_OAUTH = "https://github.com/login/oauth"


def verify(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["verify", "--format", "json", *args], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def keyless(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in doc["signatures"] if s["kind"] in ("dsse", "cosign", "sigstore-bundle")]


@pytest.mark.parametrize("version", ["v2.1.0", "v1.4.0"])
def test_slsa_provenance_attestation_without_identity_policy_is_valid_but_never_verified(version: str) -> None:
    code, doc = verify(f"oci:{SLSA / version / 'container_workflow_dispatch'}")
    assert code == 0 and doc["verdict"] == "integrity-verified"
    (att,) = keyless(doc)
    assert att["status"] == "warn" and att["error"] == "identity-not-checked"
    assert f"generator_container_slsa3.yml@refs/tags/{version}" in att["signer"]
    assert att["identity"] == "https://slsa.dev/provenance/v0.2"


@pytest.mark.parametrize("version", ["v2.1.0", "v1.4.0"])
def test_slsa_provenance_verifies_with_upstream_identity(version: str) -> None:
    code, doc = verify("--attestation", "slsaprovenance", "--certificate-identity-regexp", GENERATOR,
                       "--certificate-oidc-issuer", ACTIONS, "--certificate-github-workflow-repository", "slsa-framework/example-package",
                       "--certificate-github-workflow-ref", "refs/heads/main", "--certificate-github-workflow-trigger", "workflow_dispatch",
                       f"oci:{SLSA / version / 'container_workflow_dispatch'}")
    assert code == 0 and doc["verdict"] == "verified", doc["signatures"]
    (att,) = keyless(doc)
    assert att["status"] == "pass" and att["digest"] == (SLSA / version / "container_workflow_dispatch.digest").read_text().strip()


@pytest.mark.parametrize("flag,value", [
    ("--certificate-identity-regexp", "^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml@"),
    ("--certificate-identity", "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"),
    ("--certificate-oidc-issuer", "https://accounts.google.com"),
    ("--certificate-github-workflow-repository", "slsa-framework/example-packageA"),
    ("--certificate-github-workflow-ref", "refs/heads/master"),
])
def test_slsa_provenance_fails_with_another_identity(flag: str, value: str) -> None:
    code, doc = verify("--attestation", "slsaprovenance", flag, value, f"oci:{SLSA / 'v2.1.0/container_workflow_dispatch'}")
    assert code == 1 and doc["verdict"] == "signature-failed"
    (att,) = keyless(doc)
    assert att["status"] == "fail" and att["error"] == "identity-mismatch"


def test_slsa_provenance_against_another_trusted_root_is_untrusted(tmp_path: Path) -> None:
    # A conformance case's private root: neither its Rekor key nor its Fulcio CA signed this.
    private = THIRD / "sigstore-conformance/test/assets/bundle-verify/intoto-with-custom-trust-root/trusted_root.json"
    code, doc = verify("--trusted-root", str(private), "--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS,
                       f"oci:{SLSA / 'v2.1.0/container_workflow_dispatch'}")
    (att,) = keyless(doc)
    assert code == 1 and att["status"] == "fail" and att["error"] == "bad-log-entry"
    assert "not in the trusted root" in att["message"]


def _copy_layout(tmp_path: Path) -> Path:
    dest = tmp_path / "layout"
    shutil.copytree(SLSA / "v1.4.0/container_workflow_dispatch", dest)
    return dest


def _rewrite_att_annotation(layout: Path, change: Any) -> None:
    """Edit the `.att` manifest's layer annotations and re-address the manifest, so the change
    reaches the signature checks rather than the digest check."""
    old = "738d456c898daf28d211c2e0b8ecf5dc67b9a1d631c99ef2c4b4669bcb7a0354"
    manifest = json.loads((layout / "blobs/sha256" / old).read_bytes())
    change(manifest["layers"][0]["annotations"])
    data = json.dumps(manifest).encode()
    new = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / old).unlink()
    (layout / "blobs/sha256" / new).write_bytes(data)
    index = (layout / "index.json").read_text().replace(old, new)
    index = json.loads(index)
    for m in index["manifests"]:
        if m["digest"] == f"sha256:{new}":
            m["size"] = len(data)
    (layout / "index.json").write_text(json.dumps(index))


def test_intoto_entry_with_a_forged_set_is_a_bad_log_entry(tmp_path: Path) -> None:
    layout = _copy_layout(tmp_path)

    def later(ann: dict[str, str]) -> None:
        bundle = json.loads(ann["dev.sigstore.cosign/bundle"])
        bundle["Payload"]["integratedTime"] += 60  # the SET no longer covers what is claimed
        ann["dev.sigstore.cosign/bundle"] = json.dumps(bundle)
    _rewrite_att_annotation(layout, later)
    code, doc = verify("--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS, f"oci:{layout}")
    (att,) = keyless(doc)
    assert code == 1 and att["error"] == "bad-log-entry"


def test_certificate_swapped_for_another_real_one_fails(tmp_path: Path) -> None:
    # v2.1.0's genuine leaf with v1.4.0's entry: the chain and SCT still verify, the log does not.
    layout = _copy_layout(tmp_path)
    other = json.loads((SLSA / "v2.1.0/container_workflow_dispatch/blobs/sha256/"
                        "21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe").read_bytes())
    cert = other["layers"][0]["annotations"]["dev.sigstore.cosign/certificate"]
    _rewrite_att_annotation(layout, lambda ann: ann.update({"dev.sigstore.cosign/certificate": cert}))
    code, doc = verify("--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS, f"oci:{layout}")
    (att,) = keyless(doc)
    assert code == 1 and att["status"] == "fail"
    assert att["error"] in ("certificate-expired", "bad-signature", "log-entry-mismatch")


# -- the keyless .sig (containers/image) ---------------------------------------------------------

def _sig_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "sigdir"
    shutil.copytree(SIG_DIR, dest)
    return dest


def test_keyless_sig_verifies_with_its_email_identity_and_issuer(tmp_path: Path) -> None:
    code, doc = verify("--skip-blob-checks", "--certificate-identity", "mitr@redhat.com", "--certificate-oidc-issuer", GH_OAUTH,
                       f"dir:{_sig_dir(tmp_path)}")
    assert code == 0 and doc["verdict"] == "verified"
    (sig,) = keyless(doc)
    assert sig["kind"] == "cosign" and sig["status"] == "pass" and sig["signer"].startswith("mitr@redhat.com")


@pytest.mark.parametrize("args", [
    ("--certificate-identity", "someone@redhat.com", "--certificate-oidc-issuer", GH_OAUTH),
    ("--certificate-identity", "mitr@redhat.com", "--certificate-oidc-issuer", "https://accounts.google.com"),
    ("--certificate-identity-regexp", "^mitr@example", "--certificate-oidc-issuer-regexp", "github"),
])
def test_keyless_sig_fails_with_any_other_identity(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, doc = verify("--skip-blob-checks", *args, f"dir:{_sig_dir(tmp_path)}")
    (sig,) = keyless(doc)
    assert code == 1 and doc["verdict"] == "signature-failed" and sig["error"] == "identity-mismatch"


def test_keyless_sig_without_policy_is_listed_not_verified(tmp_path: Path) -> None:
    code, doc = verify("--skip-blob-checks", f"dir:{_sig_dir(tmp_path)}")
    (sig,) = keyless(doc)
    assert code == 0 and doc["verdict"] == "integrity-verified" and sig["error"] == "identity-not-checked"
    code, doc = verify("--skip-blob-checks", "--require-signature", f"dir:{_sig_dir(tmp_path / 'b')}")
    assert code == 1 and doc["verdict"] == "signature-failed"


def test_keyless_sig_with_an_altered_payload_fails_its_signature(tmp_path: Path) -> None:
    d = _sig_dir(tmp_path)
    prefix = b"\x00sigstore-json\n"
    doc = json.loads((d / "signature-1").read_bytes()[len(prefix):])
    payload = base64.b64decode(doc["payload"]).replace(b'"optional":null', b'"optional":{"x":"y"}')
    assert payload != base64.b64decode(doc["payload"])
    doc["payload"] = base64.b64encode(payload).decode()
    (d / "signature-1").write_bytes(prefix + json.dumps(doc).encode())
    code, out = verify("--skip-blob-checks", "--certificate-identity", "mitr@redhat.com", "--certificate-oidc-issuer", GH_OAUTH, f"dir:{d}")
    (sig,) = keyless(out)
    assert code == 1 and sig["error"] == "bad-signature"


# -- the bundle v0.3 attestation (cosign) as an OCI 1.1 referrer --------------------------------

EMPTY_CONFIG = b'{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}'
SUBJECT = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"


def _referrer_layout(root: Path, config: bytes = EMPTY_CONFIG) -> tuple[Path, str]:
    """go-containerregistry's empty image (the statement's subject, when config is unchanged)
    with the real bundle attached as cosign 3 attaches it."""
    blobs = root / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, Any]:
        h = hashlib.sha256(data).hexdigest()
        (blobs / h).write_bytes(data)
        return {"digest": f"sha256:{h}", "size": len(data)}
    cfg = put(config)
    manifest = put(('{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":'
                    '{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},"layers":[]}'
                    % (cfg["size"], cfg["digest"])).encode())
    image = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", **manifest}
    bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json"
    put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": bundle_type,
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json", **put(b"{}")},
                    "layers": [{"mediaType": bundle_type, **put(COSIGN_BUNDLE.read_bytes())}], "subject": image}).encode())
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**image, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return root, manifest["digest"]


def test_bundle_attestation_verifies_for_its_subject(tmp_path: Path) -> None:
    layout, digest = _referrer_layout(tmp_path / "img")
    assert digest == SUBJECT
    code, doc = verify("--attestation", "custom", "--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", GH_OAUTH,
                       f"oci:{layout}")
    assert code == 0 and doc["verdict"] == "verified"
    (att,) = keyless(doc)
    assert att["kind"] == "sigstore-bundle" and att["status"] == "pass" and att["digest"] == SUBJECT
    assert not [c for c in doc["checks"] if c["status"] != "pass"]  # the referrer is checked, not a stray blob


def test_bundle_attestation_fails_for_the_wrong_identity(tmp_path: Path) -> None:
    layout, _ = _referrer_layout(tmp_path / "img")
    code, doc = verify("--attestation", "custom", "--certificate-identity-regexp", "wrong", f"oci:{layout}")
    (att,) = keyless(doc)
    assert code == 1 and att["error"] == "identity-mismatch"


def test_bundle_attestation_attached_to_another_image_fails_its_subject(tmp_path: Path) -> None:
    other = EMPTY_CONFIG.replace(b'"os":""', b'"os":"linux"')
    layout, digest = _referrer_layout(tmp_path / "img", other)
    assert digest != SUBJECT
    code, doc = verify("--attestation", "custom", "--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", GH_OAUTH,
                       f"oci:{layout}")
    (att,) = keyless(doc)
    assert code == 1 and att["error"] == "digest-mismatch" and SUBJECT in att["message"]


def test_bundle_with_its_own_trusted_root_file(tmp_path: Path) -> None:
    layout, _ = _referrer_layout(tmp_path / "img")
    root = THIRD / "cosign/pkg/cosign/testdata/trusted_root_pgi.json"
    code, doc = verify("--trusted-root", str(root), "--attestation", "custom", "--certificate-identity", "cody@soyland.com",
                       "--certificate-oidc-issuer", GH_OAUTH, f"oci:{layout}")
    assert code == 0 and doc["verdict"] == "verified"


@pytest.mark.parametrize("bad", ["/dev/zero", "missing.json", "garbage"])
def test_an_unusable_trusted_root_is_one_line_and_exit_2(tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    if bad == "garbage":
        (tmp_path / "garbage").write_text('{"mediaType": "x"}')
    path = bad if bad.startswith("/") else str(tmp_path / bad)
    code, out, err = run_main(capsys, "verify", "--trusted-root", path, "--certificate-identity", "x", "--certificate-oidc-issuer", "y",
                              f"oci:{SLSA / 'v1.4.0/container_workflow_dispatch'}")
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "trusted root" in err and path in err and "Traceback" not in err


def test_a_bad_identity_regexp_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "verify", "--certificate-identity-regexp", "(", f"oci:{SLSA / 'v1.4.0/container_workflow_dispatch'}")
    assert code == 2 and "not a regular expression" in err and len(err.strip().splitlines()) == 1


# -- the gate: keyless signers from the policy file or the command line --------------------------

@pytest.mark.parametrize("regexp,verdict,code", [(GENERATOR, "reproduced", 0), ("^https://github.com/evil/", "untrusted", 1)])
def test_gate_checks_the_release_keylessly(tmp_path: Path, capsys: pytest.CaptureFixture[str], regexp: str, verdict: str,
                                           code: int) -> None:
    policy = tmp_path / "inspectr.toml"
    policy.write_text(f'[signers]\ncertificate-identity-regexp = "{regexp}"\ncertificate-oidc-issuer = "{ACTIONS}"\n'
                      f'attestation = "slsaprovenance"\n')
    image = f"oci:{SLSA / 'v1.4.0/container_workflow_dispatch'}"
    got, out, err = run_main(capsys, "gate", "--release", image, "--rebuild", image, "--policy", str(policy), "--json", str(tmp_path / "g.json"))
    report = json.loads((tmp_path / "g.json").read_text())
    assert got == code and report["verdict"] == verdict, out + err
    check = next(c for c in report["checks"] if c["id"] == "release-signature")
    assert check["status"] == ("pass" if code == 0 else "fail")


def test_gate_takes_the_identity_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got, out, err = run_main(capsys, "gate", "--release", f"dir:{_sig_dir(tmp_path)}", "--rebuild", f"dir:{_sig_dir(tmp_path / 'b')}",
                             "--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", GH_OAUTH)
    assert got == 1 and "identity-mismatch" in out, out + err


# -- verify --source-uri: slsa-verifier's checks of the verified provenance ---------------------

SOURCE = "github.com/slsa-framework/example-package"


@pytest.mark.parametrize("version", ["v2.1.0", "v1.4.0"])
@pytest.mark.parametrize("extra,verdict,error", [
    ((), "verified", None),
    (("--source-branch", "main"), "verified", None),
    (("--builder-id", "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"),
     "verified", None),
    (("--source-branch", "master"), "provenance-failed", "branch-mismatch"),
    (("--builder-id", "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml"),
     "provenance-failed", "untrusted-builder"),
    (("--source-tag", "v1.2.3"), "provenance-failed", "invalid-ref"),
    (("--source-versioned-tag", "v1"), "provenance-failed", "invalid-ref"),
])
def test_provenance_checked_as_slsa_verifier_does(version: str, extra: tuple[str, ...], verdict: str, error: str | None) -> None:
    code, doc = verify("--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS, "--source-uri", SOURCE, *extra,
                       f"oci:{SLSA / version / 'container_workflow_dispatch'}")
    assert doc["verdict"] == verdict and code == (0 if verdict == "verified" else 1), doc["provenance"]
    failed = [c["error"] for c in doc["provenance"] if c["status"] == "fail"]
    assert failed == ([] if error is None else [error])


@pytest.mark.parametrize("source", ["github.com/slsa-framework/example-packageA", "Agithub.com/slsa-framework/example-package",
                                    "github.com/Aslsa-framework/example-package"])
def test_provenance_fails_with_the_wrong_source(source: str) -> None:
    code, doc = verify("--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS, "--source-uri", source,
                       f"oci:{SLSA / 'v2.1.0/container_workflow_dispatch'}")
    assert code == 1 and doc["verdict"] == "provenance-failed"
    assert [c["error"] for c in doc["provenance"] if c["status"] == "fail"] == ["source-mismatch"]


def test_provenance_needs_a_verified_attestation(tmp_path: Path) -> None:
    # Without an identity policy the attestation is only `warn`: its provenance is not trusted.
    code, doc = verify("--source-uri", SOURCE, f"oci:{SLSA / 'v1.4.0/container_workflow_dispatch'}")
    assert code == 1 and doc["verdict"] == "provenance-failed" and doc["provenance"][0]["error"] == "no-provenance"


# -- inspect shows the attached provenance ------------------------------------------------------

def test_inspect_shows_the_provenance_and_how_far_it_was_checked(capsys: pytest.CaptureFixture[str]) -> None:
    image = f"oci:{SLSA / 'v2.1.0/container_workflow_dispatch'}"
    code, out, err = run_main(capsys, "inspect", "--no-layers", "-f", "json", image)
    assert code == 0, err
    doc = json.loads(out)
    (prov,) = doc["provenance"] if "provenance" in doc else doc["image"]["provenance"]
    assert prov["signature"] == "identity-not-checked"  # inspect takes no identity: never "verified"
    assert prov["builder"].startswith("https://github.com/slsa-framework/slsa-github-generator/")
    assert prov["source"]["commit"] == "4d329c75e7ec1725f7c9ce917a8799d408d06be3"
    code, out, _ = run_main(capsys, "inspect", "--no-layers", image)
    assert code == 0 and "provenance" in out and "4d329c75e7ec1725f7c9ce917a8799d408d06be3" in out


def test_inspect_of_an_image_without_attachments_has_no_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "inspect", "--no-layers", "-f", "json", str(THIRD.parent / "oci-busybox"))
    doc = json.loads(out)
    assert code == 0 and (doc["provenance"] if "provenance" in doc else doc["image"]["provenance"]) == []


# -- containers-policy.json: sigstoreSigned with fulcio (containers/image's own vectors) --------

CI_FIXTURES = THIRD / "containers-image/signature/fixtures"
SIGNED_REPO = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1:latest"


def _fulcio_policy(tmp_path: Path, email: str = "mitr@redhat.com", issuer: str = GH_OAUTH, rekor: str = "rekor.pub") -> Path:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{
        "type": "sigstoreSigned",
        "fulcio": {"caPath": str(CI_FIXTURES / "fulcio_v1.crt.pem"), "oidcIssuer": issuer, "subjectEmail": email},
        "rekorPublicKeyPath": str(CI_FIXTURES / rekor), "signedIdentity": {"type": "matchRepository"}}]}))
    return policy


def test_policy_fulcio_requirement_accepts_the_signer(tmp_path: Path) -> None:
    code, doc = verify("--skip-blob-checks", "--identity", SIGNED_REPO, "--policy", str(_fulcio_policy(tmp_path)), f"dir:{_sig_dir(tmp_path)}")
    assert code == 0 and doc["verdict"] == "verified" and doc["policy"][0]["status"] == "pass"


@pytest.mark.parametrize("change,error", [({"email": "other@redhat.com"}, "identity-mismatch"),
                                          ({"issuer": "https://accounts.google.com"}, "identity-mismatch"),
                                          ({"rekor": "cosign.pub"}, "bad-log-entry")])
def test_policy_fulcio_requirement_refuses_others(tmp_path: Path, change: dict, error: str) -> None:  # type: ignore[type-arg]
    code, doc = verify("--skip-blob-checks", "--identity", SIGNED_REPO, "--policy", str(_fulcio_policy(tmp_path, **change)),
                       f"dir:{_sig_dir(tmp_path)}")
    assert code == 1 and doc["verdict"] == "policy-failed" and error in doc["policy"][0]["message"]


def test_policy_fulcio_requirement_needs_a_rekor_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "sigstoreSigned", "fulcio": {
        "caPath": str(CI_FIXTURES / "fulcio_v1.crt.pem"), "oidcIssuer": GH_OAUTH, "subjectEmail": "mitr@redhat.com"}}]}))
    code, _, err = run_main(capsys, "verify", "--skip-blob-checks", "--policy", str(policy), f"dir:{_sig_dir(tmp_path)}")
    assert code == 2 and "rekorPublicKeyPath" in err and len(err.splitlines()) == 1


def test_audit_reports_the_provenance_summary(capsys: pytest.CaptureFixture[str]) -> None:
    image = f"oci:{SLSA / 'v1.4.0/container_workflow_dispatch'}"
    code, out, err = run_main(capsys, "audit", "-f", "json", "--fail-on", "critical", image)
    (prov,) = json.loads(out)["provenance"]
    assert prov["signature"] == "identity-not-checked" and prov["source"]["commit"] == "904e2c3e02725e314cf6cf141c4700081298dcbd"
    code, out, _ = run_main(capsys, "audit", "--fail-on", "critical", image)
    assert "provenance (identity-not-checked): builder https://github.com/slsa-framework/" in out
