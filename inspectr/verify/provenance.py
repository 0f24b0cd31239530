"""What inspectr does with decoded SLSA provenance (untrusted/provenance.py): check it the way
slsa-verifier checks a container image's provenance, compare a release's with a rebuild's for the
gate's `input-drift` cause, derive the recipe a rebuild needs, and summarise it for `inspect` and
`audit`. Pure functions over `Provenance` values; the statement's signature is checked elsewhere.

Build arguments can hold secrets (BuildKit mode=max records their values), so every text meant
for output (summary, InputDrift.describe/to_json, RebuildRecipe.lines/to_json, check messages)
goes through untrusted/secrets.py's redaction. The values in the dataclass fields stay exact.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ..untrusted.provenance import BaseImage, GitHubContext, Provenance, Resource, parse_provenance, split_git_uri
from ..untrusted.sigpayload import PayloadError
from ..untrusted.secrets import redact, redact_secrets, redact_value
from .report import Check, SignatureResult, Status, predicate_matches

__all__ = [
    "DEFAULT_TRUSTED_BUILDERS", "ERROR_CLASSES", "ProvenanceExpectation", "ProvenanceCheck", "check_provenance",
    "DriftKind", "InputDrift", "compare_provenance", "RebuildRecipe", "rebuild_recipe", "summary",
]

# slsa-verifier's trusted builders for container images (its defaultContainerTrustedReusableWorkflows):
# with no expected builder given, the provenance's builder must be one of these, at a release tag.
DEFAULT_TRUSTED_BUILDERS = frozenset({
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml",
})

# The stable error ids of failed checks (slsa-verifier's error in brackets):
ERROR_CLASSES = (
    "untrusted-builder",  # builder id is not the expected or a trusted one (ErrorUntrustedReusableWorkflow, ErrorMismatchBuilderID)
    "source-mismatch",  # source repository differs (ErrorMismatchSource)
    "subject-mismatch",  # no subject has the expected digest (ErrorMismatchHash)
    "branch-mismatch",  # built from another branch (ErrorMismatchBranch)
    "tag-mismatch",  # built from another tag (ErrorMismatchTag)
    "versioned-tag-mismatch",  # the tag is not within the expected semver (ErrorMismatchVersionedTag)
    "invalid-ref",  # the build's ref is not a branch / tag where one is expected (ErrorInvalidRef)
    "invalid-semver",  # the expected or the recorded tag is not semver (ErrorInvalidSemver)
    "build-parameter-mismatch",  # a given workflow input / build argument differs (ErrorMismatchWorkflowInputs)
    "invalid-provenance",  # the provenance contradicts itself or lacks what a check needs (ErrorInvalidDssePayload)
)


# --- 1. slsa-verifier's checks ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProvenanceExpectation:
    """What `verify --provenance` was told to expect, in slsa-verifier's terms. `source` is
    required (its --source-uri): `github.com/org/repo`, with or without `https://` or `git+`.
    `build_parameters` are its --build-workflow-input for GitHub builds, and build arguments
    (`NAME=value`) for BuildKit builds. `certificate_builder_id` is the builder the signing
    certificate names, when the signature check found one: the provenance must name exactly it.
    With no `builder_id` (None or ""), the builder must be one of `trusted_builders` at a release
    tag, as slsa-verifier requires."""

    source: str
    builder_id: str | None = None
    branch: str | None = None
    tag: str | None = None
    versioned_tag: str | None = None
    build_parameters: tuple[tuple[str, str], ...] = ()
    subject_digest: str | None = None  # "sha256:<hex>"
    certificate_builder_id: str | None = None
    trusted_builders: frozenset[str] = DEFAULT_TRUSTED_BUILDERS


@dataclass(frozen=True, slots=True)
class ProvenanceCheck:
    """One fact checked. `check` is a stable id (builder, builder-certificate, source, subject,
    branch, tag, versioned-tag, build-parameter); `error` is one of ERROR_CLASSES when it failed."""

    check: str
    status: Status
    expected: str
    actual: str | None
    message: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.PASS

    def to_check(self, subject: str) -> Check:
        """As a report Check (`provenance-<check>`), for a VerificationReport."""
        return Check(f"provenance-{self.check}", subject, self.status, self.message, self.error)


def _pass(check: str, expected: str, actual: str | None, message: str) -> ProvenanceCheck:
    return ProvenanceCheck(check, Status.PASS, expected, actual, message)


def _fail(check: str, expected: str, actual: str | None, message: str, error: str) -> ProvenanceCheck:
    return ProvenanceCheck(check, Status.FAIL, expected, actual, message, error)


def check_provenance(prov: Provenance, expect: ProvenanceExpectation) -> list[ProvenanceCheck]:
    """Every check `expect` asks for, in slsa-verifier's order (builder, source, subject, branch,
    tag, versioned tag, build parameters). Unlike slsa-verifier, which stops at the first error,
    all are returned; the first failure is the error slsa-verifier would give. Raises nothing."""
    out = _check_builder(prov, expect)
    out.append(_check_source(prov, expect.source))
    if expect.subject_digest is not None:
        out.append(_check_subject(prov, expect.subject_digest))
    if expect.branch is not None:
        out.append(_check_branch(prov, expect.branch))
    if expect.tag is not None:
        out.append(_check_tag(prov, expect.tag))
    if expect.versioned_tag is not None:
        out.append(_check_versioned_tag(prov, expect.versioned_tag))
    out += [_check_parameter(prov, name, value) for name, value in expect.build_parameters]
    return out


def _split_builder_id(builder_id: str) -> tuple[str, str] | None:
    """(name, version) of `name` or `name@version`; None when malformed (two `@`, empty version)."""
    parts = builder_id.split("@")
    if len(parts) == 1:
        return parts[0], ""
    if len(parts) == 2 and parts[1]:
        return parts[0], parts[1]
    return None


def _check_builder(prov: Provenance, expect: ProvenanceExpectation) -> list[ProvenanceCheck]:
    actual = prov.builder_id
    parsed = _split_builder_id(actual)
    out = []
    if not expect.builder_id:  # None or "": slsa-verifier falls back to its trusted builders for both
        trusted = ", ".join(sorted(expect.trusted_builders))
        if parsed is None or parsed[0] not in expect.trusted_builders:
            out.append(_fail("builder", trusted, actual, f"builder '{actual}' is not a trusted builder (trusted: {trusted})",
                             "untrusted-builder"))
        elif not _is_release_tag(parsed[1]):
            # a trusted workflow is only trusted at a release: a branch or a commit could be anything
            out.append(_fail("builder", trusted, actual, f"builder '{actual}' is not pinned to a release tag "
                             "refs/tags/vX.Y.Z", "untrusted-builder"))
        else:
            out.append(_pass("builder", trusted, actual, f"builder '{actual}' is trusted"))
    else:
        out.append(_match_builder("builder", expect.builder_id, actual, parsed, exact=False))
    if expect.certificate_builder_id is not None:
        out.append(_match_builder("builder-certificate", expect.certificate_builder_id, actual, parsed, exact=True))
    return out


def _match_builder(check: str, expected: str, actual: str, parsed: tuple[str, str] | None, exact: bool) -> ProvenanceCheck:
    """slsa-verifier's builder match: the names must be equal; an expected version must equal the
    recorded one, where `vX` also matches `refs/tags/vX`. Loose (a user's --builder-id): no version
    expected matches any. Exact (the certificate's): the versions must match too."""
    wanted = _split_builder_id(expected)
    if parsed is None:
        return _fail(check, expected, actual, f"provenance builder id '{actual}' is malformed", "untrusted-builder")
    if wanted is None:
        return _fail(check, expected, actual, f"expected builder id '{expected}' is malformed", "untrusted-builder")
    (name, version), (wanted_name, wanted_version) = parsed, wanted
    if name != wanted_name:
        return _fail(check, expected, actual, f"expected builder '{wanted_name}', the provenance names '{name}'",
                     "untrusted-builder")
    if (exact or wanted_version) and version != wanted_version and version != f"refs/tags/{wanted_version}":
        return _fail(check, expected, actual, f"expected builder version '{wanted_version}', the provenance names "
                     f"'{version}'", "untrusted-builder")
    return _pass(check, expected, actual, f"builder '{actual}' matches '{expected}'")


def _is_release_tag(ref: str) -> bool:
    """`refs/tags/vX.Y.Z`, no pre-release or build part (slsa-verifier's IsValidBuilderTag)."""
    name = _ref_name(ref, "tags")
    parsed = _semver(name) if name is not None else None
    return parsed is not None and not parsed.short and not parsed.prerelease and not parsed.build


def _source_repository_for_check(uri: str) -> str:
    """slsa-verifier's source comparison: the URI without `git+`, `https://` and any `@ref`."""
    return uri.removeprefix("git+").removeprefix("https://").split("@", 1)[0]


def _check_source(prov: Provenance, expected_source: str) -> ProvenanceCheck:
    expected = expected_source.removeprefix("git+").removeprefix("https://")
    if prov.source_uri is None:
        return _fail("source", expected, None, "the provenance names no source repository", "source-mismatch")
    # slsa-verifier checks both where the build was triggered (configSource / the workflow) and the
    # source material; either naming another repository is a mismatch.
    for label, uri in (("source", prov.source_uri), ("trigger", prov.config_uri)):
        if uri is not None and _source_repository_for_check(uri) != expected:
            return _fail("source", expected, uri, f"expected source '{expected}', the provenance's {label} is '{uri}'",
                         "source-mismatch")
    if prov.config_uri is not None and prov.config_uri != prov.source_uri:
        return _fail("source", expected, prov.source_uri, f"the provenance's trigger '{prov.config_uri}' and source "
                     f"'{prov.source_uri}' differ", "invalid-provenance")
    return _pass("source", expected, prov.source_uri, f"source '{prov.source_uri}' is '{expected}'")


def _check_subject(prov: Provenance, expected_digest: str) -> ProvenanceCheck:
    alg, _, value = expected_digest.partition(":")
    wanted = f"{alg}:{value.lower()}"
    actual = ", ".join(prov.subject_digests)
    if wanted in prov.subject_digests:
        return _pass("subject", wanted, actual, f"a subject has digest {wanted}")
    return _fail("subject", wanted, actual, f"no subject has digest {wanted} (subjects: {actual})", "subject-mismatch")


def _parse_ref(ref: str) -> tuple[str, str]:
    """(kind, name) of `refs/<kind>/<name>`: ("heads", "main"); ("", ref) when not of that form."""
    parts = ref.split("/", 2)
    if len(parts) < 3 or parts[0] != "refs":
        return "", ref
    return parts[1], parts[2]


def _ref_name(ref: str, kind: str) -> str | None:
    found_kind, name = _parse_ref(ref)
    return name if found_kind == kind and name else None


class _InvalidProvenance(Exception):
    """The provenance's GitHub context contradicts itself (an unknown ref type, a release event
    without its target): reported as a failed check, never raised out of this module."""


def _github_ref_type(gh: GitHubContext) -> str | None:
    """The ref type the provenance records, or, when it records none (GitHub's workflow build
    type, npm's v0.2), the one the ref's form says; None when it is neither branch nor tag."""
    if gh.ref_type is not None:
        if gh.ref_type not in ("branch", "tag"):
            raise _InvalidProvenance(f"unknown GitHub ref type '{gh.ref_type}'")
        return gh.ref_type
    kind = _parse_ref(gh.ref or "")[0]
    return {"heads": "branch", "tags": "tag"}.get(kind)


def _branch_ref(prov: Provenance) -> str:
    """The branch ref the build came from, as slsa-verifier derives it: the GitHub ref of a
    branch build; for a tag build, github_base_ref, else the push event's base_ref or the
    release's target branch; "" when unknown. Without a GitHub context, the source URI's ref."""
    gh = prov.github
    if gh is None or gh.ref is None:
        return prov.source_ref or ""
    match _github_ref_type(gh):
        case "branch":
            return gh.ref
        case "tag":
            if gh.base_ref:
                return gh.base_ref
            if gh.event_name == "push":
                return gh.event_base_ref or ""
            if gh.event_name == "release":
                if not gh.release_target:
                    raise _InvalidProvenance("release event without release.target_commitish")
                return f"refs/heads/{gh.release_target}"
            return ""
        case _:
            return gh.ref


def _tag_ref(prov: Provenance) -> str:
    """The tag ref the build came from: "" for a branch build (so a tag check fails with invalid-ref)."""
    gh = prov.github
    if gh is None or gh.ref is None:
        return prov.source_ref or ""
    return "" if _github_ref_type(gh) == "branch" else gh.ref


def _check_branch(prov: Provenance, expected: str) -> ProvenanceCheck:
    try:
        ref = _branch_ref(prov)
    except _InvalidProvenance as err:
        return _fail("branch", expected, None, f"cannot tell the branch: {err}", "invalid-provenance")
    name = _ref_name(ref, "heads")
    if name is None:
        found = f"its ref is '{ref}'" if ref else "it records no branch"
        return _fail("branch", expected, ref or None, f"expected branch '{expected}', but the build is not from a branch: "
                     f"{found}", "invalid-ref")
    if name != expected:
        return _fail("branch", expected, name, f"expected branch '{expected}', got '{name}'", "branch-mismatch")
    return _pass("branch", expected, name, f"built from branch '{name}'")


def _tag_name(prov: Provenance, check: str, expected: str) -> tuple[str | None, ProvenanceCheck | None]:
    try:
        ref = _tag_ref(prov)
    except _InvalidProvenance as err:
        return None, _fail(check, expected, None, f"cannot tell the tag: {err}", "invalid-provenance")
    name = _ref_name(ref, "tags")
    if name is None:
        what = "versioned tag" if check == "versioned-tag" else "tag"
        found = f"its ref is '{ref}'" if ref else "it records no tag"
        return None, _fail(check, expected, ref or None, f"expected {what} '{expected}', but the build is not from a tag: "
                           f"{found}", "invalid-ref")
    return name, None


def _check_tag(prov: Provenance, expected: str) -> ProvenanceCheck:
    name, failed = _tag_name(prov, "tag", expected)
    if failed is not None or name is None:
        return failed or _fail("tag", expected, None, "internal error: no tag", "invalid-provenance")
    if name != expected:
        return _fail("tag", expected, name, f"expected tag '{expected}', got '{name}'", "tag-mismatch")
    return _pass("tag", expected, name, f"built from tag '{name}'")


@dataclass(frozen=True, slots=True)
class _Semver:
    major: str
    minor: str
    patch: str
    short: str  # ".0.0" or ".0" when minor or patch was left out (v1, v1.2)
    prerelease: str  # "-rc.1" or ""
    build: str  # "+meta" or ""


_NUMBER = re.compile(r"0|[1-9][0-9]*")
_IDENTIFIERS = re.compile(r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*")


def _semver(v: str) -> _Semver | None:
    """Semantic Versioning with a leading `v`, as Go's golang.org/x/mod/semver reads it (the
    parser slsa-verifier uses): `vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]]`, the short forms
    without pre-release or build, no leading zeros in numbers (nor in numeric pre-release parts)."""
    m = re.fullmatch(r"v([0-9]+)(?:\.([0-9]+)(?:\.([0-9]+)(-[^+]*)?(\+.*)?)?)?", v)
    if m is None:
        return None
    major, minor, patch, prerelease, build = (g or "" for g in m.groups())
    for number in (major, minor, patch):
        if number and not _NUMBER.fullmatch(number):
            return None
    if prerelease:
        if not _IDENTIFIERS.fullmatch(prerelease[1:]):
            return None
        if any(p.isdigit() and len(p) > 1 and p[0] == "0" for p in prerelease[1:].split(".")):
            return None
    if build and not _IDENTIFIERS.fullmatch(build[1:]):
        return None
    short = ".0.0" if not minor else ".0" if not patch else ""
    return _Semver(major, minor or "0", patch or "0", short, prerelease, build)


def _canonical(v: str) -> str | None:
    """`v1` -> `v1.0.0`, `v1.2.3+meta` -> `v1.2.3` (Go's semver.Canonical); None when invalid."""
    p = _semver(v)
    if p is None:
        return None
    return f"v{p.major}.{p.minor}.{p.patch}{p.prerelease}"


def _check_versioned_tag(prov: Provenance, expected: str) -> ProvenanceCheck:
    """slsa-verifier's --source-versioned-tag: the major version must match, and the minor and the
    patch too when the expected tag gives them. Its parts are taken by splitting on `.`, as
    upstream does, so `v1.2.3-rc.1` compares `3-rc` as its patch."""
    name, failed = _tag_name(prov, "versioned-tag", expected)
    if failed is not None or name is None:
        return failed or _fail("versioned-tag", expected, None, "internal error: no tag", "invalid-provenance")
    wanted = _semver(expected)
    if wanted is None:
        return _fail("versioned-tag", expected, name, f"expected versioned tag '{expected}' is not semver (vX[.Y[.Z]])",
                     "invalid-semver")
    canonical = _canonical(name)
    if canonical is None:
        return _fail("versioned-tag", expected, name, f"the build's tag '{name}' is not semver", "invalid-semver")
    if canonical.split(".")[0] != f"v{wanted.major}":
        return _fail("versioned-tag", expected, name, f"expected major version v{wanted.major}, got '{name}'",
                     "versioned-tag-mismatch")
    wanted_parts, parts = expected.split("."), canonical.split(".")
    if len(wanted_parts) > 1 and parts[1] != wanted_parts[1]:
        return _fail("versioned-tag", expected, name, f"expected minor version {wanted_parts[1]}, got '{name}'",
                     "versioned-tag-mismatch")
    if len(wanted_parts) > 2 and parts[2] != wanted_parts[2].removesuffix(wanted.build):
        return _fail("versioned-tag", expected, name, f"expected patch version {wanted_parts[2]}, got '{name}'",
                     "versioned-tag-mismatch")
    return _pass("versioned-tag", expected, name, f"tag '{name}' is within '{expected}'")


def _check_parameter(prov: Provenance, key: str, value: str) -> ProvenanceCheck:
    expected = f"{key}={_shown(key, value)}"
    gh = prov.github
    if gh is not None:
        # GitHub builds: slsa-verifier's --build-workflow-input, which only a workflow_dispatch records
        if gh.event_name != "workflow_dispatch":
            return _fail("build-parameter", expected, None, f"workflow input '{key}': the build was triggered by "
                         f"'{gh.event_name}', and only workflow_dispatch has inputs", "build-parameter-mismatch")
        recorded = dict(gh.inputs) if gh.inputs is not None else None
        if recorded is None or key not in recorded:
            return _fail("build-parameter", expected, None, f"workflow input '{key}' is not recorded",
                         "build-parameter-mismatch")
        actual = recorded[key]
        what = "workflow input"
    else:
        found = prov.build_arg(key)
        if found is None:
            note = " (the provenance says its parameters are incomplete, e.g. BuildKit mode=min)" \
                if prov.parameters_complete is False else ""
            return _fail("build-parameter", expected, None, f"build argument '{key}' is not recorded{note}",
                         "build-parameter-mismatch")
        actual = found
        what = "build argument"
    shown = f"{key}={_shown(key, actual)}"
    if actual != value:
        return _fail("build-parameter", expected, shown, f"{what}: expected '{expected}', got '{shown}'",
                     "build-parameter-mismatch")
    return _pass("build-parameter", expected, shown, f"{what} '{expected}' matches")


# --- redaction for output -----------------------------------------------------------------------

# Argument names that say their value is a credential; their values are redacted whatever they
# look like (the content rules in secrets.py only catch values of a known shape).
_SECRET_NAME = re.compile(r"(?i)token|secret|passw|pwd|api_?key|private_?key|credential|auth")


def _shown(name: str, value: str) -> str:
    """A named value (build argument, input) as output may show it."""
    if _SECRET_NAME.search(name) and value:
        return f"[redacted {redact(value.encode('utf-8', 'replace'))}]"
    return redact_secrets(value)


def _shown_map(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {redact_secrets(k): _shown(k, v) for k, v in pairs}


# --- 2. input drift between a release and its rebuild -------------------------------------------

class DriftKind(enum.Enum):
    """What kind of build input differs; the members are in the order drifts are reported."""

    BASE_IMAGE = "base-image"
    MATERIAL = "material"
    SOURCE_REPOSITORY = "source-repository"
    SOURCE_COMMIT = "source-commit"
    BUILD_ARG = "build-arg"
    FRONTEND_OPTION = "frontend-option"
    WORKFLOW_INPUT = "workflow-input"
    SOURCE_DATE_EPOCH = "source-date-epoch"
    BUILDER = "builder"
    BUILD_TYPE = "build-type"


_NAMED_KINDS = (DriftKind.BUILD_ARG, DriftKind.FRONTEND_OPTION, DriftKind.WORKFLOW_INPUT)
_LABELS = {DriftKind.BASE_IMAGE: "the base image", DriftKind.MATERIAL: "the material",
           DriftKind.SOURCE_REPOSITORY: "the source repository", DriftKind.SOURCE_COMMIT: "the source commit",
           DriftKind.BUILD_ARG: "build argument", DriftKind.FRONTEND_OPTION: "frontend option",
           DriftKind.WORKFLOW_INPUT: "workflow input", DriftKind.SOURCE_DATE_EPOCH: "SOURCE_DATE_EPOCH",
           DriftKind.BUILDER: "the builder", DriftKind.BUILD_TYPE: "the build type"}


@dataclass(frozen=True, slots=True)
class InputDrift:
    """One build input that differs between the release's and the rebuild's provenance. `field`
    names it (an image reference and platform, an argument name, "source commit", …); `release`
    and `rebuild` are the two values, None where that side's provenance does not have it."""

    kind: DriftKind
    field: str
    release: str | None
    rebuild: str | None

    def _value(self, value: str | None) -> str:
        if value is None:
            return "absent"
        return _shown(self.field, value) if self.kind in _NAMED_KINDS else redact_secrets(value)

    def describe(self) -> str:
        """One line for the gate's explanation, e.g. `the base image golang:1.21 (linux/amd64)
        differs (sha256:a… → sha256:b…)`. Secrets redacted."""
        label = _LABELS[self.kind]
        subject = label if self.kind in (DriftKind.SOURCE_REPOSITORY, DriftKind.SOURCE_COMMIT, DriftKind.SOURCE_DATE_EPOCH,
                                         DriftKind.BUILDER, DriftKind.BUILD_TYPE) else f"{label} {redact_secrets(self.field)}"
        return f"{subject} differs ({self._value(self.release)} → {self._value(self.rebuild)})"

    def to_json(self) -> dict[str, Any]:
        """A JSON record (stable keys). Secrets redacted."""
        return {"kind": self.kind.value, "field": redact_secrets(self.field),
                "release": None if self.release is None else self._value(self.release),
                "rebuild": None if self.rebuild is None else self._value(self.rebuild)}


def compare_provenance(release: Provenance, rebuild: Provenance) -> list[InputDrift]:
    """The build inputs that differ, in the order the gate explains them: base images, other
    materials, source repository and commit, build arguments, frontend options, workflow inputs,
    SOURCE_DATE_EPOCH, builder, build type. Empty when the recorded inputs agree. A parameter is
    compared only where both sides record parameters: BuildKit mode=min leaves build-argument
    values out, and an argument one side does not record is unknown there, not absent."""
    out = _compare_images(release, rebuild)
    out += _compare_materials(release, rebuild)
    repo_a, repo_b = _repository(release.source_uri), _repository(rebuild.source_uri)
    if repo_a != repo_b:
        out.append(InputDrift(DriftKind.SOURCE_REPOSITORY, "source repository", repo_a, repo_b))
    if release.source_commit != rebuild.source_commit:
        out.append(InputDrift(DriftKind.SOURCE_COMMIT, "source commit", release.source_commit, rebuild.source_commit))
    args_a = {k: v for k, v in release.build_args if k != "SOURCE_DATE_EPOCH"}
    args_b = {k: v for k, v in rebuild.build_args if k != "SOURCE_DATE_EPOCH"}
    out += _compare_named(DriftKind.BUILD_ARG, args_a, args_b, _records_parameters(release), _records_parameters(rebuild))
    out += _compare_named(DriftKind.FRONTEND_OPTION, dict(release.frontend_options), dict(rebuild.frontend_options),
                          _records_parameters(release), _records_parameters(rebuild))
    inputs_a = release.github.inputs if release.github is not None else None
    inputs_b = rebuild.github.inputs if rebuild.github is not None else None
    if inputs_a is not None and inputs_b is not None:
        out += _compare_named(DriftKind.WORKFLOW_INPUT, dict(inputs_a), dict(inputs_b), True, True)
    sde_a, sde_b = release.source_date_epoch, rebuild.source_date_epoch
    if sde_a != sde_b and (sde_a is not None or _records_parameters(release)) \
            and (sde_b is not None or _records_parameters(rebuild)):
        out.append(InputDrift(DriftKind.SOURCE_DATE_EPOCH, "SOURCE_DATE_EPOCH", sde_a, sde_b))
    if release.builder_id != rebuild.builder_id:
        out.append(InputDrift(DriftKind.BUILDER, "builder id", release.builder_id or None, rebuild.builder_id or None))
    if release.build_type != rebuild.build_type:
        out.append(InputDrift(DriftKind.BUILD_TYPE, "build type", release.build_type, rebuild.build_type))
    return out


def _records_parameters(prov: Provenance) -> bool:
    """Whether an argument missing from this provenance is known to be absent from the build."""
    return prov.parameters_complete is True or bool(prov.build_args) or bool(prov.frontend_options)


def _compare_named(kind: DriftKind, a: dict[str, str], b: dict[str, str], a_complete: bool,
                   b_complete: bool) -> list[InputDrift]:
    out = []
    for name in sorted(a.keys() | b.keys()):
        left, right = a.get(name), b.get(name)
        if left == right or (left is None and not a_complete) or (right is None and not b_complete):
            continue
        out.append(InputDrift(kind, name, left, right))
    return out


def _image_label(image: BaseImage) -> str:
    return f"{image.reference} ({image.platform})" if image.platform else image.reference


def _exact_key(image: BaseImage) -> tuple[str, str | None]:
    return image.reference, image.platform


def _name_key(image: BaseImage) -> tuple[str, str | None]:
    return image.name, image.platform


def _records_materials(prov: Provenance) -> bool:
    """Whether a material missing from this provenance is known to be absent from the build (the
    GitHub generators record only the source, and say so with completeness.materials false)."""
    return prov.materials_complete is True or bool(prov.base_images) or len(prov.materials) > (prov.source_uri is not None)


def _compare_images(release: Provenance, rebuild: Provenance) -> list[InputDrift]:
    """Pair the images by reference and platform; then pair what is left by name and platform when
    that is unambiguous (a tag moved: golang:1.21 → golang:1.22); the rest were added or dropped,
    where the other side records its materials."""
    left, right = list(release.base_images), list(rebuild.base_images)
    pairs: list[tuple[BaseImage | None, BaseImage | None]] = []
    for key in (_exact_key, _name_key):
        for image in list(left):
            same = [j for j in right if key(j) == key(image)]
            if len(same) == 1 and [key(i) for i in left].count(key(image)) == 1:
                pairs.append((image, same[0]))
                left.remove(image)
                right.remove(same[0])
    pairs += [(i, None) for i in left if _records_materials(rebuild)]
    pairs += [(None, j) for j in right if _records_materials(release)]
    out = []
    for a, b in pairs:
        if a is not None and b is not None:
            if a.reference == b.reference and a.digest == b.digest:
                continue
            same_ref = a.reference == b.reference
            out.append(InputDrift(DriftKind.BASE_IMAGE, _image_label(a),
                                  a.digest if same_ref else a.pinned, b.digest if same_ref else b.pinned))
        elif a is not None:
            out.append(InputDrift(DriftKind.BASE_IMAGE, _image_label(a), a.pinned, None))
        elif b is not None:
            out.append(InputDrift(DriftKind.BASE_IMAGE, _image_label(b), None, b.pinned))
    return sorted(out, key=lambda d: d.field)


def _other_materials(prov: Provenance) -> dict[str, Resource]:
    """Materials that are neither a base image nor the source, by URI."""
    images = {i.uri for i in prov.base_images}
    return {m.uri: m for m in prov.materials if m.uri is not None and m.uri not in images and m.uri != prov.source_uri}


def _digest_text(m: Resource | None) -> str | None:
    return None if m is None else ", ".join(f"{alg}:{value}" for alg, value in m.digests) or "no digest"


def _compare_materials(release: Provenance, rebuild: Provenance) -> list[InputDrift]:
    a, b = _other_materials(release), _other_materials(rebuild)
    a_known, b_known = _records_materials(release), _records_materials(rebuild)
    return [InputDrift(DriftKind.MATERIAL, uri, _digest_text(a.get(uri)), _digest_text(b.get(uri)))
            for uri in sorted(a.keys() | b.keys())
            if _digest_text(a.get(uri)) != _digest_text(b.get(uri))
            and (uri in a or a_known) and (uri in b or b_known)]


def _repository(uri: str | None) -> str | None:
    """A source URI reduced to host/path, so that the forms producers write compare equal:
    `git+https://github.com/o/r@refs/heads/main` and BuildKit's `https://github.com/o/r.git#<sha>`
    both give `github.com/o/r`. Only for drift: the slsa-verifier check compares exactly."""
    if uri is None:
        return None
    base = split_git_uri(uri)[0].removeprefix("git+")
    scheme, sep, rest = base.partition("://")
    if sep:
        base = rest
    host, slash, path = base.partition("/")
    host = host.rpartition("@")[2]  # user info (git@, token@) is not part of the repository
    if not slash and ":" in host:  # scp-like git@github.com:o/r
        host, _, path = host.partition(":")
        slash = "/"
    return f"{host.lower()}{slash}{path.removesuffix('/').removesuffix('.git')}"


# --- 3. the rebuild recipe ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RebuildRecipe:
    """The inputs a rebuild needs to match a release, from the release's provenance alone."""

    source_repository: str | None  # e.g. https://github.com/org/repo
    source_ref: str | None
    source_commit: str | None
    entry_point: str | None  # Dockerfile or workflow path
    base_images: tuple[BaseImage, ...]  # pin each as `.pinned`
    build_args: tuple[tuple[str, str], ...]  # without SOURCE_DATE_EPOCH
    frontend_options: tuple[tuple[str, str], ...]
    source_date_epoch: str | None
    platform: str | None
    builder_id: str
    build_type: str
    notes: tuple[str, ...]  # what the provenance does not say

    def lines(self) -> list[str]:
        """The recipe as lines for a terminal or a Markdown list. Secrets redacted."""
        out = []
        if self.source_repository:
            at = self.source_commit or self.source_ref or "(no commit recorded)"
            out.append(f"source: {redact_secrets(self.source_repository)} at {redact_secrets(at)}")
        out += [f"base image: pin {redact_secrets(i.pinned)}" + (f" ({i.platform})" if i.platform else "")
                for i in self.base_images]
        out += [f"build argument: {redact_secrets(k)}={v}" for k, v in _shown_map(self.build_args).items()]
        out += [f"frontend option: {redact_secrets(k)}={v}" for k, v in _shown_map(self.frontend_options).items()]
        if self.source_date_epoch is not None:
            out.append(f"SOURCE_DATE_EPOCH={redact_secrets(self.source_date_epoch)}")
        if self.platform:
            out.append(f"platform: {redact_secrets(self.platform)}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON record (stable keys). Secrets redacted."""
        doc: dict[str, Any] = {
            "source": {"repository": self.source_repository, "ref": self.source_ref, "commit": self.source_commit},
            "entry_point": self.entry_point,
            "base_images": [{"reference": i.reference, "platform": i.platform, "digest": i.digest, "pinned": i.pinned}
                            for i in self.base_images],
            "source_date_epoch": self.source_date_epoch, "platform": self.platform,
            "builder": self.builder_id or None, "build_type": self.build_type, "notes": list(self.notes),
        }
        redacted = redact_value(doc)
        assert isinstance(redacted, dict)
        redacted["build_args"] = _shown_map(self.build_args)
        redacted["frontend_options"] = _shown_map(self.frontend_options)
        return redacted


def rebuild_recipe(prov: Provenance) -> RebuildRecipe:
    """What a rebuild must pin to reproduce the build `prov` describes: the source at its commit,
    the base image digests, the build arguments and SOURCE_DATE_EPOCH, and what is not known."""
    notes = []
    if prov.parameters_complete is False:
        notes.append("the provenance does not record every build parameter (BuildKit mode=min leaves build-argument "
                     "values out): build arguments and SOURCE_DATE_EPOCH may be missing here")
    if prov.source_commit is None:
        notes.append("no source commit is recorded")
    if not prov.base_images:
        notes.append("no base images are recorded")
    if prov.source_date_epoch is None:
        notes.append("no SOURCE_DATE_EPOCH is recorded; without it timestamps differ between builds")
    return RebuildRecipe(
        source_repository=split_git_uri(prov.source_uri)[0].removeprefix("git+") if prov.source_uri else None,
        source_ref=prov.source_ref, source_commit=prov.source_commit, entry_point=prov.entry_point,
        base_images=prov.base_images,
        build_args=tuple((k, v) for k, v in prov.build_args if k != "SOURCE_DATE_EPOCH"),
        frontend_options=prov.frontend_options, source_date_epoch=prov.source_date_epoch, platform=prov.platform,
        builder_id=prov.builder_id, build_type=prov.build_type, notes=tuple(notes))


# --- 4. the summary for inspect and audit -------------------------------------------------------

def summary(prov: Provenance) -> dict[str, Any]:
    """A JSON-ready summary (stable keys): builder, source, commit, base images, build arguments,
    SOURCE_DATE_EPOCH, the GitHub run, subjects. Build-argument values and any secret-shaped text
    are redacted."""
    gh = prov.github
    doc: dict[str, Any] = {
        "predicate_type": prov.predicate_type,
        "build_type": prov.build_type,
        "builder": prov.builder_id or None,
        "source": {"uri": prov.source_uri, "repository": _repository(prov.source_uri), "ref": prov.source_ref,
                   "commit": prov.source_commit, "entry_point": prov.entry_point},
        "base_images": [{"reference": i.reference, "platform": i.platform, "digest": i.digest} for i in prov.base_images],
        "source_date_epoch": prov.source_date_epoch,
        "parameters_complete": prov.parameters_complete,
        "platform": prov.platform,
        "invocation": {"id": prov.invocation_id, "started_on": prov.started_on, "finished_on": prov.finished_on},
        "github": None if gh is None else {
            "repository": gh.repository, "ref": gh.ref, "sha": gh.sha, "event": gh.event_name,
            "workflow": gh.workflow, "run_id": gh.run_id, "run_attempt": gh.run_attempt},
        "subjects": [{"name": s.name, "digests": dict(s.digests)} for s in prov.subjects],
    }
    redacted = redact_value(doc)
    assert isinstance(redacted, dict)
    redacted["build_args"] = _shown_map(prov.build_args)
    redacted["frontend_options"] = _shown_map(prov.frontend_options)
    if gh is not None and gh.inputs is not None:
        redacted["github"]["inputs"] = _shown_map(gh.inputs)
    return redacted


def attested_provenance(signatures: Iterable[SignatureResult], verified_only: bool = True
                        ) -> Iterator[tuple[SignatureResult, Provenance | PayloadError]]:
    """Each signed SLSA provenance statement among the results, decoded (or why it could not be):
    only those whose signature verified, unless `verified_only` is False (inspect shows the
    others with their status)."""
    for s in signatures:
        if s.statement is None or not predicate_matches("slsaprovenance", s.identity):
            continue
        if verified_only and s.status is not Status.PASS:
            continue
        try:
            yield s, parse_provenance(s.statement)
        except PayloadError as err:
            yield s, err
