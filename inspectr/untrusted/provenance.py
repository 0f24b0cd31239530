"""Strict parsing of in-toto statements that carry SLSA build provenance (v0.2 and v1) into one
small frozen value, `Provenance`. The caller has already checked the statement's signature
(signatures.md: crypto first, then the payload); a signature says who wrote the bytes, not that
they are well formed, so everything here is still checked and bounded.

Facts from the specs:
- in-toto Statement v0.1 and v1: `_type`, `subject` (name + digest set), `predicateType`, `predicate`.
- SLSA provenance v0.2: `builder.id`, `buildType`, `invocation` (`configSource`, `parameters`,
  `environment`), `buildConfig`, `metadata` (`buildInvocationId`, `buildStartedOn`,
  `buildFinishedOn`, `completeness`, `reproducible`), `materials`.
- SLSA provenance v1: `buildDefinition` (`buildType`, `externalParameters` (required),
  `internalParameters`, `resolvedDependencies`) and `runDetails` (`builder.id` (required),
  `metadata`: `invocationId`, `startedOn`, `finishedOn`; `byproducts`).
In-toto v1 says unset, null and empty mean the same, so an optional member that is `null` is read
as absent. Unknown members are ignored (both specs allow extension fields); known members of the
wrong type are errors.

Producer conventions decoded on top, each keyed by `buildType`:
- BuildKit (v0.2 `https://mobyproject.org/buildkit@v1`, v1 its slsa-definitions URL): frontend
  args (`build-arg:NAME`, `target`, `label:…`), `pkg:docker/…` materials (base images), the
  `environment.platform`, the `vcs` metadata, and whether parameters are complete (mode=min
  leaves build-argument values out).
- GitHub Actions: slsa-github-generator's lower-case `github_*` environment (v0.2), npm's
  upper-case `GITHUB_*` environment (v0.2) and BYOB `internalParameters` (v1), and the workflow
  build types of GitHub's attest-build-provenance and npm (v1: `externalParameters.workflow`,
  `internalParameters.github`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from .jsonload import parse_strict_json
from .sigpayload import PayloadError

__all__ = [
    "STATEMENT_TYPES", "SLSA_PROVENANCE_V02", "SLSA_PROVENANCE_V1", "PROVENANCE_PREDICATE_TYPES",
    "BUILDKIT_BUILD_TYPES", "GITHUB_WORKFLOW_BUILD_TYPES",
    "ProvenanceError", "UnsupportedPredicate", "ProvenanceLimits",
    "Resource", "BaseImage", "GitHubContext", "Provenance",
    "parse_provenance", "is_provenance_predicate", "split_git_uri",
]

STATEMENT_TYPES = frozenset({"https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1"})
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"  # SLSA v1.0 and v1.1 share this predicate type
PROVENANCE_PREDICATE_TYPES = frozenset({SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1})

BUILDKIT_V02_BUILD_TYPE = "https://mobyproject.org/buildkit@v1"
BUILDKIT_V1_BUILD_TYPE = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
BUILDKIT_BUILD_TYPES = frozenset({BUILDKIT_V02_BUILD_TYPE, BUILDKIT_V1_BUILD_TYPE})
BUILDKIT_METADATA_KEY = "https://mobyproject.org/buildkit@v1#metadata"  # v0.2 extension member
# GitHub's attest-build-provenance, and npm's own provenance: the same layout, two names.
GITHUB_WORKFLOW_BUILD_TYPES = frozenset({"https://actions.github.io/buildtypes/workflow/v1",
                                         "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"})

# in-toto digest sets: the algorithms whose values are hex of a known length. Values of these are
# compared as text later (base image drift, subject match), so they are checked and lower-cased
# here; any other algorithm is kept as recorded.
_HEX_DIGEST_LENGTHS: dict[str, tuple[int, ...]] = {
    "sha1": (40,), "sha224": (56,), "sha256": (64,), "sha384": (96,), "sha512": (128,),
    "sha512_224": (56,), "sha512_256": (64,), "sha3_224": (56,), "sha3_256": (64,), "sha3_384": (96,),
    "sha3_512": (128,), "gitCommit": (40, 64), "gitTree": (40, 64), "gitBlob": (40, 64), "gitTag": (40, 64),
}
_HEX = re.compile(r"[0-9a-fA-F]+")
_COMMIT_ALGORITHMS = ("sha1", "gitCommit")  # how v0.2 materials and v1 dependencies name a git commit


class ProvenanceError(PayloadError):
    """The statement is not SLSA provenance inspectr can read: malformed, over a limit, or missing a
    required member. A PayloadError, so code that handles signature payloads handles it too."""

    error_class = "invalid-provenance"


class UnsupportedPredicate(ProvenanceError):
    """A well-formed in-toto statement whose predicate is not SLSA provenance v0.2 or v1."""

    error_class = "unsupported-predicate"


@dataclass(frozen=True, slots=True)
class ProvenanceLimits:
    """Caps for one statement. The byte cap matches Limits.max_json_bytes (BuildKit mode=max
    statements carry the whole LLB graph); the rest bound the work done per member."""

    max_statement_bytes: int = 16 << 20
    max_depth: int = 64  # real statements nest about 8 deep (the GitHub event payload)
    max_subjects: int = 4096
    max_materials: int = 4096
    max_map_entries: int = 4096  # any one parameter, argument, environment or input map
    max_string_chars: int = 64 << 10  # one string member we keep (a build argument, a URI)
    max_digest_chars: int = 1024


@dataclass(frozen=True, slots=True)
class Resource:
    """An in-toto ResourceDescriptor: a subject, a v0.2 material or a v1 resolved dependency.
    `digests` is the digest set as sorted (algorithm, value) pairs; hex values are lower-case."""

    uri: str | None
    name: str | None
    digests: tuple[tuple[str, str], ...]

    def digest(self, algorithm: str) -> str | None:
        """The value for `algorithm`, or None when the set has none."""
        return next((value for alg, value in self.digests if alg == algorithm), None)

    @property
    def commit(self) -> str | None:
        """The git commit this resource names (`sha1` in v0.2 materials, `gitCommit` in v1)."""
        return next((v for alg in _COMMIT_ALGORITHMS if (v := self.digest(alg)) is not None), None)


@dataclass(frozen=True, slots=True)
class BaseImage:
    """A container image the build pulled: a `pkg:docker/…` or `pkg:oci/…` material (package-url)."""

    uri: str  # the material's uri as recorded
    name: str  # e.g. "golang", "gcr.io/distroless/static"
    version: str | None  # the tag, e.g. "1.21"
    platform: str | None  # e.g. "linux/amd64", from the purl's platform qualifier
    digest: str | None  # "sha256:…" from the digest set, else from the purl's digest qualifier

    @property
    def reference(self) -> str:
        """`name:tag` (or just `name`): how a Dockerfile names it."""
        return f"{self.name}:{self.version}" if self.version else self.name

    @property
    def pinned(self) -> str:
        """`name:tag@digest`: the reference a rebuild should use to get the same bytes."""
        return f"{self.reference}@{self.digest}" if self.digest else self.reference


@dataclass(frozen=True, slots=True)
class GitHubContext:
    """The GitHub Actions facts a provenance records, whichever producer wrote them. Fields are
    None when the provenance does not record them; `ref_type` is kept as written ("branch",
    "tag", or anything else) because the ref checks treat an unknown type as an error."""

    event_name: str | None
    ref: str | None
    ref_type: str | None
    base_ref: str | None  # github_base_ref
    event_base_ref: str | None  # the push event payload's base_ref (the branch of a pushed tag)
    release_target: str | None  # the release event payload's release.target_commitish
    sha: str | None
    repository: str | None  # owner/name
    repository_id: str | None
    repository_owner_id: str | None
    run_id: str | None
    run_attempt: str | None
    workflow: str | None  # the workflow file (path, or GITHUB_WORKFLOW_REF)
    actor: str | None
    inputs: tuple[tuple[str, str], ...] | None  # workflow_dispatch inputs; None when not recorded


@dataclass(frozen=True, slots=True)
class Provenance:
    """One decoded SLSA provenance statement. Maps are sorted (name, value) tuples so the value is
    hashable and compares and pickles cheaply; a value that is not a string is kept as compact
    JSON text."""

    statement_type: str
    predicate_type: str
    build_type: str
    builder_id: str  # may be "" (BuildKit writes an empty id unless told one)
    subjects: tuple[Resource, ...]
    materials: tuple[Resource, ...]  # v0.2 materials / v1 resolvedDependencies, in recorded order
    config_uri: str | None  # what started the build: v0.2 configSource.uri, v1 workflow repository@ref
    config_digests: tuple[tuple[str, str], ...]
    entry_point: str | None  # Dockerfile path or workflow file
    source_uri: str | None  # e.g. git+https://github.com/org/repo@refs/heads/main
    source_ref: str | None  # e.g. refs/heads/main (from the source URI)
    source_commit: str | None  # the source's git commit (sha1 / gitCommit digest)
    base_images: tuple[BaseImage, ...]
    build_args: tuple[tuple[str, str], ...]  # BuildKit `build-arg:NAME` values, prefix dropped
    frontend_options: tuple[tuple[str, str], ...]  # the other BuildKit frontend args (target, label:…)
    parameters: tuple[tuple[str, str], ...]  # v0.2 invocation.parameters / v1 externalParameters, top level
    internal_parameters: tuple[tuple[str, str], ...]  # v1 internalParameters, scalar top-level members only
    environment: tuple[tuple[str, str], ...]  # v0.2 invocation.environment, scalar members only
    parameters_complete: bool | None  # False: the producer says parameters are not all recorded
    materials_complete: bool | None  # False: the producer says materials are not all recorded
    source_date_epoch: str | None
    github: GitHubContext | None
    invocation_id: str | None
    started_on: str | None
    finished_on: str | None
    reproducible: bool | None
    platform: str | None

    @property
    def subject_digests(self) -> tuple[str, ...]:
        """Every subject digest as `algorithm:value`, in recorded order."""
        return tuple(f"{alg}:{value}" for s in self.subjects for alg, value in s.digests)

    def build_arg(self, name: str) -> str | None:
        """The value of build argument `name`, or None when the provenance does not record it."""
        return next((v for k, v in self.build_args if k == name), None)


def is_provenance_predicate(predicate_type: str) -> bool:
    """True for the predicate types parse_provenance reads."""
    return predicate_type in PROVENANCE_PREDICATE_TYPES


def split_git_uri(uri: str) -> tuple[str, str | None]:
    """(repository URI, ref) of a source URI. `git+https://host/o/r@refs/heads/main` gives
    (`git+https://host/o/r`, `refs/heads/main`); BuildKit's `https://host/o/r.git#refs/tags/v1`
    gives the fragment as the ref when it is a ref (a bare commit id is not). An `@` before the
    path is user info, not a ref."""
    if "#" in uri:
        base, _, fragment = uri.partition("#")
        return base, fragment if fragment.startswith("refs/") else None
    scheme_end = uri.find("://")
    path_start = uri.find("/", scheme_end + 3) if scheme_end >= 0 else 0
    at = uri.find("@", path_start) if path_start >= 0 else -1
    if at < 0:
        return uri, None
    return uri[:at], uri[at + 1:] or None


# --- the parser ---------------------------------------------------------------------------------

class _Reader:
    """Type-checked access to one statement, with the limits and the member path in every error."""

    def __init__(self, limits: ProvenanceLimits) -> None:
        self.limits = limits

    def fail(self, where: str, problem: str) -> ProvenanceError:
        return ProvenanceError(f"slsa provenance: {where}: {problem}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {_kind(value)}")
        return value

    def opt_obj(self, value: Any, where: str) -> dict[str, Any] | None:
        return None if value is None else self.obj(value, where)

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {_kind(value)}")
        if len(value) > self.limits.max_string_chars:
            raise self.fail(where, f"string of {len(value)} characters exceeds {self.limits.max_string_chars}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # JSON's \ud800 escapes can spell a lone surrogate: not text, and it would break every
            # writer downstream (terminal, JSON report, SARIF) long after this parse
            raise self.fail(where, "is not valid Unicode (a lone surrogate)") from None
        return value

    def key(self, key: str, where: str) -> str:
        """A member name we keep (an argument, an input, a digest algorithm), checked like a value."""
        return self.string(key, f"{where} member name {_shown_key(key)}")

    def opt_string(self, value: Any, where: str) -> str | None:
        return None if value is None else self.string(value, where)

    def opt_bool(self, value: Any, where: str) -> bool | None:
        if value is not None and not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {_kind(value)}")
        return value

    def array(self, value: Any, where: str, max_items: int) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"must be an array, got {_kind(value)}")
        if len(value) > max_items:
            raise self.fail(where, f"{len(value)} entries exceed the limit of {max_items}")
        return value

    def check_entries(self, mapping: dict[str, Any], where: str) -> None:
        if len(mapping) > self.limits.max_map_entries:
            raise self.fail(where, f"{len(mapping)} entries exceed the limit of {self.limits.max_map_entries}")

    def digest_set(self, value: Any, where: str, required: bool) -> tuple[tuple[str, str], ...]:
        if value is None and not required:
            return ()
        digests = self.obj(value, where)
        if required and not digests:
            raise self.fail(where, "must name at least one digest")
        self.check_entries(digests, where)
        out = []
        for alg, raw in digests.items():
            alg = self.key(alg, where)
            if not isinstance(raw, str) or not raw or len(raw) > self.limits.max_digest_chars:
                raise self.fail(f"{where}.{_shown_key(alg)}", "must be a non-empty digest string")
            lengths = _HEX_DIGEST_LENGTHS.get(alg)
            if lengths is not None:
                if len(raw) not in lengths or not _HEX.fullmatch(raw):
                    raise self.fail(f"{where}.{alg}", f"{raw[:80]!r} is not {' or '.join(map(str, lengths))} hex digits")
                raw = raw.lower()
            out.append((alg, raw))
        return tuple(sorted(out))

    def resource(self, value: Any, where: str, is_subject: bool) -> Resource:
        doc = self.obj(value, where)
        uri = self.opt_string(doc.get("uri"), f"{where}.uri")
        name = self.opt_string(doc.get("name"), f"{where}.name")
        digests = self.digest_set(doc.get("digest"), f"{where}.digest", required=is_subject)
        if not is_subject and uri is None and not digests and doc.get("content") is None:
            # in-toto v1 ResourceDescriptor: at least one of uri, digest and content
            raise self.fail(where, "needs a uri or a digest")
        return Resource(uri, name, digests)

    def text_map(self, value: Any, where: str, scalars_only: bool = False) -> tuple[tuple[str, str], ...]:
        """A JSON object as sorted (name, text) pairs: strings as they are (capped like every
        string), other values as compact JSON (bounded by the statement's size and depth). With
        scalars_only, nested objects and arrays are left out: the GitHub event payload in an
        environment, or BuildKit's LLB graph in internalParameters, says nothing a reader of the
        build's inputs needs, and the members that matter are decoded on their own."""
        if value is None:
            return ()
        mapping = self.obj(value, where)
        self.check_entries(mapping, where)
        out = []
        for key, item in mapping.items():
            if scalars_only and (item is None or isinstance(item, (dict, list))):
                continue
            key = self.key(key, where)
            if isinstance(item, str):
                out.append((key, self.string(item, f"{where}.{_shown_key(key)}")))
            else:
                out.append((key, json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)))
        return tuple(sorted(out))

    def string_map(self, value: Any, where: str) -> dict[str, str]:
        """An object whose values must all be strings (BuildKit frontend args)."""
        if value is None:
            return {}
        mapping = self.obj(value, where)
        self.check_entries(mapping, where)
        return {self.key(key, where): self.string(item, f"{where}.{_shown_key(key)}") for key, item in mapping.items()}

    def either(self, doc: dict[str, Any], names: tuple[str, str], where: str) -> str | None:
        """A member producers spell two ways (SLSA v0.2 says `buildInvocationId`, BuildKit and
        slsa-github-generator write `buildInvocationID`). Both present and different: an error,
        since a reader that picks one would disagree with a reader that picks the other."""
        values = [self.opt_string(doc.get(n), f"{where}.{n}") for n in names]
        present = [v for v in values if v is not None]
        if len(present) == 2 and present[0] != present[1]:
            raise self.fail(where, f"{names[0]} and {names[1]} disagree")
        return present[0] if present else None


def _shown_key(key: str) -> str:
    """A member name from the statement as an error message may quote it: short, printable."""
    return key if len(key) <= 64 and key.isascii() and key.isprintable() else repr(key[:64])


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def _check_depth(doc: Any, max_depth: int) -> None:
    """Iterative, so a deep document costs no Python stack (json.loads itself stops at the
    interpreter's recursion limit, which the caller reports as invalid JSON)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise ProvenanceError(f"slsa provenance: nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


def parse_provenance(payload: bytes, limits: ProvenanceLimits = ProvenanceLimits()) -> Provenance:
    """Decode an in-toto statement (the DSSE payload, already verified) whose predicate is SLSA
    provenance v0.2 or v1. Raises UnsupportedPredicate for any other predicate type and
    ProvenanceError (both PayloadErrors) for anything malformed or over `limits`."""
    if len(payload) > limits.max_statement_bytes:
        raise ProvenanceError(f"slsa provenance: statement of {len(payload)} bytes exceeds {limits.max_statement_bytes}")
    try:
        doc = parse_strict_json(payload.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ProvenanceError(f"slsa provenance: statement is not UTF-8 at byte {err.start}") from None
    except RecursionError:
        raise ProvenanceError("slsa provenance: statement nested too deeply") from None
    except ValueError as err:
        raise ProvenanceError(f"slsa provenance: statement is not valid JSON: {err}") from None
    _check_depth(doc, limits.max_depth)
    r = _Reader(limits)
    top = r.obj(doc, "statement")
    statement_type = r.string(top.get("_type"), "_type")
    if statement_type not in STATEMENT_TYPES:
        raise r.fail("_type", f"{statement_type[:200]!r} is not an in-toto Statement v0.1 or v1")
    predicate_type = r.string(top.get("predicateType"), "predicateType")
    if predicate_type not in PROVENANCE_PREDICATE_TYPES:
        raise UnsupportedPredicate(f"slsa provenance: predicateType {predicate_type[:200]!r} is not SLSA provenance "
                                   f"v0.2 or v1")
    raw_subjects = r.array(top.get("subject"), "subject", limits.max_subjects)
    if not raw_subjects:
        raise r.fail("subject", "must list at least one subject")
    subjects = tuple(r.resource(s, f"subject[{i}]", is_subject=True) for i, s in enumerate(raw_subjects))
    predicate = r.obj(top.get("predicate"), "predicate")
    if predicate_type == SLSA_PROVENANCE_V02:
        return _parse_v02(r, statement_type, subjects, predicate)
    return _parse_v1(r, statement_type, subjects, predicate)


@dataclass(frozen=True, slots=True)
class _Vcs:
    source: str | None
    revision: str | None


def _buildkit_vcs(r: _Reader, value: Any, where: str) -> _Vcs:
    """BuildKit's `vcs` metadata: the repository and revision of a build from a local checkout."""
    meta = r.opt_obj(value, where) or {}
    vcs = r.opt_obj(meta.get("vcs"), f"{where}.vcs") or {}
    return _Vcs(r.opt_string(vcs.get("source"), f"{where}.vcs.source"),
                r.opt_string(vcs.get("revision"), f"{where}.vcs.revision"))


def _parse_v02(r: _Reader, statement_type: str, subjects: tuple[Resource, ...], pred: dict[str, Any]) -> Provenance:
    builder = r.obj(pred.get("builder"), "predicate.builder")
    builder_id = r.string(builder.get("id"), "predicate.builder.id")
    build_type = r.string(pred.get("buildType"), "predicate.buildType")
    invocation = r.opt_obj(pred.get("invocation"), "predicate.invocation") or {}
    config = r.opt_obj(invocation.get("configSource"), "predicate.invocation.configSource") or {}
    config_uri = r.opt_string(config.get("uri"), "predicate.invocation.configSource.uri") or None
    config_digests = r.digest_set(config.get("digest"), "predicate.invocation.configSource.digest", required=False)
    entry_point = r.opt_string(config.get("entryPoint"), "predicate.invocation.configSource.entryPoint") or None
    params = r.opt_obj(invocation.get("parameters"), "predicate.invocation.parameters")
    env = r.opt_obj(invocation.get("environment"), "predicate.invocation.environment")
    r.opt_obj(pred.get("buildConfig"), "predicate.buildConfig")  # read by nobody here; only its type is checked
    metadata = r.opt_obj(pred.get("metadata"), "predicate.metadata") or {}
    completeness = r.opt_obj(metadata.get("completeness"), "predicate.metadata.completeness") or {}
    materials = tuple(r.resource(m, f"predicate.materials[{i}]", is_subject=False)
                      for i, m in enumerate(r.array(pred.get("materials"), "predicate.materials", r.limits.max_materials)))

    parameters = r.text_map(params, "predicate.invocation.parameters")
    environment = r.text_map(env, "predicate.invocation.environment", scalars_only=True)
    build_args: dict[str, str] = {}
    options: dict[str, str] = {}
    platform = None
    vcs = _Vcs(None, None)
    if build_type == BUILDKIT_V02_BUILD_TYPE:
        build_args, options = _split_frontend_args(r.string_map((params or {}).get("args"), "predicate.invocation.parameters.args"))
        platform = r.opt_string((env or {}).get("platform"), "predicate.invocation.environment.platform")
        vcs = _buildkit_vcs(r, metadata.get(BUILDKIT_METADATA_KEY), f"predicate.metadata.{BUILDKIT_METADATA_KEY}")
    github = _github_from_env(r, env, "predicate.invocation.environment") if env else None
    source_uri, source_commit = _pick_source(config_uri, config_digests, materials, vcs)
    return Provenance(
        statement_type=statement_type, predicate_type=SLSA_PROVENANCE_V02, build_type=build_type, builder_id=builder_id,
        subjects=subjects, materials=materials, config_uri=config_uri, config_digests=config_digests,
        entry_point=entry_point, source_uri=source_uri, source_ref=split_git_uri(source_uri)[1] if source_uri else None,
        source_commit=source_commit, base_images=_base_images(r, materials),
        build_args=tuple(sorted(build_args.items())), frontend_options=tuple(sorted(options.items())),
        parameters=parameters, internal_parameters=(), environment=environment,
        parameters_complete=r.opt_bool(completeness.get("parameters"), "predicate.metadata.completeness.parameters"),
        materials_complete=r.opt_bool(completeness.get("materials"), "predicate.metadata.completeness.materials"),
        source_date_epoch=build_args.get("SOURCE_DATE_EPOCH", dict(environment).get("SOURCE_DATE_EPOCH")),
        github=github,
        invocation_id=r.either(metadata, ("buildInvocationId", "buildInvocationID"), "predicate.metadata"),
        started_on=r.opt_string(metadata.get("buildStartedOn"), "predicate.metadata.buildStartedOn"),
        finished_on=r.opt_string(metadata.get("buildFinishedOn"), "predicate.metadata.buildFinishedOn"),
        reproducible=r.opt_bool(metadata.get("reproducible"), "predicate.metadata.reproducible"),
        platform=platform,
    )


def _parse_v1(r: _Reader, statement_type: str, subjects: tuple[Resource, ...], pred: dict[str, Any]) -> Provenance:
    definition = r.obj(pred.get("buildDefinition"), "predicate.buildDefinition")
    build_type = r.string(definition.get("buildType"), "predicate.buildDefinition.buildType")
    # Required by SLSA v1 ("the parameters that are under external control"); an empty object is
    # allowed, a missing one is not: without it nothing says what the build was asked to do.
    if definition.get("externalParameters") is None:
        raise r.fail("predicate.buildDefinition.externalParameters", "is required by SLSA provenance v1")
    external = r.obj(definition.get("externalParameters"), "predicate.buildDefinition.externalParameters")
    internal = r.opt_obj(definition.get("internalParameters"), "predicate.buildDefinition.internalParameters")
    materials = tuple(r.resource(m, f"predicate.buildDefinition.resolvedDependencies[{i}]", is_subject=False)
                      for i, m in enumerate(r.array(definition.get("resolvedDependencies"),
                                                    "predicate.buildDefinition.resolvedDependencies", r.limits.max_materials)))
    run = r.obj(pred.get("runDetails"), "predicate.runDetails")
    builder = r.obj(run.get("builder"), "predicate.runDetails.builder")
    builder_id = r.string(builder.get("id"), "predicate.runDetails.builder.id")
    metadata = r.opt_obj(run.get("metadata"), "predicate.runDetails.metadata") or {}
    r.array(run.get("byproducts"), "predicate.runDetails.byproducts", r.limits.max_materials)

    parameters = r.text_map(external, "predicate.buildDefinition.externalParameters")
    internal_parameters = r.text_map(internal, "predicate.buildDefinition.internalParameters", scalars_only=True)
    config_uri: str | None = None
    config_digests: tuple[tuple[str, str], ...] = ()
    entry_point = None
    build_args: dict[str, str] = {}
    options: dict[str, str] = {}
    platform = None
    complete = materials_complete = None
    vcs = _Vcs(None, None)
    github = None
    if build_type == BUILDKIT_V1_BUILD_TYPE:
        where = "predicate.buildDefinition.externalParameters"
        config = r.opt_obj(external.get("configSource"), f"{where}.configSource") or {}
        config_uri = r.opt_string(config.get("uri"), f"{where}.configSource.uri") or None
        config_digests = r.digest_set(config.get("digest"), f"{where}.configSource.digest", required=False)
        entry_point = r.opt_string(config.get("path"), f"{where}.configSource.path") or None
        request = r.opt_obj(external.get("request"), f"{where}.request") or {}
        build_args, options = _split_frontend_args(r.string_map(request.get("args"), f"{where}.request.args"))
        platform = r.opt_string((internal or {}).get("builderPlatform"), "predicate.buildDefinition.internalParameters.builderPlatform")
        completeness = r.opt_obj(metadata.get("buildkit_completeness"), "predicate.runDetails.metadata.buildkit_completeness") or {}
        complete = r.opt_bool(completeness.get("request"), "predicate.runDetails.metadata.buildkit_completeness.request")
        materials_complete = r.opt_bool(completeness.get("resolvedDependencies"),
                                        "predicate.runDetails.metadata.buildkit_completeness.resolvedDependencies")
        vcs = _buildkit_vcs(r, metadata.get("buildkit_metadata"), "predicate.runDetails.metadata.buildkit_metadata")
    elif build_type in GITHUB_WORKFLOW_BUILD_TYPES:
        config_uri, entry_point, github = _github_workflow_v1(r, external, internal)
    elif internal:
        github = _github_from_env(r, internal, "predicate.buildDefinition.internalParameters")  # BYOB: GITHUB_* members
    if not build_args and isinstance(external.get("buildArgs"), dict):
        # Other builders (buildah wrappers, custom ones) commonly record build arguments as
        # externalParameters.buildArgs, a map of strings.
        build_args = r.string_map(external["buildArgs"], "predicate.buildDefinition.externalParameters.buildArgs")
    source_uri, source_commit = _pick_source(config_uri, config_digests, materials, vcs)
    if github is not None and build_type in GITHUB_WORKFLOW_BUILD_TYPES and source_commit:
        github = replace(github, sha=source_commit)  # this build type records the commit only as the dependency's digest
    return Provenance(
        statement_type=statement_type, predicate_type=SLSA_PROVENANCE_V1, build_type=build_type, builder_id=builder_id,
        subjects=subjects, materials=materials, config_uri=config_uri, config_digests=config_digests,
        entry_point=entry_point, source_uri=source_uri, source_ref=split_git_uri(source_uri)[1] if source_uri else None,
        source_commit=source_commit, base_images=_base_images(r, materials),
        build_args=tuple(sorted(build_args.items())), frontend_options=tuple(sorted(options.items())),
        parameters=parameters, internal_parameters=internal_parameters, environment=(),
        parameters_complete=complete, materials_complete=materials_complete,
        source_date_epoch=build_args.get("SOURCE_DATE_EPOCH", dict(internal_parameters).get("SOURCE_DATE_EPOCH")),
        github=github,
        invocation_id=r.either(metadata, ("invocationId", "invocationID"), "predicate.runDetails.metadata"),
        started_on=r.opt_string(metadata.get("startedOn"), "predicate.runDetails.metadata.startedOn"),
        finished_on=r.opt_string(metadata.get("finishedOn"), "predicate.runDetails.metadata.finishedOn"),
        reproducible=None, platform=platform,
    )


def _split_frontend_args(args: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """BuildKit's frontend args: `build-arg:NAME` are the Dockerfile's ARGs; the rest (`target`,
    `platform`, `label:…`, `context:…`, `source`) are options of the frontend."""
    build_args = {k[len("build-arg:"):]: v for k, v in args.items() if k.startswith("build-arg:")}
    options = {k: v for k, v in args.items() if not k.startswith("build-arg:")}
    return build_args, options


def _pick_source(config_uri: str | None, config_digests: tuple[tuple[str, str], ...], materials: tuple[Resource, ...],
                 vcs: _Vcs) -> tuple[str | None, str | None]:
    """(source URI, commit). The material the build's config came from, when it is listed (the
    GitHub generators list it first; BuildKit lists a git context among its base images); else the
    first material that names a git commit; else the config source itself; else BuildKit's vcs
    metadata. A guess by position (`materials[0]`) would take BuildKit's first base image."""
    config_commit = Resource(config_uri, None, config_digests).commit
    if config_uri is not None:
        for m in materials:
            if m.uri == config_uri:
                return m.uri, m.commit or config_commit
    for m in materials:
        if m.uri is not None and m.commit is not None:
            return m.uri, m.commit
    if config_uri is not None:
        return config_uri, config_commit
    if vcs.source is not None:
        return vcs.source, vcs.revision
    return None, None


def _base_images(r: _Reader, materials: tuple[Resource, ...]) -> tuple[BaseImage, ...]:
    out = []
    for i, m in enumerate(materials):
        if m.uri is None or not (m.uri.startswith("pkg:docker/") or m.uri.startswith("pkg:oci/")):
            continue
        out.append(_parse_image_purl(r, m, f"materials[{i}].uri"))
    return tuple(out)


def _parse_image_purl(r: _Reader, m: Resource, where: str) -> BaseImage:
    """A package-url for a container image: `pkg:docker/namespace/name@version?qualifiers`. For
    `pkg:oci/` the version is the digest and the repository is the `repository_url` qualifier."""
    assert m.uri is not None
    kind, _, rest = m.uri[len("pkg:"):].partition("/")
    rest = rest.partition("#")[0]
    path, _, query = rest.partition("?")
    qualifiers: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        qualifiers[key.lower()] = unquote(value)
    raw_name, at, raw_version = path.rpartition("@")
    if not at:
        raw_name, raw_version = path, ""
    name, version = unquote(raw_name), unquote(raw_version) or None
    if not name:
        raise r.fail(where, f"{m.uri[:200]!r} names no image")
    recorded = m.digest("sha256")
    digest = f"sha256:{recorded}" if recorded else qualifiers.get("digest")
    if kind == "oci":
        if version is not None and version.startswith("sha256:"):
            digest, version = digest or version, None
        name = qualifiers.get("repository_url", name)
    return BaseImage(m.uri, name, version, qualifiers.get("platform"), digest)


# GitHub Actions context members, as slsa-github-generator writes them (lower case, `github_`
# prefix); npm and BYOB write the same names in upper case. (member, field) pairs.
_GITHUB_ENV = (("event_name", "event_name"), ("ref", "ref"), ("ref_type", "ref_type"), ("base_ref", "base_ref"),
               ("repository", "repository"), ("repository_id", "repository_id"),
               ("repository_owner_id", "repository_owner_id"), ("run_id", "run_id"), ("run_attempt", "run_attempt"),
               ("actor", "actor"), ("workflow_ref", "workflow"))


def _github_from_env(r: _Reader, env: dict[str, Any] | None, where: str) -> GitHubContext | None:
    """The GitHub context of a v0.2 environment or a v1 BYOB internalParameters, or None when it
    has none. Lower-case members win when a producer wrote both spellings."""
    if not env:
        return None
    upper = not any(k.startswith("github_") for k in env)
    if upper and not any(k.startswith("GITHUB_") for k in env):
        return None

    def member(name: str) -> str | None:
        key = f"GITHUB_{name.upper()}" if upper else f"github_{name}"
        return r.opt_string(env.get(key), f"{where}.{key}")

    values = {field: member(name) for name, field in _GITHUB_ENV}
    sha = member("sha1") if not upper else None  # slsa-github-generator names the commit github_sha1
    sha = sha or member("sha")
    payload_key = "GITHUB_EVENT_PAYLOAD" if upper else "github_event_payload"
    payload = r.opt_obj(env.get(payload_key), f"{where}.{payload_key}") or {}
    pwhere = f"{where}.{payload_key}"
    inputs = None
    if payload.get("inputs") is not None:
        inputs = r.text_map(payload.get("inputs"), f"{pwhere}.inputs")
    event_base_ref = payload.get("base_ref") if isinstance(payload.get("base_ref"), str) else None
    release = r.opt_obj(payload.get("release"), f"{pwhere}.release") or {}
    release_target = r.opt_string(release.get("target_commitish"), f"{pwhere}.release.target_commitish")
    repository = values["repository"]
    if repository is None:
        repo_doc = r.opt_obj(payload.get("repository"), f"{pwhere}.repository") or {}
        repository = r.opt_string(repo_doc.get("full_name"), f"{pwhere}.repository.full_name")
    workflow = values["workflow"]
    if workflow is None and isinstance(payload.get("workflow"), str):
        workflow = r.string(payload["workflow"], f"{pwhere}.workflow")
    return GitHubContext(
        event_name=values["event_name"], ref=values["ref"], ref_type=values["ref_type"],
        base_ref=values["base_ref"] or None, event_base_ref=event_base_ref, release_target=release_target, sha=sha,
        repository=repository, repository_id=values["repository_id"], repository_owner_id=values["repository_owner_id"],
        run_id=values["run_id"], run_attempt=values["run_attempt"], workflow=workflow, actor=values["actor"],
        inputs=inputs)


def _github_workflow_v1(r: _Reader, external: dict[str, Any],
                        internal: dict[str, Any] | None) -> tuple[str, str, GitHubContext]:
    """(config URI, workflow path, context) of GitHub's workflow build type: the workflow that ran
    (`externalParameters.workflow`: repository URL, ref, path) and `internalParameters.github`."""
    where = "predicate.buildDefinition.externalParameters"
    workflow = r.obj(external.get("workflow"), f"{where}.workflow")
    repository = r.string(workflow.get("repository"), f"{where}.workflow.repository")
    ref = r.string(workflow.get("ref"), f"{where}.workflow.ref")
    path = r.string(workflow.get("path"), f"{where}.workflow.path")
    inputs = r.text_map(external.get("inputs"), f"{where}.inputs") if external.get("inputs") is not None else None
    gh = r.opt_obj((internal or {}).get("github"), "predicate.buildDefinition.internalParameters.github") or {}
    gwhere = "predicate.buildDefinition.internalParameters.github"
    owner_repo = repository.removeprefix("https://github.com/") if repository.startswith("https://github.com/") else repository
    context = GitHubContext(
        event_name=r.opt_string(gh.get("event_name"), f"{gwhere}.event_name"), ref=ref, ref_type=None,
        base_ref=None, event_base_ref=None, release_target=None, sha=None, repository=owner_repo,
        repository_id=r.opt_string(gh.get("repository_id"), f"{gwhere}.repository_id"),
        repository_owner_id=r.opt_string(gh.get("repository_owner_id"), f"{gwhere}.repository_owner_id"),
        run_id=None, run_attempt=None, workflow=path, actor=None, inputs=inputs)
    return f"git+{repository}@{ref}", path, context
