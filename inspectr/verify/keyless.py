"""Keyless (Fulcio certificate + Rekor log) verification, offline, against a trusted root.

Two forms reach here:
- Sigstore bundles (v0.1-0.3), checked by the `sigstore` package, the project's own client;
- cosign's legacy form, where the certificate, chain and a Rekor signed entry timestamp (SET)
  ride in `.sig`/`.att` layer annotations. sigstore 4.x reads neither that form (it insists on
  an inclusion proof) nor `intoto` entries, so this module checks them with `cryptography`:
  chain at the log's time, embedded SCT, SET, the entry against the signature, then the
  signature itself. Each failure has its own class, so a user can tell what was wrong.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import UsageError
from ..untrusted.bundle import Envelope, pae
from ..untrusted.fulcio import Claims, read_claims
from ..untrusted.rekor import EntryBody, SignedEntry, canonical_set_payload, parse_cosign_bundle, parse_entry_body
from ..untrusted.sigpayload import PayloadError
from ..untrusted.trustroot import LogKey, parse_trusted_root
from ..userfiles import KEY_MAX_BYTES, read_user_file

__all__ = ["IdentityPolicy", "TrustRoot", "KeylessOutcome", "Keyless", "load_trust_root", "default_trusted_root_path", "trust_root_from_pem",
           "verify_cosign_keyless", "verify_bundle", "CERT_ANNOTATION", "CHAIN_ANNOTATION", "BUNDLE_ANNOTATION"]

CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


@dataclass(frozen=True)
class IdentityPolicy:
    """Who must have signed, in cosign's terms. Regular expressions search, as cosign's do:
    anchor them (^…$) to match whole values."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    github_repository: str | None = None
    github_ref: str | None = None
    github_sha: str | None = None
    github_trigger: str | None = None
    github_workflow: str | None = None

    def __post_init__(self) -> None:
        for name in ("identity_regexp", "issuer_regexp"):
            value = getattr(self, name)
            if value is not None:
                try:
                    re.compile(value)
                except re.error as err:
                    raise UsageError(f"--certificate-{name.replace('_', '-')} {value!r}: not a regular expression: {err}") from None

    @property
    def given(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def mismatch(self, claims: Claims) -> str | None:
        """Why the certificate's claims fail the policy, or None when they pass."""
        checks: list[tuple[str, str | None, Callable[[str], bool]]] = []
        if self.identity is not None:
            checks.append(("identity", claims.san, lambda v: v == self.identity))
        if self.identity_regexp is not None:
            checks.append(("identity", claims.san, lambda v: re.search(self.identity_regexp or "", v) is not None))
        if self.issuer is not None:
            checks.append(("OIDC issuer", claims.issuer, lambda v: v == self.issuer))
        if self.issuer_regexp is not None:
            checks.append(("OIDC issuer", claims.issuer, lambda v: re.search(self.issuer_regexp or "", v) is not None))
        for name in ("github_repository", "github_ref", "github_sha", "github_trigger", "github_workflow"):
            wanted = getattr(self, name)
            if wanted is not None:
                checks.append((name.replace("_", " "), claims.get(name), wanted.__eq__))
        for what, value, ok in checks:
            if value is None or not ok(value):
                return f"certificate {what} {value!r} does not match the policy ({self.describe()})"
        return None

    def describe(self) -> str:
        return ", ".join(f"{f.name.replace('_', '-')} {getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) is not None)


@dataclass(frozen=True)
class _Authority:
    certs: tuple[x509.Certificate, ...]
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class TrustRoot:
    """The keys and CAs that keyless signatures are checked against, loaded once per command."""

    path: Path
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]
    authorities: tuple[_Authority, ...]

    def anchors(self, t: datetime) -> list[x509.Certificate]:
        return [c for a in self.authorities if _within(t, a.start, a.end) for c in a.certs]


def _within(t: datetime, start: datetime, end: datetime | None) -> bool:
    return start <= t and (end is None or t <= end)


def default_trusted_root_path() -> Path:
    """Public-good Sigstore's trusted root as the installed `sigstore` package ships it. Loaded
    from that file, never refreshed over the network unless asked."""
    base = importlib.resources.files("sigstore") / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"
    return Path(str(base))


def load_trust_root(path: Path | None = None) -> TrustRoot:
    path = path or default_trusted_root_path()
    data = read_user_file(path, "trusted root", KEY_MAX_BYTES)
    try:
        parsed = parse_trusted_root(data)
        authorities = tuple(_Authority(tuple(x509.load_der_x509_certificate(d) for d in a.chain_der), a.start, a.end)
                            for a in parsed.authorities)
    except (PayloadError, ValueError) as err:
        raise UsageError(f"{path}: not a usable trusted root: {err}") from None
    return TrustRoot(path, parsed.tlogs, parsed.ctlogs, authorities)


def trust_root_from_pem(ca_pem: bytes, rekor_pem: bytes, where: str) -> TrustRoot:
    """A trust root from a CA bundle and a Rekor public key, as containers-policy.json's
    `fulcio` requirement gives them. It names no CT log, so no SCT is required (as in
    containers/image); the CA and key are trusted at any time."""
    try:
        certs = tuple(x509.load_pem_x509_certificates(ca_pem))
        key = serialization.load_pem_public_key(rekor_pem)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise UsageError(f"{where}: not a PEM CA certificate and Rekor public key: {str(err).splitlines()[0]}") from None
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    start = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return TrustRoot(Path(where), (LogKey(hashlib.sha256(spki).digest(), spki, start, None),), (), (_Authority(certs, start, None),))


class Keyless:
    """The keyless trust inputs of one verification. The trusted root is read on first use, so
    an image with no keyless signature never touches it."""

    def __init__(self, policy: IdentityPolicy = IdentityPolicy(), trusted_root: Path | None = None) -> None:
        self.policy = policy
        self.trusted_root = trusted_root
        self._root: TrustRoot | None = None

    @classmethod
    def with_root(cls, root: TrustRoot, policy: IdentityPolicy) -> "Keyless":
        made = cls(policy, root.path)
        made._root = root
        return made

    def root(self) -> TrustRoot:
        if self._root is None:
            self._root = load_trust_root(self.trusted_root)
        return self._root

    def cosign(self, annotations: dict[str, str], *, payload: bytes = b"", signature: bytes | None = None,
               envelope: Envelope | None = None, envelope_raw: bytes | None = None) -> KeylessOutcome:
        return verify_cosign_keyless(self.root(), self.policy, cert_pem=annotations[CERT_ANNOTATION],
                                     chain_pem=annotations.get(CHAIN_ANNOTATION), bundle_annotation=annotations.get(BUNDLE_ANNOTATION),
                                     payload=payload, signature=signature, envelope=envelope, envelope_raw=envelope_raw)

    def bundle(self, data: bytes, artifact_sha256: bytes | None = None) -> KeylessOutcome:
        return verify_bundle(self.root(), self.policy, data, artifact_sha256=artifact_sha256)


@dataclass(frozen=True)
class KeylessOutcome:
    """error is None when every check passed (identity included, when a policy was given)."""

    error: str | None
    message: str
    claims: Claims | None = None
    signed_at: datetime | None = None
    payload: bytes = b""  # what was signed: the cosign payload, or the DSSE envelope's payload
    payload_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def san(self) -> str | None:
        return self.claims.san if self.claims is not None else None

    @property
    def signer(self) -> str | None:
        if self.claims is None:
            return None
        return f"{self.claims.san} (issuer {self.claims.issuer})" if self.claims.issuer else self.claims.san


class _Fail(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error, self.message = error, message


def _load_key(spki_der: bytes) -> Any:
    try:
        return serialization.load_der_public_key(spki_der)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _verify_with(key: Any, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            alg = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
            key.verify(signature, data, ec.ECDSA(alg))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
        return True
    except (InvalidSignature, ValueError):
        return False


def _log_key(keys: tuple[LogKey, ...], key_id: bytes) -> LogKey | None:
    return next((k for k in keys if k.key_id == key_id), None)


def _check_set(root: TrustRoot, entry: SignedEntry) -> datetime:
    key = _log_key(root.tlogs, bytes.fromhex(entry.log_id))
    if key is None:
        raise _Fail("bad-log-entry", f"log {entry.log_id[:16]}… is not in the trusted root {root.path}")
    t = _EPOCH + timedelta(seconds=entry.integrated_time)
    if not _within(t, key.start, key.end):
        raise _Fail("bad-log-entry", f"log key {entry.log_id[:16]}… was not valid at the entry's time {t:%Y-%m-%dT%H:%M:%SZ}")
    if not _verify_with(_load_key(key.spki_der), entry.set_signature, canonical_set_payload(entry)):
        raise _Fail("bad-log-entry", "the log's signed entry timestamp does not verify over this entry")
    return t


def _untrusted_chain(root: TrustRoot, leaf: x509.Certificate, chain: list[x509.Certificate], t: datetime) -> x509.Certificate:
    """The leaf's issuing CA. A certificate from a CA the trusted root does not hold is
    untrusted-root; one its CA's key did not sign (altered bytes) is bad-certificate. The chain
    the signature carries may supply intermediates up to a trusted root (containers-policy's
    fulcio caPath often holds only the root); they are untrusted until the path verifies."""
    anchors = root.anchors(t)
    trusted_der = {c.public_bytes(serialization.Encoding.DER) for a in root.authorities for c in a.certs}
    if chain and chain[-1].public_bytes(serialization.Encoding.DER) not in trusted_der:
        raise _Fail("untrusted-root", f"certificate chain ends at {chain[-1].subject.rfc4514_string()!r}, "
                                      f"which is not a certificate authority of the trusted root")
    intermediates = [c for c in chain if c.public_bytes(serialization.Encoding.DER) not in trusted_der]
    issuers = _issuers(anchors, leaf) or [c for c in _issuers(intermediates, leaf) if _issuers(anchors, c)]
    if not issuers:
        raise _Fail("untrusted-root", f"certificate issuer {leaf.issuer.rfc4514_string()!r} is not a certificate authority "
                                      f"of the trusted root valid at {t:%Y-%m-%dT%H:%M:%SZ}")
    if not (leaf.not_valid_before_utc <= t <= leaf.not_valid_after_utc):
        raise _Fail("certificate-expired", f"certificate valid {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
                                           f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, signed at {t:%Y-%m-%dT%H:%M:%SZ}")
    for issuer in issuers:
        try:
            leaf.verify_directly_issued_by(issuer)
            break
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
    else:
        raise _Fail("bad-certificate", "certificate is not signed by its issuing CA: it was altered or forged")
    _check_path(anchors, leaf, t, intermediates)
    return issuer


def _key_id(cert: x509.Certificate, ext: type[x509.AuthorityKeyIdentifier] | type[x509.SubjectKeyIdentifier]) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(ext).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    return value.key_identifier if isinstance(value, x509.AuthorityKeyIdentifier) else value.digest


def _issuers(anchors: list[x509.Certificate], leaf: x509.Certificate) -> list[x509.Certificate]:
    """The trusted CAs that may have issued `leaf`: same name and, where both say, the same key
    (a look-alike CA copies the name, not the key)."""
    wanted = _key_id(leaf, x509.AuthorityKeyIdentifier)
    return [c for c in anchors if c.subject == leaf.issuer
            and (wanted is None or _key_id(c, x509.SubjectKeyIdentifier) in (None, wanted))]


def _check_path(anchors: list[x509.Certificate], leaf: x509.Certificate, t: datetime, intermediates: list[x509.Certificate]) -> None:
    """The whole path under cryptography's verifier (validity, constraints, key usage of every
    CA), with code-signing allowed as Fulcio issues it."""
    from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    try:
        verifier = PolicyBuilder().store(Store(anchors)).time(t).extension_policies(
            ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier()
        verifier.verify(leaf, intermediates)
    except (VerificationError, ValueError, x509.UnsupportedGeneralNameType) as err:
        raise _Fail("bad-certificate", f"certificate path does not verify: {err}") from None
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise _Fail("bad-certificate", "certificate lacks key usage or extended key usage") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku or not usage.digital_signature:
        raise _Fail("bad-certificate", "certificate is not for code signing")


def _check_sct(root: TrustRoot, leaf: x509.Certificate, issuer: x509.Certificate) -> None:
    """RFC 6962 §3.2: a CT log signed the precertificate (the TBS without the SCT list) with the
    issuer's key hash. One valid SCT from a trusted log suffices. A root that names no CT log
    (containers-policy.json's fulcio form) requires none."""
    if not root.ctlogs:
        return
    try:
        scts = leaf.extensions.get_extension_for_oid(_SCT_OID).value
    except x509.ExtensionNotFound:
        raise _Fail("bad-sct", "certificate carries no signed certificate timestamp") from None
    if not isinstance(scts, x509.PrecertificateSignedCertificateTimestamps):
        raise _Fail("bad-sct", "certificate's SCT list cannot be read")
    tbs = leaf.tbs_precertificate_bytes
    key_hash = hashlib.sha256(issuer.public_key().public_bytes(serialization.Encoding.DER,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    for sct in scts:
        log = _log_key(root.ctlogs, sct.log_id)
        if log is None:
            continue
        ts = sct.timestamp if sct.timestamp.tzinfo else sct.timestamp.replace(tzinfo=timezone.utc)
        ms = (ts - _EPOCH) // timedelta(milliseconds=1)
        signed = (bytes([0, 0]) + ms.to_bytes(8, "big") + (1).to_bytes(2, "big") + key_hash + len(tbs).to_bytes(3, "big") + tbs
                  + len(sct.extension_bytes).to_bytes(2, "big") + sct.extension_bytes)
        if _verify_with(_load_key(log.spki_der), sct.signature, signed):
            return
    raise _Fail("bad-sct", "no signed certificate timestamp verifies with a CT log of the trusted root")


def _same_cert(pem_or_der: bytes, leaf: x509.Certificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(pem_or_der) if b"-----BEGIN" in pem_or_der else x509.load_der_x509_certificate(pem_or_der)
    except ValueError:
        return False
    return cert == leaf


def _check_body(body: EntryBody, leaf: x509.Certificate, signatures: list[bytes], payload: bytes, envelope_raw: bytes | None) -> None:
    """The log entry must be about this very signature (CVE-2022-36056's lesson)."""
    if not any(_same_cert(c, leaf) for c in body.certificates):
        raise _Fail("log-entry-mismatch", "the log entry names another certificate")
    if body.kind == "hashedrekord":
        if envelope_raw is not None:
            raise _Fail("log-entry-mismatch", "a DSSE attestation is logged as hashedrekord")
        if body.data_sha256 != hashlib.sha256(payload).hexdigest():
            raise _Fail("log-entry-mismatch", "the log entry is for other signed bytes")
    else:
        if envelope_raw is None:
            raise _Fail("log-entry-mismatch", f"a plain signature is logged as {body.kind}")
        if body.payload_sha256 != hashlib.sha256(payload).hexdigest():
            raise _Fail("log-entry-mismatch", "the log entry is for another attestation payload")
        if body.envelope_sha256 is not None and body.envelope_sha256 != hashlib.sha256(envelope_raw).hexdigest():
            raise _Fail("log-entry-mismatch", "the log entry is for another envelope")
    if body.signatures and not any(s in body.signatures for s in signatures):
        raise _Fail("log-entry-mismatch", "the log entry records another signature")


def _parse_certs(cert_pem: str, chain_pem: str | None) -> tuple[x509.Certificate, list[x509.Certificate]]:
    try:
        leaf = x509.load_pem_x509_certificate(cert_pem.encode())
        chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem else []
    except ValueError as err:
        raise _Fail("bad-certificate", f"certificate does not parse: {err}") from None
    return leaf, chain


def verify_cosign_keyless(root: TrustRoot, policy: IdentityPolicy, *, cert_pem: str, chain_pem: str | None,
                          bundle_annotation: str | None, payload: bytes, signature: bytes | None = None,
                          envelope: Envelope | None = None, envelope_raw: bytes | None = None) -> KeylessOutcome:
    """cosign's annotation form: a `.sig` (payload + signature) or an `.att` (a DSSE envelope)."""
    claims: Claims | None = None
    try:
        leaf, chain = _parse_certs(cert_pem, chain_pem)
        claims = read_claims(leaf)
        if not bundle_annotation:
            raise _Fail("bad-log-entry", "no Rekor bundle annotation: offline verification needs the log's signed entry timestamp")
        try:
            entry = parse_cosign_bundle(bundle_annotation)
            body = parse_entry_body(entry.body)
        except PayloadError as err:
            raise _Fail("bad-log-entry", f"log entry unreadable: {err}") from None
        t = _check_set(root, entry)
        issuer = _untrusted_chain(root, leaf, chain, t)
        _check_sct(root, leaf, issuer)
        key = leaf.public_key()
        if envelope is not None:
            message = pae(envelope.payload_type, envelope.payload)
            good = [s for s, _ in envelope.signatures if _verify_with(key, s, message)]
            signed_payload = envelope.payload
        else:
            good = [signature] if signature is not None and _verify_with(key, signature, payload) else []
            signed_payload = payload
        if not good:
            raise _Fail("bad-signature", "the signature does not verify with the certificate's key")
        _check_body(body, leaf, good, signed_payload, envelope_raw if envelope is not None else None)
        why = policy.mismatch(claims)
        if why is not None:
            raise _Fail("identity-mismatch", why)
    except _Fail as fail:
        return KeylessOutcome(fail.error, fail.message, claims)
    return KeylessOutcome(None, "keyless signature verified (Fulcio certificate, SCT, Rekor entry)", claims, t,
                          signed_payload, envelope.payload_type if envelope is not None else "")


_SIGSTORE_CLASSES = (  # sigstore's messages → inspectr's result classes; first match wins
    ("Integrated time only supported", "unsupported-format"),  # an intoto entry: sigstore 4.x reads none
    ("SCT", "bad-sct"), ("signed certificate timestamp", "bad-sct"),
    ("expired at time of signing", "certificate-expired"), ("not valid at validation time", "certificate-expired"),
    ("certificate chain", "bad-certificate"), ("Key usage", "bad-certificate"), ("Extended usage", "bad-certificate"),
    ("leaf", "bad-certificate"),
    ("Signature is invalid", "bad-signature"), ("DSSE: invalid signature", "bad-signature"),
    ("inconsistent", "log-entry-mismatch"), ("does not match bundle", "log-entry-mismatch"), ("do not match bundle", "log-entry-mismatch"),
    ("message digest mismatch", "digest-mismatch"),
    ("log entry", "bad-log-entry"), ("inclusion", "bad-log-entry"), ("checkpoint", "bad-log-entry"), ("SET", "bad-log-entry"),
    ("time", "bad-timestamp"), ("Timestamp", "bad-timestamp"),
)


def _classify(message: str) -> str:
    return next((cls for needle, cls in _SIGSTORE_CLASSES if needle in message), "bad-bundle")


class _IdentityLater:
    """sigstore's policy slot: identity is checked after its other checks (verify_bundle)."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


def verify_bundle(root: TrustRoot, policy: IdentityPolicy, data: bytes, *, artifact_sha256: bytes | None = None) -> KeylessOutcome:
    """A Sigstore bundle with a Fulcio certificate, through sigstore-python's Verifier. A DSSE
    bundle returns its payload for the caller's subject check; a message-signature bundle is
    checked against `artifact_sha256`. Identity is checked here, after sigstore's own checks,
    so that a wrong identity is told apart from a broken signature."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier
    from sigstore_models.common.v1 import HashAlgorithm

    try:
        bundle = Bundle.from_json(data)
    except (SigstoreError, ValueError) as err:
        return KeylessOutcome("bad-bundle", f"sigstore bundle rejected: {str(err).splitlines()[0][:200]}")
    claims = read_claims(bundle.signing_certificate)
    try:
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root.path)))
        if bundle._dsse_envelope is not None:  # sigstore exposes no public accessor for the bundle's content kind
            payload_type, payload = verifier.verify_dsse(bundle, _IdentityLater())
        else:
            if artifact_sha256 is None:
                return KeylessOutcome("bad-bundle", "message-signature bundle with nothing to check it against", claims)
            verifier.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=artifact_sha256), bundle, _IdentityLater())
            payload_type, payload = "", b""
    except (SigstoreError, ValueError) as err:
        message = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        error = _classify(message)
        leaf = bundle.signing_certificate
        if error == "bad-certificate" and not _issuers([c for a in root.authorities for c in a.certs], leaf):
            error, message = "untrusted-root", (f"certificate issuer {leaf.issuer.rfc4514_string()!r} (by name and key) is not a "
                                                f"certificate authority of the trusted root; sigstore: {message}")
        return KeylessOutcome(error, message, claims)
    why = policy.mismatch(claims)
    if why is not None:
        return KeylessOutcome("identity-mismatch", why, claims)
    t = bundle.log_entry._inner.integrated_time if bundle.log_entry._inner.integrated_time else None
    return KeylessOutcome(None, "keyless bundle verified (sigstore)", claims,
                          _EPOCH + timedelta(seconds=int(t)) if t else None, payload, payload_type)
