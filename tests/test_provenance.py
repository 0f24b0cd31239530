"""SLSA provenance: decoding real statements (slsa-verifier's container layouts, GitHub and npm
attestations, BuildKit mode=min), slsa-verifier's verdicts on them, input drift between two
builds, the rebuild recipe, the summary, and hostile statements. Signatures are not checked here:
these functions receive statement bytes that were already verified (tests/test_keyless.py)."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspectr.untrusted.bundle import Envelope, parse_bundle, parse_envelope
from inspectr.untrusted.provenance import (
    SLSA_PROVENANCE_V02,
    SLSA_PROVENANCE_V1,
    Provenance,
    ProvenanceError,
    ProvenanceLimits,
    UnsupportedPredicate,
    parse_provenance,
    split_git_uri,
)
from inspectr.untrusted.sigpayload import PayloadError, load_strict_json
from inspectr.verify.provenance import (
    ERROR_CLASSES,
    DriftKind,
    ProvenanceExpectation,
    check_provenance,
    compare_provenance,
    rebuild_recipe,
    summary,
)
from inspectr.verify.report import Status

ROOT = Path(__file__).resolve().parent.parent
THIRDPARTY = ROOT / "fixtures" / "thirdparty"  # vendored: each project's README.md says what and from where
CONTAINERS = THIRDPARTY / "slsa-verifier" / "cli" / "slsa-verifier" / "testdata" / "gha_generic_container"
GH_DATA = THIRDPARTY / "gh-cli" / "pkg" / "cmd" / "attestation" / "test" / "data"
GENERATOR = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"
SOURCE = "github.com/slsa-framework/example-package"
VERSIONS = {  # builder version -> (source commit, .att layer blob)
    "v2.1.0": ("4d329c75e7ec1725f7c9ce917a8799d408d06be3", "e163b472f2e5d66e5a2a45e26e020c51a0d2da7dc8b567b31fc2ebfd33dbc33a"),
    "v1.4.0": ("904e2c3e02725e314cf6cf141c4700081298dcbd", "784c5bd14237b9a979fd0251f01dcc7956f06da243ca1e9c52470c410e53c654"),
}
BUILDKIT_BLOB = "8d63b5e440cc7cfa68622b4a3cae2dbe215f8f8dcc9f2fa4ffd3078d40d61a84"


# --- reading the vectors ------------------------------------------------------------------------

def _blob(layout: Path, digest: str) -> bytes:
    data = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest.removeprefix("sha256:")
    return data


def _layout(version: str) -> Path:
    return CONTAINERS / version / "container_workflow_dispatch"


def image_digest(version: str) -> str:
    return (CONTAINERS / version / "container_workflow_dispatch.digest").read_text().strip()


def att_statement(version: str) -> bytes:
    """The signed statement of a layout's cosign `.att` manifest: index.json -> the entry marked
    dev.cosignproject.cosign/atts -> its DSSE layer -> the envelope's payload."""
    layout = _layout(version)
    index = json.loads((layout / "index.json").read_text())
    atts = [m for m in index["manifests"] if m.get("annotations", {}).get("kind") == "dev.cosignproject.cosign/atts"]
    assert len(atts) == 1
    manifest = json.loads(_blob(layout, atts[0]["digest"]))
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert layer["digest"] == f"sha256:{VERSIONS[version][1]}"
    envelope = parse_envelope(load_strict_json(_blob(layout, layer["digest"]), "DSSE envelope"))
    assert envelope.payload_type == "application/vnd.in-toto+json"
    return envelope.payload


def buildkit_statement() -> bytes:
    """v2.1.0's image index -> the BuildKit attestation manifest -> its in-toto layer (unsigned)."""
    layout = _layout("v2.1.0")
    index = json.loads(_blob(layout, image_digest("v2.1.0")))
    (att,) = [m for m in index["manifests"]
              if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"]
    manifest = json.loads(_blob(layout, att["digest"]))
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.in-toto+json" and layer["digest"] == f"sha256:{BUILDKIT_BLOB}"
    return _blob(layout, layer["digest"])


def bundle_statement(path: Path) -> bytes:
    data = path.read_bytes()
    media_type = json.loads(data)["mediaType"]
    _, content, _ = parse_bundle(data, media_type)
    assert isinstance(content, Envelope) and content.payload_type == "application/vnd.in-toto+json"
    return content.payload


def prov(version: str) -> Provenance:
    return parse_provenance(att_statement(version))


def buildkit() -> Provenance:
    return parse_provenance(buildkit_statement())


def mutated(payload: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    doc = json.loads(payload)
    change(doc)
    return json.dumps(doc).encode()


def failures(checks: list[Any]) -> list[tuple[str, str]]:
    return [(c.check, c.error) for c in checks if c.status is Status.FAIL]


def checks_of(p: Provenance, expect: ProvenanceExpectation, kind: str = "build-parameter") -> list[tuple[str, Status]]:
    return [(c.check, c.status) for c in check_provenance(p, expect) if c.check == kind]


# --- decoding real statements -------------------------------------------------------------------

@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_cosign_att_statements_decode_as_github_generator_provenance(version: str) -> None:
    p = prov(version)
    commit = VERSIONS[version][0]
    assert (p.statement_type, p.predicate_type) == ("https://in-toto.io/Statement/v0.1", SLSA_PROVENANCE_V02)
    assert p.build_type == "https://github.com/slsa-framework/slsa-github-generator/container@v1"
    assert p.builder_id == f"{GENERATOR}@refs/tags/{version}"
    assert p.subject_digests == (image_digest(version),)
    assert p.subjects[0].name == "ghcr.io/slsa-framework/example-package.verifier-e2e.all.tag.main.default.slsa3"
    assert p.source_uri == p.config_uri == "git+https://github.com/slsa-framework/example-package@refs/heads/main"
    assert (p.source_ref, p.source_commit) == ("refs/heads/main", commit)
    assert p.entry_point == ".github/workflows/verifier-e2e.all.workflow_dispatch.main.all.slsa3.yml"
    assert p.base_images == () and p.build_args == () and p.source_date_epoch is None
    assert (p.parameters_complete, p.materials_complete, p.reproducible) == (True, False, False)
    gh = p.github
    assert gh is not None
    assert (gh.event_name, gh.ref, gh.ref_type, gh.sha) == ("workflow_dispatch", "refs/heads/main", "branch", commit)
    assert gh.repository == "slsa-framework/example-package" and gh.inputs is None
    assert p.invocation_id == f"{gh.run_id}-1"
    assert ("github_event_name", "workflow_dispatch") in p.environment
    assert not any(k == "github_event_payload" for k, _ in p.environment)  # nested: left out of the scalar view


def test_buildkit_mode_min_statement_decodes_base_images_and_git_context() -> None:
    p = buildkit()
    assert p.build_type == "https://mobyproject.org/buildkit@v1" and p.builder_id == ""
    assert p.subject_digests == ("sha256:d1fc0de9c6a33e502c488221644de1736c53d8ddb59b0e41b4946fb26af50e69",)
    assert [(i.reference, i.platform, i.digest) for i in p.base_images] == [
        ("golang:1.21", "linux/amd64", "sha256:4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb"),
        ("gcr.io/distroless/static", "linux/amd64", "sha256:3f2b64ef97bd285e36132c684e6b2ae8f2723293d09aae046196cca64251acac"),
    ]
    assert p.base_images[0].pinned == "golang:1.21@sha256:4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb"
    # the git context is the third material, not the first: the source is found by the config URI
    assert p.source_uri == "https://github.com/slsa-framework/example-package.git#4d329c75e7ec1725f7c9ce917a8799d408d06be3"
    assert (p.source_ref, p.source_commit) == (None, "4d329c75e7ec1725f7c9ce917a8799d408d06be3")
    assert p.parameters == (("frontend", "dockerfile.v0"),) and p.build_args == () and p.frontend_options == ()
    assert (p.parameters_complete, p.materials_complete) == (False, True)  # mode=min: no build-arg values
    assert (p.platform, p.entry_point, p.github) == ("linux/amd64", "Dockerfile", None)
    assert (p.invocation_id, p.started_on, p.finished_on) == (
        "i2zs9o1wwh74vxm7k1kobli75", "2025-02-25T21:57:06.800879795Z", "2025-02-25T21:57:29.66049539Z")


@pytest.mark.parametrize("name,build_type,builder,repo,commit,event,workflow", [
    ("reusable-workflow-attestation.sigstore.json", "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
     "https://github.com/actions/runner/github-hosted", "malancas/attest-demo",
     "95baf27389e83e6a5c48f42e190d48d7abcea19e", "workflow_dispatch", ".github/workflows/shared.yml"),
    ("custom-issuer.sigstore.json", "https://actions.github.io/buildtypes/workflow/v1",
     "https://github.com/too-legit/attest/.github/workflows/integration.yml@refs/heads/main", "too-legit/attest",
     "283bf967fa3c591925dd25e6a6e8e781542117bf", "workflow_dispatch", ".github/workflows/integration.yml"),
])
def test_github_attest_statements_decode_as_slsa_v1(name: str, build_type: str, builder: str, repo: str, commit: str,
                                                    event: str, workflow: str) -> None:
    p = parse_provenance(bundle_statement(GH_DATA / name))
    assert (p.statement_type, p.predicate_type) == ("https://in-toto.io/Statement/v1", SLSA_PROVENANCE_V1)
    assert (p.build_type, p.builder_id) == (build_type, builder)
    assert p.source_uri == p.config_uri == f"git+https://github.com/{repo}@refs/heads/main"
    assert (p.source_ref, p.source_commit, p.entry_point) == ("refs/heads/main", commit, workflow)
    assert p.github is not None
    assert (p.github.repository, p.github.event_name, p.github.sha, p.github.ref) == (repo, event, commit, "refs/heads/main")
    assert p.invocation_id is not None and p.invocation_id.startswith(f"https://github.com/{repo}/actions/runs/")
    assert dict(p.parameters)["workflow"].startswith("{")  # the workflow object, kept as compact JSON


def test_npm_slsa_v1_provenance_of_a_push_build() -> None:
    p = parse_provenance(bundle_statement(THIRDPARTY / "sigstore-go" / "pkg" / "testing" / "data" / "bundles"
                                          / "sigstore.js@2.0.0-provenance.sigstore.json"))
    assert p.predicate_type == SLSA_PROVENANCE_V1 and p.source_commit == "f0b49a04e5a62250e0f60fb128004a73110fe311"
    assert p.github is not None and p.github.event_name == "push"
    assert p.subjects[0].name == "pkg:npm/sigstore@2.0.0" and p.subjects[0].digest("sha512") is not None
    expect = ProvenanceExpectation("github.com/sigstore/sigstore-js", builder_id=p.builder_id, branch="main")
    assert failures(check_provenance(p, expect)) == []


def test_npm_v02_provenance_with_upper_case_github_environment() -> None:
    p = parse_provenance(bundle_statement(THIRDPARTY / "sigstore-go" / "examples" / "bundle-provenance.json"))
    assert (p.predicate_type, p.build_type, p.builder_id) == (
        SLSA_PROVENANCE_V02, "https://github.com/npm/cli/gha/v2", "https://github.com/actions/runner")
    assert p.invocation_id == "4735384265-1"  # spelled buildInvocationId, as the v0.2 spec does
    gh = p.github
    assert gh is not None
    assert (gh.event_name, gh.ref, gh.ref_type, gh.repository, gh.sha) == (
        "push", "refs/heads/main", None, "sigstore/sigstore-js", "dae8bd8eb433a4147b4655c00fe73e0f22bc0fb1")
    assert gh.workflow == "sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
    # no GITHUB_REF_TYPE: the branch is read from the ref's form
    checks = check_provenance(p, ProvenanceExpectation("github.com/sigstore/sigstore-js", builder_id=p.builder_id,
                                                       branch="main", tag="v1.3.0"))
    assert failures(checks) == [("tag", "invalid-ref")]


def test_a_signed_v1_statement_without_external_parameters_is_rejected() -> None:
    payload = bundle_statement(THIRDPARTY / "sigstore-python" / "test" / "assets" / "a.dsse.staging-rekor-v2.txt.sigstore.json")
    with pytest.raises(ProvenanceError, match=r"predicate\.buildDefinition\.externalParameters: is required by SLSA provenance v1"):
        parse_provenance(payload)


def test_a_statement_with_another_predicate_is_unsupported_not_guessed() -> None:
    cosign = THIRDPARTY / "cosign" / "pkg" / "cosign" / "testdata" / "oci-attestation.sigstore.json"
    with pytest.raises(UnsupportedPredicate, match="'https://cosign.sigstore.dev/attestation/v1' is not SLSA provenance"):
        parse_provenance(bundle_statement(cosign))
    with pytest.raises(UnsupportedPredicate, match="provenance/v0.1"):
        parse_provenance(mutated(att_statement("v2.1.0"), lambda d: d.update(predicateType="https://slsa.dev/provenance/v0.1")))
    assert issubclass(UnsupportedPredicate, ProvenanceError) and issubclass(ProvenanceError, PayloadError)
    assert (ProvenanceError.error_class, UnsupportedPredicate.error_class) == ("invalid-provenance", "unsupported-predicate")


def test_provenance_is_hashable_and_pickles() -> None:
    p = buildkit()
    assert pickle.loads(pickle.dumps(p)) == p and hash(p) == hash(buildkit())


@pytest.mark.parametrize("uri,expected", [
    ("git+https://github.com/o/r@refs/heads/main", ("git+https://github.com/o/r", "refs/heads/main")),
    ("git+https://github.com/o/r", ("git+https://github.com/o/r", None)),
    ("https://github.com/o/r.git#refs/tags/v1", ("https://github.com/o/r.git", "refs/tags/v1")),
    ("https://github.com/o/r.git#4d329c75e7ec1725f7c9ce917a8799d408d06be3", ("https://github.com/o/r.git", None)),
    ("git+ssh://git@github.com/o/r@refs/heads/x", ("git+ssh://git@github.com/o/r", "refs/heads/x")),
])
def test_split_git_uri(uri: str, expected: tuple[str, str | None]) -> None:
    assert split_git_uri(uri) == expected


# --- slsa-verifier's verdicts (main_regression_test.go, Test_runVerifyGHAArtifactImage) ----------

@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("builder", ["short", "semver", "long", None])
@pytest.mark.parametrize("branch", [None, "main"])
def test_upstream_layouts_verify_with_their_source_builder_and_branch(version: str, builder: str | None,
                                                                      branch: str | None) -> None:
    builder_id = {"short": GENERATOR, "semver": f"{GENERATOR}@{version}", "long": f"{GENERATOR}@refs/tags/{version}",
                  None: None}[builder]
    checks = check_provenance(prov(version), ProvenanceExpectation(SOURCE, builder_id=builder_id, branch=branch,
                                                                   subject_digest=image_digest(version)))
    assert failures(checks) == [] and all(c.ok for c in checks)
    assert [c.check for c in checks] == ["builder", "source", "subject"] + (["branch"] if branch else [])


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("expect,first_failure", [
    (ProvenanceExpectation(SOURCE, branch="master"), ("branch", "branch-mismatch")),
    (ProvenanceExpectation("github.com/slsa-framework/example-packageA"), ("source", "source-mismatch")),
    (ProvenanceExpectation("Agithub.com/slsa-framework/example-package"), ("source", "source-mismatch")),
    (ProvenanceExpectation("github.com/Aslsa-framework/example-package"), ("source", "source-mismatch")),
    (ProvenanceExpectation(SOURCE, builder_id="https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml"),
     ("builder", "untrusted-builder")),
    (ProvenanceExpectation(SOURCE, tag="v1.2.3"), ("tag", "invalid-ref")),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1"), ("versioned-tag", "invalid-ref")),
], ids=["branch-master", "source-append-A", "source-prepend-A", "source-middle-A", "not-trusted-builder", "tag", "versioned-tag"])
def test_upstream_negative_cases_fail_with_upstreams_error(version: str, expect: ProvenanceExpectation,
                                                          first_failure: tuple[str, str]) -> None:
    checks = check_provenance(prov(version), expect)
    assert failures(checks) == [first_failure]
    failed = next(c for c in checks if not c.ok)
    assert failed.error in ERROR_CLASSES and failed.message
    report_check = failed.to_check("sha256:x")
    assert (report_check.check, report_check.error, report_check.status) == (f"provenance-{first_failure[0]}",
                                                                             first_failure[1], Status.FAIL)


def test_source_may_be_given_with_https_or_git_prefix() -> None:
    for source in (f"https://{SOURCE}", f"git+https://{SOURCE}"):
        assert failures(check_provenance(prov("v2.1.0"), ProvenanceExpectation(source))) == []


@pytest.mark.parametrize("builder_id", [f"{GENERATOR}@v9.9.9", f"{GENERATOR}@refs/tags/v1.4.0", f"{GENERATOR}@",
                                        f"{GENERATOR}@a@b", GENERATOR.replace("https://", "http://")])
def test_builder_of_another_version_or_malformed_is_untrusted(builder_id: str) -> None:
    assert failures(check_provenance(prov("v2.1.0"), ProvenanceExpectation(SOURCE, builder_id=builder_id))) == [
        ("builder", "untrusted-builder")]


def test_certificate_builder_must_match_the_provenance_exactly() -> None:
    ok = ProvenanceExpectation(SOURCE, certificate_builder_id=f"{GENERATOR}@refs/tags/v2.1.0")
    assert failures(check_provenance(prov("v2.1.0"), ok)) == []
    for other in (f"{GENERATOR}@refs/tags/v1.4.0", GENERATOR):  # exact: a version-less id does not match
        bad = ProvenanceExpectation(SOURCE, certificate_builder_id=other)
        assert failures(check_provenance(prov("v2.1.0"), bad)) == [("builder-certificate", "untrusted-builder")]


def test_the_default_trusted_builders_need_a_release_tag() -> None:
    at_branch = mutated(att_statement("v2.1.0"), lambda d: d["predicate"]["builder"].update(id=f"{GENERATOR}@refs/heads/main"))
    checks = check_provenance(parse_provenance(at_branch), ProvenanceExpectation(SOURCE))
    assert failures(checks) == [("builder", "untrusted-builder")] and "release tag" in checks[0].message
    # the same builder is accepted when the user names it (slsa-verifier's loose match)
    assert failures(check_provenance(parse_provenance(at_branch), ProvenanceExpectation(SOURCE, builder_id=GENERATOR))) == []


def test_subject_digest_must_be_in_the_statement() -> None:
    checks = check_provenance(prov("v2.1.0"), ProvenanceExpectation(SOURCE, subject_digest=image_digest("v1.4.0")))
    assert failures(checks) == [("subject", "subject-mismatch")]


def test_build_parameters_of_a_github_build_are_its_workflow_inputs() -> None:
    assert failures(check_provenance(prov("v2.1.0"), ProvenanceExpectation(SOURCE, build_parameters=(("x", "y"),)))) == [
        ("build-parameter", "build-parameter-mismatch")]  # inputs: null in the real statement

    def with_inputs(event: str) -> Provenance:
        def change(d: dict[str, Any]) -> None:
            env = d["predicate"]["invocation"]["environment"]
            env["github_event_name"] = event
            env["github_event_payload"]["inputs"] = {"release_version": "1.0.2", "dry_run": "false"}
        return parse_provenance(mutated(att_statement("v2.1.0"), change))

    p = with_inputs("workflow_dispatch")
    good = ProvenanceExpectation(SOURCE, build_parameters=(("release_version", "1.0.2"), ("dry_run", "false")))
    assert failures(check_provenance(p, good)) == []
    bad = ProvenanceExpectation(SOURCE, build_parameters=(("release_version", "1.0.3"), ("missing", "1")))
    assert failures(check_provenance(p, bad)) == [("build-parameter", "build-parameter-mismatch")] * 2
    pushed = check_provenance(with_inputs("push"), good)  # only workflow_dispatch records inputs
    assert failures(pushed) == [("build-parameter", "build-parameter-mismatch")] * 2
    assert "'push'" in pushed[-1].message


def test_build_parameters_of_a_buildkit_build_are_its_build_arguments() -> None:
    # BuildKit names no builder ("" is no builder id, as in slsa-verifier) and its source form never
    # matches (see below): only the parameter's verdict is looked at here
    checks = check_provenance(buildkit(), ProvenanceExpectation(SOURCE, builder_id="", build_parameters=(("VERSION", "1"),)))
    assert failures(checks) == [("builder", "untrusted-builder"), ("source", "source-mismatch"),
                                ("build-parameter", "build-parameter-mismatch")]
    assert "mode=min" in checks[-1].message  # says why it is not recorded
    p = parse_provenance(mutated(buildkit_statement(), lambda d: d["predicate"]["invocation"]["parameters"].update(
        args={"build-arg:VERSION": "1", "target": "release"})))
    assert p.build_args == (("VERSION", "1"),) and p.frontend_options == (("target", "release"),)
    assert checks_of(p, ProvenanceExpectation(SOURCE, build_parameters=(("VERSION", "1"), ("VERSION", "2")))) == [
        ("build-parameter", Status.PASS), ("build-parameter", Status.FAIL)]


def test_buildkit_provenance_fails_the_github_container_checks() -> None:
    # BuildKit names no builder and records the git context as https://…git#<sha>: slsa-verifier
    # would refuse both, and so does the check (exact comparison, no guessing of equivalent forms).
    assert failures(check_provenance(buildkit(), ProvenanceExpectation(SOURCE))) == [
        ("builder", "untrusted-builder"), ("source", "source-mismatch")]


def test_github_attest_v1_source_and_branch_checks() -> None:
    p = parse_provenance(bundle_statement(GH_DATA / "reusable-workflow-attestation.sigstore.json"))
    expect = ProvenanceExpectation("github.com/malancas/attest-demo", builder_id="https://github.com/actions/runner/github-hosted",
                                   branch="main")
    assert failures(check_provenance(p, expect)) == []
    wrong = ProvenanceExpectation("github.com/malancas/attest-demo", builder_id=p.builder_id, branch="dev", tag="v1")
    assert failures(check_provenance(p, wrong)) == [("branch", "branch-mismatch"), ("tag", "invalid-ref")]
    other = ProvenanceExpectation("github.com/fakeowner/fakerepo", builder_id=p.builder_id)
    assert failures(check_provenance(p, other)) == [("source", "source-mismatch")]


def tag_build(tag: str = "v1.2.3", event: str = "push", base_ref: object = "refs/heads/main") -> Provenance:
    """The real v2.1.0 statement as if a pushed tag had triggered it."""
    def change(d: dict[str, Any]) -> None:
        env = d["predicate"]["invocation"]["environment"]
        env.update(github_ref=f"refs/tags/{tag}", github_ref_type="tag", github_event_name=event)
        env["github_event_payload"]["base_ref"] = base_ref
        if event == "release":
            env["github_event_payload"]["release"] = {"target_commitish": "release-1.x"}
        uri = f"git+https://github.com/slsa-framework/example-package@refs/tags/{tag}"
        d["predicate"]["invocation"]["configSource"]["uri"] = d["predicate"]["materials"][0]["uri"] = uri
    return parse_provenance(mutated(att_statement("v2.1.0"), change))


@pytest.mark.parametrize("expect,failed", [
    (ProvenanceExpectation(SOURCE, branch="main", tag="v1.2.3"), []),
    (ProvenanceExpectation(SOURCE, tag="v1.2.4"), [("tag", "tag-mismatch")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1"), []),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2"), []),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2.3"), []),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2.3+build7"), []),  # build metadata is ignored
    # upstream splits the expected tag on "." before dropping build metadata, so a dotted build
    # part ("3+build" is then the patch) fails: kept, it fails closed
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2.3+build.7"), [("versioned-tag", "versioned-tag-mismatch")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v2"), [("versioned-tag", "versioned-tag-mismatch")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.3"), [("versioned-tag", "versioned-tag-mismatch")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2.4"), [("versioned-tag", "versioned-tag-mismatch")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2.3-rc.1"), [("versioned-tag", "versioned-tag-mismatch")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="1.2.3"), [("versioned-tag", "invalid-semver")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v01"), [("versioned-tag", "invalid-semver")]),
    (ProvenanceExpectation(SOURCE, versioned_tag="v1.2-rc"), [("versioned-tag", "invalid-semver")]),
    (ProvenanceExpectation(SOURCE, branch="release"), [("branch", "branch-mismatch")]),
])
def test_tag_builds_follow_slsa_verifiers_tag_rules(expect: ProvenanceExpectation, failed: list[tuple[str, str]]) -> None:
    assert failures(check_provenance(tag_build(), expect)) == failed


def test_tag_build_branch_comes_from_the_event() -> None:
    expect = ProvenanceExpectation(SOURCE, branch="main")
    assert failures(check_provenance(tag_build(base_ref=None), expect)) == [("branch", "invalid-ref")]
    assert failures(check_provenance(tag_build(event="release"), ProvenanceExpectation(SOURCE, branch="release-1.x"))) == []
    assert failures(check_provenance(tag_build(tag="v1.2"), ProvenanceExpectation(SOURCE, versioned_tag="v1.2"))) == []
    assert failures(check_provenance(tag_build(tag="release-7"), ProvenanceExpectation(SOURCE, versioned_tag="v1"))) == [
        ("versioned-tag", "invalid-semver")]


def test_an_unknown_ref_type_or_disagreeing_trigger_is_invalid_provenance() -> None:
    odd = parse_provenance(mutated(att_statement("v2.1.0"), lambda d: d["predicate"]["invocation"]["environment"].update(
        github_ref_type="pull_request")))
    assert failures(check_provenance(odd, ProvenanceExpectation(SOURCE, branch="main", tag="v1"))) == [
        ("branch", "invalid-provenance"), ("tag", "invalid-provenance")]
    split = parse_provenance(mutated(att_statement("v2.1.0"), lambda d: d["predicate"]["invocation"]["configSource"].update(
        uri="git+https://github.com/slsa-framework/example-package@refs/heads/other")))
    assert failures(check_provenance(split, ProvenanceExpectation(SOURCE))) == [("source", "invalid-provenance")]
    elsewhere = parse_provenance(mutated(att_statement("v2.1.0"), lambda d: d["predicate"]["invocation"]["configSource"].update(
        uri="git+https://github.com/attacker/example-package@refs/heads/main")))
    assert failures(check_provenance(elsewhere, ProvenanceExpectation(SOURCE))) == [("source", "source-mismatch")]


# --- input drift --------------------------------------------------------------------------------

def test_two_generator_builds_differ_in_commit_then_builder() -> None:
    drift = compare_provenance(prov("v2.1.0"), prov("v1.4.0"))
    assert [(d.kind, d.release, d.rebuild) for d in drift] == [
        (DriftKind.SOURCE_COMMIT, VERSIONS["v2.1.0"][0], VERSIONS["v1.4.0"][0]),
        (DriftKind.BUILDER, f"{GENERATOR}@refs/tags/v2.1.0", f"{GENERATOR}@refs/tags/v1.4.0"),
    ]
    assert drift[0].describe() == f"the source commit differs ({VERSIONS['v2.1.0'][0]} → {VERSIONS['v1.4.0'][0]})"


@pytest.mark.parametrize("make", [lambda: prov("v2.1.0"), lambda: prov("v1.4.0"), buildkit])
def test_a_provenance_has_no_drift_from_itself(make: Callable[[], Provenance]) -> None:
    assert compare_provenance(make(), make()) == []


def buildkit_variant(golang: str | None = None, args: dict[str, str] | None = None, builder: str | None = None,
                     commit: str | None = None, golang_tag: str | None = None) -> Provenance:
    """The real BuildKit statement with some inputs changed, and parameters marked complete when
    build arguments are given (as mode=max records them)."""
    def change(d: dict[str, Any]) -> None:
        pred = d["predicate"]
        if golang is not None:
            pred["materials"][0]["digest"]["sha256"] = golang
            pred["materials"][0]["uri"] = pred["materials"][0]["uri"].replace(
                "4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb", golang)
        if golang_tag is not None:
            pred["materials"][0]["uri"] = pred["materials"][0]["uri"].replace("golang@1.21", f"golang@{golang_tag}")
        if args is not None:
            pred["invocation"]["parameters"]["args"] = args
            pred["metadata"]["completeness"]["parameters"] = True
        if builder is not None:
            pred["builder"]["id"] = builder
        if commit is not None:
            old = "4d329c75e7ec1725f7c9ce917a8799d408d06be3"
            for m in (pred["materials"][2], pred["invocation"]["configSource"]):
                m["uri"] = m["uri"].replace(old, commit)
                m["digest"]["sha1"] = commit
    return parse_provenance(mutated(buildkit_statement(), change))


def test_drift_is_ordered_base_image_commit_arguments_epoch_builder() -> None:
    other_golang = "ab" * 32
    release = buildkit_variant(args={"build-arg:VERSION": "1.0", "build-arg:SOURCE_DATE_EPOCH": "1700000000"})
    rebuild = buildkit_variant(golang=other_golang, commit="1" * 40, builder="https://ci.example/rebuild",
                               args={"build-arg:VERSION": "1.1", "build-arg:SOURCE_DATE_EPOCH": "1700000099"})
    drift = compare_provenance(release, rebuild)
    assert [d.kind for d in drift] == [DriftKind.BASE_IMAGE, DriftKind.SOURCE_COMMIT, DriftKind.BUILD_ARG,
                                       DriftKind.SOURCE_DATE_EPOCH, DriftKind.BUILDER]
    image = drift[0]
    assert (image.field, image.release, image.rebuild) == (
        "golang:1.21 (linux/amd64)", "sha256:4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb",
        f"sha256:{other_golang}")
    assert image.describe() == (f"the base image golang:1.21 (linux/amd64) differs "
                                f"(sha256:4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb → sha256:{other_golang})")
    assert (drift[2].field, drift[2].release, drift[2].rebuild) == ("VERSION", "1.0", "1.1")
    assert (drift[3].release, drift[3].rebuild) == ("1700000000", "1700000099")
    assert drift[4].describe() == "the builder differs (absent → https://ci.example/rebuild)"
    assert [d.to_json()["kind"] for d in drift] == ["base-image", "source-commit", "build-arg", "source-date-epoch", "builder"]
    json.dumps([d.to_json() for d in drift])


def test_a_moved_base_image_tag_is_one_drift() -> None:
    drift = compare_provenance(buildkit(), buildkit_variant(golang="cd" * 32, golang_tag="1.22"))
    assert [(d.kind, d.field) for d in drift] == [(DriftKind.BASE_IMAGE, "golang:1.21 (linux/amd64)")]
    assert drift[0].rebuild == f"golang:1.22@sha256:{'cd' * 32}"


def test_arguments_a_side_does_not_record_are_not_drift() -> None:
    with_args = buildkit_variant(args={"build-arg:VERSION": "1.0", "build-arg:SOURCE_DATE_EPOCH": "0"})
    assert compare_provenance(with_args, buildkit()) == []  # mode=min: the rebuild's args are unknown
    dropped = buildkit_variant(args={"build-arg:SOURCE_DATE_EPOCH": "0"})
    assert [(d.kind, d.release, d.rebuild) for d in compare_provenance(with_args, dropped)] == [
        (DriftKind.BUILD_ARG, "1.0", None)]


def test_generator_and_buildkit_provenance_of_one_commit_differ_only_in_builder() -> None:
    # the generator records only its source (completeness.materials false): BuildKit's base images
    # are not drift against it, and the two forms of one repository and commit agree
    drift = compare_provenance(prov("v2.1.0"), buildkit())
    assert [d.kind for d in drift] == [DriftKind.BUILDER, DriftKind.BUILD_TYPE]


def test_drift_output_redacts_secret_arguments() -> None:
    token, npm = "ghp_" + "a" * 36, "s3cr3t-value-1234"
    release = buildkit_variant(args={"build-arg:GH_TOKEN": token, "build-arg:NPM_TOKEN": npm})
    rebuild = buildkit_variant(args={"build-arg:GH_TOKEN": token + "x", "build-arg:NPM_TOKEN": npm + "x"})
    drift = compare_provenance(release, rebuild)
    assert {d.field for d in drift} == {"GH_TOKEN", "NPM_TOKEN"}
    text = json.dumps([d.to_json() for d in drift]) + "\n".join(d.describe() for d in drift)
    assert token not in text and npm not in text and "[redacted" in text
    assert drift[0].release == token  # the value itself stays exact for the caller


# --- the rebuild recipe and the summary ---------------------------------------------------------

def test_rebuild_recipe_from_mode_min_provenance_pins_images_and_says_what_is_missing() -> None:
    recipe = rebuild_recipe(buildkit())
    assert recipe.source_repository == "https://github.com/slsa-framework/example-package.git"
    assert recipe.source_commit == "4d329c75e7ec1725f7c9ce917a8799d408d06be3"
    assert [i.pinned for i in recipe.base_images] == [
        "golang:1.21@sha256:4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb",
        "gcr.io/distroless/static@sha256:3f2b64ef97bd285e36132c684e6b2ae8f2723293d09aae046196cca64251acac"]
    lines = recipe.lines()
    assert lines[0] == "source: https://github.com/slsa-framework/example-package.git at 4d329c75e7ec1725f7c9ce917a8799d408d06be3"
    assert "base image: pin golang:1.21@sha256:4746d26432a9117a5f58e95cb9f954ddf0de128e9d5816886514199316e4a2fb (linux/amd64)" in lines
    assert any("mode=min" in n for n in recipe.notes) and any("SOURCE_DATE_EPOCH" in n for n in recipe.notes)
    assert json.loads(json.dumps(recipe.to_json()))["base_images"][1]["reference"] == "gcr.io/distroless/static"


def test_rebuild_recipe_carries_arguments_and_epoch_with_secrets_redacted() -> None:
    recipe = rebuild_recipe(buildkit_variant(args={"build-arg:VERSION": "1.0", "build-arg:SOURCE_DATE_EPOCH": "1700000000",
                                                   "build-arg:API_KEY": "k-123456789", "target": "release"}))
    assert recipe.build_args == (("API_KEY", "k-123456789"), ("VERSION", "1.0"))
    assert (recipe.source_date_epoch, recipe.frontend_options) == ("1700000000", (("target", "release"),))
    lines = recipe.lines()
    assert "build argument: VERSION=1.0" in lines and "SOURCE_DATE_EPOCH=1700000000" in lines
    assert "frontend option: target=release" in lines
    assert "k-123456789" not in "\n".join(lines) + json.dumps(recipe.to_json())
    assert not any("SOURCE_DATE_EPOCH" in n for n in recipe.notes)


def test_rebuild_recipe_of_a_generator_build() -> None:
    recipe = rebuild_recipe(prov("v1.4.0"))
    assert (recipe.source_repository, recipe.source_ref, recipe.source_commit) == (
        "https://github.com/slsa-framework/example-package", "refs/heads/main", VERSIONS["v1.4.0"][0])
    assert recipe.base_images == () and any("no base images" in n for n in recipe.notes)


def test_summary_shows_builder_source_commit_images_and_redacted_arguments() -> None:
    secret = "ghp_" + "b" * 36
    doc = summary(buildkit_variant(args={"build-arg:GITHUB_TOKEN": secret, "build-arg:VERSION": "2",
                                         "build-arg:PASSWORD": "hunter2hunter2"}))
    text = json.dumps(doc)
    assert secret not in text and "hunter2hunter2" not in text
    assert doc["build_args"]["VERSION"] == "2" and doc["build_args"]["GITHUB_TOKEN"].startswith("[redacted")
    assert doc["source"]["repository"] == "github.com/slsa-framework/example-package"
    assert doc["source"]["commit"] == "4d329c75e7ec1725f7c9ce917a8799d408d06be3"
    assert [i["reference"] for i in doc["base_images"]] == ["golang:1.21", "gcr.io/distroless/static"]
    assert doc["builder"] is None and doc["parameters_complete"] is True
    gh = summary(prov("v2.1.0"))
    assert gh["builder"] == f"{GENERATOR}@refs/tags/v2.1.0" and gh["github"]["event"] == "workflow_dispatch"
    assert gh["source"]["ref"] == "refs/heads/main" and gh["subjects"][0]["digests"]["sha256"] == image_digest("v2.1.0")[7:]


# --- hostile statements -------------------------------------------------------------------------

def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]
    return change


@pytest.mark.parametrize("change,message", [
    (_set("subject", {"name": "x"}), r"subject: must be an array, got an object"),
    (_set("subject", []), r"subject: must list at least one subject"),
    (_set("subject.0.digest", {}), r"subject\[0\]\.digest: must name at least one digest"),
    (_set("subject.0.digest", {"sha256": 7}), r"subject\[0\]\.digest\.sha256: must be a non-empty digest string"),
    (_set("subject.0.digest", {"sha256": "zz" * 32}), r"subject\[0\]\.digest\.sha256: 'zz.*' is not 64 hex digits"),
    (_set("subject.0.digest", {"sha256": "ab" * 31}), r"is not 64 hex digits"),
    (_drop("subject.0.digest"), r"subject\[0\]\.digest: must be an object, got null"),
    (_set("_type", "https://in-toto.io/Statement/v2"), r"_type: 'https://in-toto.io/Statement/v2' is not an in-toto Statement"),
    (_drop("_type"), r"_type: must be a string, got null"),
    (_set("predicateType", ["https://slsa.dev/provenance/v0.2"]), r"predicateType: must be a string, got an array"),
    (_drop("predicate"), r"predicate: must be an object, got null"),
    (_drop("predicate.builder"), r"predicate\.builder: must be an object, got null"),
    (_set("predicate.builder.id", 12), r"predicate\.builder\.id: must be a string, got a number"),
    (_drop("predicate.buildType"), r"predicate\.buildType: must be a string, got null"),
    (_set("predicate.materials", {"uri": "x"}), r"predicate\.materials: must be an array, got an object"),
    (_set("predicate.materials.0", {"annotations": {}}), r"predicate\.materials\[0\]: needs a uri or a digest"),
    (_set("predicate.materials.0.uri", True), r"predicate\.materials\[0\]\.uri: must be a string, got a boolean"),
    (_set("predicate.invocation", "yes"), r"predicate\.invocation: must be an object, got a string"),
    (_set("predicate.invocation.environment", ["a"]), r"predicate\.invocation\.environment: must be an object"),
    (_set("predicate.invocation.environment.github_ref", 5), r"environment\.github_ref: must be a string, got a number"),
    (_set("predicate.invocation.environment.github_event_payload", "x"), r"github_event_payload: must be an object"),
    (_set("predicate.invocation.configSource.digest", {"sha1": "xyz"}), r"configSource\.digest\.sha1: 'xyz' is not 40 hex"),
    (_set("predicate.metadata.reproducible", "no"), r"predicate\.metadata\.reproducible: must be true or false"),
    (_set("predicate.metadata.buildInvocationId", "other"), r"predicate\.metadata: buildInvocationId and buildInvocationID disagree"),
    (_set("predicate.buildConfig", []), r"predicate\.buildConfig: must be an object, got an array"),
])
def test_malformed_v02_statements_are_rejected_by_member(change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(ProvenanceError, match=message):
        parse_provenance(mutated(att_statement("v2.1.0"), change))


@pytest.mark.parametrize("change,message", [
    (_drop("predicate.buildDefinition"), r"predicate\.buildDefinition: must be an object, got null"),
    (_set("predicate.buildDefinition.externalParameters", []), r"externalParameters: must be an object, got an array"),
    (_set("predicate.buildDefinition.resolvedDependencies", "x"), r"resolvedDependencies: must be an array"),
    (_drop("predicate.runDetails"), r"predicate\.runDetails: must be an object, got null"),
    (_drop("predicate.runDetails.builder"), r"predicate\.runDetails\.builder: must be an object"),
    (_set("predicate.buildDefinition.externalParameters.workflow", {"ref": "refs/heads/main"}),
     r"externalParameters\.workflow\.repository: must be a string, got null"),
    (_set("predicate.buildDefinition.internalParameters.github", "x"), r"internalParameters\.github: must be an object"),
    (_set("predicate.runDetails.metadata.invocationId", 3), r"runDetails\.metadata\.invocationId: must be a string"),
])
def test_malformed_v1_statements_are_rejected_by_member(change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(ProvenanceError, match=message):
        parse_provenance(mutated(bundle_statement(GH_DATA / "custom-issuer.sigstore.json"), change))


def test_buildkit_arguments_must_be_strings() -> None:
    bad = mutated(buildkit_statement(), _set("predicate.invocation.parameters.args", {"build-arg:X": 1}))
    with pytest.raises(ProvenanceError, match=r"parameters\.args\.build-arg:X: must be a string, got a number"):
        parse_provenance(bad)


@pytest.mark.parametrize("what", ["subject", "materials", "args", "inputs"])
def test_huge_arrays_and_maps_are_refused_at_the_limit(what: str) -> None:
    limits = ProvenanceLimits()
    n = 5000  # above every count limit, far below the byte limit
    assert n > max(limits.max_subjects, limits.max_materials, limits.max_map_entries)
    digest = {"sha256": "ab" * 32}
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "subject": _set("subject", [{"name": str(i), "digest": digest} for i in range(n)]),
        "materials": _set("predicate.materials", [{"uri": f"git+https://x/{i}", "digest": digest} for i in range(n)]),
        "args": _set("predicate.invocation.parameters.args", {f"build-arg:A{i}": "x" for i in range(n)}),
        "inputs": _set("predicate.invocation.environment.github_event_payload.inputs", {f"i{i}": "x" for i in range(n)}),
    }
    base = buildkit_statement() if what == "args" else att_statement("v2.1.0")
    with pytest.raises(ProvenanceError, match=rf"{n} entries exceed the limit of"):
        parse_provenance(mutated(base, changes[what]))


def test_deep_nesting_is_refused_without_using_the_stack() -> None:
    nested: object = "x"
    for _ in range(100):
        nested = {"a": nested}
    with pytest.raises(ProvenanceError, match="nested deeper than 64 levels"):
        parse_provenance(mutated(att_statement("v2.1.0"), _set("predicate.invocation.parameters", nested)))
    very_deep = b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # beyond the interpreter's recursion limit
    with pytest.raises(ProvenanceError, match="nested too deeply|not valid JSON"):
        parse_provenance(very_deep)


@pytest.mark.parametrize("payload,message", [
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"_type": 1, "_type": 2}', "duplicate key"),
    (b'{"_type": NaN}', "non-finite"),
    (b"[1, 2", "not valid JSON"),
    (b'"a string"', "statement: must be an object, got a string"),
    (b"null", "statement: must be an object, got null"),
])
def test_bytes_that_are_not_a_json_object_are_rejected(payload: bytes, message: str) -> None:
    with pytest.raises(ProvenanceError, match=message):
        parse_provenance(payload)


def test_lone_surrogates_and_odd_member_names_are_rejected_cleanly() -> None:
    unread = mutated(att_statement("v2.1.0"), _set("predicate.builder.note", "PLACEHOLDER")).replace(b"PLACEHOLDER", b"\\ud800")
    assert b"\\ud800" in unread and parse_provenance(unread).builder_id  # a member nobody reads may hold anything
    bad_id = mutated(att_statement("v2.1.0"), _set("predicate.builder.id", "PLACEHOLDER")).replace(b"PLACEHOLDER", b"\\ud800")
    with pytest.raises(ProvenanceError, match=r"predicate\.builder\.id: is not valid Unicode"):
        parse_provenance(bad_id)
    odd_key = mutated(buildkit_statement(), _set("predicate.invocation.parameters.args", {"build-arg:\x1b[31m" + "x" * 100: "1"}))
    assert parse_provenance(odd_key).build_args[0][1] == "1"  # kept; escaping is the presenter's job
    bad_key = mutated(buildkit_statement(), _set("predicate.invocation.parameters.args", {"KEY": "1"})).replace(b'"KEY"', b'"\\udc80"')
    with pytest.raises(ProvenanceError, match=r"args member name '\\udc80': is not valid Unicode"):
        parse_provenance(bad_key)


def test_size_and_string_limits() -> None:
    payload = att_statement("v2.1.0")
    with pytest.raises(ProvenanceError, match=rf"statement of {len(payload)} bytes exceeds 1000"):
        parse_provenance(payload, ProvenanceLimits(max_statement_bytes=1000))
    long_uri = mutated(payload, _set("predicate.materials.0.uri", "git+https://github.com/" + "a" * 70_000))
    with pytest.raises(ProvenanceError, match=r"materials\[0\]\.uri: string of 70023 characters exceeds 65536"):
        parse_provenance(long_uri)


# Hypothesis: any member of a real statement replaced by any JSON value gives a Provenance or a
# ProvenanceError, never another exception, and every function over the result runs.
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=20), lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "github_event_payload":  # a few hundred members that all behave alike
                out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


_STATEMENTS = {"generator": att_statement("v2.1.0"), "buildkit": buildkit_statement(),
               "attest-v1": bundle_statement(GH_DATA / "custom-issuer.sigstore.json")}
_PATHS = [(name, path) for name, data in _STATEMENTS.items() for path in _paths(json.loads(data))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(_PATHS), value=_JSON)
def test_any_mutation_gives_a_provenance_or_a_provenance_error(target: tuple[str, tuple[object, ...]], value: object) -> None:
    name, path = target
    doc = json.loads(_STATEMENTS[name])
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)
    try:
        p = parse_provenance(json.dumps(doc).encode())
    except ProvenanceError:
        return
    check_provenance(p, ProvenanceExpectation(SOURCE, builder_id=GENERATOR, branch="main", tag="v1", versioned_tag="v1",
                                              build_parameters=(("a", "b"),), subject_digest="sha256:" + "0" * 64))
    compare_provenance(p, buildkit())
    json.dumps(summary(p))
    json.dumps(rebuild_recipe(p).to_json())
    rebuild_recipe(p).lines()


def test_every_error_class_is_listed_once() -> None:
    assert len(set(ERROR_CLASSES)) == len(ERROR_CLASSES)
