"""A documented subset of containers-policy.json (docs/commands/verify.md): `reject`,
`insecureAcceptAnything`, `signedBy` (GPGKeys) and `sigstoreSigned` (public keys), with the
signedIdentity kinds. Unknown fields or types are errors, never ignored."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..untrusted.sigpayload import normalise_docker_reference, repository_of
from ..userfiles import KEY_MAX_BYTES, POLICY_MAX_BYTES, read_user_file
from .keys import Keyring, PublicKey, load_keyring, load_public_key
from .report import SignatureResult, Status
from .keyless import IdentityPolicy, Keyless, TrustRoot, trust_root_from_pem
from .signatures import Candidate, check_candidate

__all__ = ["Requirement", "Policy", "load_policy", "evaluate"]

_IDENTITY_TYPES = {"matchExact", "matchRepoDigestOrExact", "matchRepository", "exactReference", "exactRepository", "remapIdentity"}


@dataclass(frozen=True)
class Requirement:
    type: str
    keys: tuple[PublicKey, ...] = ()
    keyrings: tuple[Keyring, ...] = ()
    identity: dict[str, Any] | None = None
    keyless: TrustRoot | None = None  # sigstoreSigned with fulcio: the CA and Rekor key it names
    certificate: IdentityPolicy = IdentityPolicy()  # ... and the subject e-mail and OIDC issuer


@dataclass(frozen=True)
class Policy:
    path: Path
    requirements: tuple[Requirement, ...]
    scope: str


def _paths(req: dict[str, Any], where: str, single: str, many: str) -> list[str]:
    if single in req and many in req:
        raise UsageError(f"{where}: give {single} or {many}, not both")
    if single in req:
        if not isinstance(req[single], str):
            raise UsageError(f"{where}.{single}: must be a string")
        return [req[single]]
    if many in req:
        if not isinstance(req[many], list) or not all(isinstance(p, str) for p in req[many]):
            raise UsageError(f"{where}.{many}: must be a list of strings")
        return list(req[many])
    return []


def _identity(req: dict[str, Any], where: str) -> dict[str, Any] | None:
    ident = req.get("signedIdentity")
    if ident is None:
        return None
    if not isinstance(ident, dict) or ident.get("type") not in _IDENTITY_TYPES:
        raise UsageError(f"{where}.signedIdentity.type: must be one of {', '.join(sorted(_IDENTITY_TYPES))}")
    return ident


def _requirement(req: Any, where: str, base: Path) -> Requirement:
    if not isinstance(req, dict) or not isinstance(req.get("type"), str):
        raise UsageError(f"{where}: each requirement needs a 'type'")
    kind = req["type"]
    if kind in ("reject", "insecureAcceptAnything"):
        extra = set(req) - {"type"}
        if extra:
            raise UsageError(f"{where}: unknown field {sorted(extra)[0]!r} for {kind}")
        return Requirement(kind)
    if kind == "signedBy":
        allowed = {"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"}
        extra = set(req) - allowed
        if extra:
            raise UsageError(f"{where}: unknown field {sorted(extra)[0]!r} for signedBy")
        if req.get("keyType") != "GPGKeys":
            raise UsageError(f"{where}.keyType: only 'GPGKeys' is supported")
        rings = [load_keyring(_resolve(base, p)) for p in _paths(req, where, "keyPath", "keyPaths")]
        if "keyData" in req:
            rings.append(Keyring("keyData", _b64(req["keyData"], f"{where}.keyData")))
        if not rings:
            raise UsageError(f"{where}: signedBy needs keyPath, keyPaths or keyData")
        return Requirement(kind, keyrings=tuple(rings), identity=_identity(req, where))
    if kind == "sigstoreSigned" and "fulcio" in req:
        return _fulcio_requirement(req, where, base)
    if kind == "sigstoreSigned":
        allowed = {"type", "keyPath", "keyPaths", "keyData", "keyDatas", "signedIdentity"}
        extra = set(req) - allowed
        if extra:
            raise UsageError(f"{where}: unsupported field {sorted(extra)[0]!r} for sigstoreSigned (only public keys are supported)")
        keys = [load_public_key(_resolve(base, p)) for p in _paths(req, where, "keyPath", "keyPaths")]
        datas = _paths(req, where, "keyData", "keyDatas")
        for i, data in enumerate(datas):
            tmp = Path(os.devnull)
            pem = _b64(data, f"{where}.keyData")
            keys.append(_key_from_pem(pem, f"{where}.keyData[{i}]", tmp))
        if not keys:
            raise UsageError(f"{where}: sigstoreSigned needs keyPath(s) or keyData(s)")
        return Requirement(kind, keys=tuple(keys), identity=_identity(req, where))
    raise UsageError(f"{where}.type: {kind!r} is not supported (reject, insecureAcceptAnything, signedBy, sigstoreSigned)")


def _fulcio_requirement(req: dict[str, Any], where: str, base: Path) -> Requirement:
    """sigstoreSigned with `fulcio` (caPath/caData, oidcIssuer, subjectEmail) and the Rekor key
    (rekorPublicKeyPath/Data): a keyless signature chaining to that CA, logged in that Rekor."""
    extra = set(req) - {"type", "fulcio", "rekorPublicKeyPath", "rekorPublicKeyData", "signedIdentity"}
    if extra:
        raise UsageError(f"{where}: unsupported field {sorted(extra)[0]!r} for sigstoreSigned with fulcio")
    fulcio = req["fulcio"]
    if not isinstance(fulcio, dict) or set(fulcio) - {"caPath", "caData", "oidcIssuer", "subjectEmail"}:
        raise UsageError(f"{where}.fulcio: fields are caPath or caData, oidcIssuer, subjectEmail")
    for name in ("oidcIssuer", "subjectEmail"):
        if not isinstance(fulcio.get(name), str) or not fulcio[name]:
            raise UsageError(f"{where}.fulcio.{name}: required, a non-empty string")
    if ("caPath" in fulcio) == ("caData" in fulcio):
        raise UsageError(f"{where}.fulcio: give caPath or caData")
    if ("rekorPublicKeyPath" in req) == ("rekorPublicKeyData" in req):
        raise UsageError(f"{where}: sigstoreSigned with fulcio needs rekorPublicKeyPath or rekorPublicKeyData")
    if "caPath" in fulcio:
        ca = read_user_file(_resolve(base, str(fulcio["caPath"])), f"{where}.fulcio.caPath", KEY_MAX_BYTES)
    else:
        ca = _b64(fulcio["caData"], f"{where}.fulcio.caData")
    if "rekorPublicKeyPath" in req:
        rekor = read_user_file(_resolve(base, str(req["rekorPublicKeyPath"])), f"{where}.rekorPublicKeyPath", KEY_MAX_BYTES)
    else:
        rekor = _b64(req["rekorPublicKeyData"], f"{where}.rekorPublicKeyData")
    root = trust_root_from_pem(ca, rekor, f"{where}")
    return Requirement("sigstoreSigned", identity=_identity(req, where), keyless=root,
                       certificate=IdentityPolicy(identity=fulcio["subjectEmail"], issuer=fulcio["oidcIssuer"]))


def _key_from_pem(pem: bytes, where: str, _: Path) -> PublicKey:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pem") as fp:
        fp.write(pem)
        fp.flush()
        try:
            key = load_public_key(Path(fp.name))
        except UsageError as err:
            raise UsageError(f"{where}: {err.message.split(': ', 1)[-1]}") from None
    return PublicKey(where, key.key, key.spki_sha256)


def _b64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise UsageError(f"{where}: must be base64") from None


def _resolve(base: Path, p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else base / path


def _path_scopes(image_path: str) -> list[str]:
    candidates = [os.path.abspath(image_path)]
    parent = os.path.dirname(candidates[0])
    while parent and parent != candidates[-1]:
        candidates.append(parent)
        parent = os.path.dirname(parent)
    return candidates


def _docker_scopes(reference: str) -> list[str]:
    """containers-policy.json docker scopes, most specific first: host/repo:tag (or @digest),
    host/repo, each parent namespace, host."""
    name = reference.split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    out = [reference] if reference != name else []
    parts = name.split("/")
    out += ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return out


def load_policy(path: Path, transport: str, image_path: str) -> Policy:
    """The requirement list that applies to the image: the most specific scope of its
    transport (the image path, then its parents), else the transport's "", else `default`."""
    data = read_user_file(path, "--policy file", POLICY_MAX_BYTES)
    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise UsageError(f"--policy {path}: invalid JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"--policy {path}: invalid JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("default"), list):
        raise UsageError(f"--policy {path}: needs a 'default' list of requirements")
    transports = doc.get("transports") or {}
    if not isinstance(transports, dict):
        raise UsageError(f"--policy {path}: 'transports' must be an object")
    scopes = transports.get(transport) or {}
    if not isinstance(scopes, dict):
        raise UsageError(f"--policy {path}: transports.{transport} must be an object")
    chosen, scope = doc["default"], "default"
    candidates = _docker_scopes(image_path) if transport == "docker" else _path_scopes(image_path)
    for cand in candidates + [""]:
        if cand in scopes:
            chosen, scope = scopes[cand], f"transports.{transport}[{cand!r}]"
            break
    if not isinstance(chosen, list) or not chosen:
        raise UsageError(f"--policy {path}: {scope} must be a non-empty list of requirements")
    reqs = tuple(_requirement(r, f"--policy {path}: {scope}[{i}]", path.parent) for i, r in enumerate(chosen))
    return Policy(path, reqs, scope)


def _identity_ok(ident: dict[str, Any] | None, signed: str | None, image_ref: str | None) -> tuple[bool, str]:
    """containers-policy signedIdentity rules. `image_ref` is --identity: oci/dir images have no
    docker reference of their own, so the matchX kinds need it."""
    if signed is None:
        return False, "the signature names no identity"
    signed_n = normalise_docker_reference(signed)
    kind = (ident or {"type": "matchRepoDigestOrExact"})["type"]
    if kind == "exactReference":
        want = normalise_docker_reference(str(ident.get("dockerReference", "")))  # type: ignore[union-attr]
        return signed_n == want, f"signed {signed!r}, policy wants exactly {want!r}"
    if kind == "exactRepository":
        want = repository_of(str(ident.get("dockerRepository", "")))  # type: ignore[union-attr]
        return repository_of(signed_n) == want, f"signed {signed!r}, policy wants repository {want!r}"
    if image_ref is None:
        return False, f"signedIdentity {kind} needs the image's reference: give --identity REF"
    ref_n = normalise_docker_reference(image_ref)
    if kind == "remapIdentity":
        prefix, signed_prefix = str(ident.get("prefix", "")), str(ident.get("signedPrefix", ""))  # type: ignore[union-attr]
        if ref_n.startswith(prefix):
            ref_n = signed_prefix + ref_n[len(prefix):]
        kind = "matchRepoDigestOrExact"
    if kind == "matchExact":
        return signed_n == ref_n, f"signed {signed!r}, image is {ref_n!r}"
    if kind == "matchRepository":
        return repository_of(signed_n) == repository_of(ref_n), f"signed {signed!r}, image repository is {repository_of(ref_n)!r}"
    # matchRepoDigestOrExact: a digest reference matches by repository, a tag exactly.
    if "@" in ref_n:
        return repository_of(signed_n) == repository_of(ref_n), f"signed {signed!r}, image repository is {repository_of(ref_n)!r}"
    return signed_n == ref_n, f"signed {signed!r}, image is {ref_n!r}"


def evaluate(policy: Policy, candidates: list[Candidate], digests: list[str], image_ref: str | None) -> list[SignatureResult]:
    """One result per requirement of the chosen scope; all must pass (containers-policy.json)."""
    out = []
    for i, req in enumerate(policy.requirements):
        source = f"{policy.path.name} {policy.scope}[{i}] {req.type}"
        if req.type == "insecureAcceptAnything":
            out.append(SignatureResult("policy", source, Status.PASS, "accepts anything"))
            continue
        if req.type == "reject":
            out.append(SignatureResult("policy", source, Status.FAIL, "the policy rejects this image", "untrusted-key"))
            continue
        want_kind = "simple-signing" if req.type == "signedBy" else "cosign"
        keyless = Keyless.with_root(req.keyless, req.certificate) if req.keyless is not None else None
        checked = [check_candidate(c, digests, list(req.keys), list(req.keyrings), None, keyless)
                   for c in candidates if c.kind == want_kind]
        valid = [r for r in checked if r.status is Status.PASS]
        reasons = []
        passed = None
        for r in valid:
            ok, why = _identity_ok(req.identity, r.identity, image_ref)
            if ok:
                passed = r
                break
            reasons.append(why)
        if passed is not None:
            out.append(SignatureResult("policy", source, Status.PASS, f"satisfied by {passed.source}", None,
                                       passed.signer, passed.identity, passed.digest))
        elif reasons:
            out.append(SignatureResult("policy", source, Status.FAIL, "; ".join(reasons), "identity-mismatch"))
        else:
            errors = sorted({r.error for r in checked if r.error})
            out.append(SignatureResult("policy", source, Status.FAIL,
                                       f"no valid {want_kind} signature by the policy's keys"
                                       + (f" (found: {', '.join(errors)})" if errors else ""),
                                       "no-signature" if not checked else (errors[0] if errors else "bad-signature")))
    return out
