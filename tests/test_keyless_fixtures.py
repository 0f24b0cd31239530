"""Independent checks of fixtures/keyless/, the fake Sigstore instance and keyless-signed images that
fixtures/keyless/build.py writes. They test the fixtures, not inspectr, and import nothing from
build.py: every fact is re-derived from the files.

- sigstore-python (the `sigstore` 4.x package) loads the fake trusted root and verifies every bundle
  variant, and every legacy `.sig`/`.att` once it is rewritten as a bundle. That rewrite only adds the
  inclusion proof, computed here from the shard, which is the body of every layout in log order.
- A step-by-step check (`failed_checks`) uses sigstore-python's own pieces where it has them (SCT
  verification, the Rekor and CT keyrings, the identity policies, the x509 path policy) and
  `cryptography` elsewhere. Each tampered variant must fail exactly the check its expected error
  names and pass all the others, and each genuine variant must fail none.
- The structural checks compare the JSON shapes (key order, nesting, value types) with the real
  public-good vectors in fixtures/thirdparty.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

import sigstore.errors
from sigstore.hashes import HashAlgorithm, Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy
from sigstore._internal.sct import verify_sct  # what Verifier runs; there is no public SCT API
from sigstore._internal.trust import KeyringPurpose

ROOT = Path(__file__).resolve().parent.parent
KEYLESS = ROOT / "fixtures" / "keyless"
THIRDPARTY = ROOT / "fixtures" / "thirdparty"
EXPECTED: dict[str, dict[str, Any]] = json.loads((KEYLESS / "expected.json").read_text())
TRUSTED_ROOT = TrustedRoot.from_file(str(KEYLESS / "trusted_root.json"))
LAYOUTS = sorted(p.name for p in KEYLESS.iterdir() if (p / "oci-layout").is_file())
ERRORS = {"bad-certificate", "untrusted-root", "certificate-expired", "bad-sct", "bad-log-entry",
          "log-entry-mismatch", "bad-signature", "digest-mismatch", "identity-mismatch"}
SHARD_OFFSET = 1000  # README: global logIndex = shard index + 1000
INTOTO = "application/vnd.in-toto+json"


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


# --- reading a layout -----------------------------------------------------------------------------

class Layout:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = KEYLESS / name
        self.index = read_json(self.path / "index.json")

    def blob(self, digest: str) -> bytes:
        raw = (self.path / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == digest.removeprefix("sha256:"), digest
        return raw

    def entry(self, **annotations: str) -> dict[str, Any]:
        (found,) = [d for d in self.index["manifests"]
                    if all(d.get("annotations", {}).get(k) == v for k, v in annotations.items())]
        return found

    @property
    def legacy(self) -> bool:
        return any("kind" in d.get("annotations", {}) for d in self.index["manifests"])

    @property
    def image_digest(self) -> str:
        if self.legacy:
            return self.entry(kind="dev.cosignproject.cosign/image")["digest"]
        return self.entry(**{"org.opencontainers.image.ref.name": "latest"})["digest"]


@dataclass
class Material:
    """What a verifier has for one signature, from either form."""
    form: str  # legacy | bundle
    cert: x509.Certificate
    chain: list[x509.Certificate] | None  # shipped (legacy); bundles rely on the trusted root
    signed_digest: bytes  # SHA-256 of what the signature is over
    signature: bytes
    payload: bytes | None  # simple-signing JSON or in-toto Statement (None for a message signature)
    message_digest: bytes | None  # bundle messageSignature
    envelope: bytes | None  # the DSSE envelope as uploaded (legacy .att layer)
    body: bytes
    integrated_time: int
    log_index: int
    log_id: bytes
    set: bytes
    proof: dict[str, Any] | None  # bundle inclusionProof
    bundle: bytes | None  # the bundle document, as stored


def pae(payload_type: str, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)


def material(name: str) -> Material:
    lay = Layout(name)
    if lay.legacy:
        desc = next(d for d in lay.index["manifests"]
                    if d["annotations"]["kind"] in ("dev.cosignproject.cosign/sigs", "dev.cosignproject.cosign/atts"))
        (layer,) = json.loads(lay.blob(desc["digest"]))["layers"]
        ann = layer["annotations"]
        raw = lay.blob(layer["digest"])
        rekor = json.loads(ann["dev.sigstore.cosign/bundle"])
        p = rekor["Payload"]
        common = dict(form="legacy", cert=x509.load_pem_x509_certificate(ann["dev.sigstore.cosign/certificate"].encode()),
                      chain=x509.load_pem_x509_certificates(ann["dev.sigstore.cosign/chain"].encode()),
                      message_digest=None, body=b64d(p["body"]), integrated_time=p["integratedTime"],
                      log_index=p["logIndex"], log_id=bytes.fromhex(p["logID"]),
                      set=b64d(rekor["SignedEntryTimestamp"]), proof=None, bundle=None)
        if layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json":
            return Material(signed_digest=hashlib.sha256(raw).digest(), signature=b64d(ann["dev.cosignproject.cosign/signature"]),
                            payload=raw, envelope=None, **common)
        env = json.loads(raw)
        payload = b64d(env["payload"])
        return Material(signed_digest=hashlib.sha256(pae(env["payloadType"], payload)).digest(),
                        signature=b64d(env["signatures"][0]["sig"]), payload=payload, envelope=raw, **common)
    tag = "sha256-" + lay.image_digest.removeprefix("sha256:")
    referrers = json.loads(lay.blob(lay.entry(**{"org.opencontainers.image.ref.name": tag})["digest"]))
    (ref,) = referrers["manifests"]
    (layer,) = json.loads(lay.blob(ref["digest"]))["layers"]
    raw = lay.blob(layer["digest"])
    doc = json.loads(raw)
    (t,) = doc["verificationMaterial"]["tlogEntries"]
    common = dict(form="bundle", cert=x509.load_der_x509_certificate(b64d(doc["verificationMaterial"]["certificate"]["rawBytes"])),
                  chain=None, envelope=None, body=b64d(t["canonicalizedBody"]), integrated_time=int(t["integratedTime"]),
                  log_index=int(t["logIndex"]), log_id=b64d(t["logId"]["keyId"]),
                  set=b64d(t["inclusionPromise"]["signedEntryTimestamp"]), proof=t["inclusionProof"], bundle=raw)
    if "messageSignature" in doc:
        ms = doc["messageSignature"]
        digest = b64d(ms["messageDigest"]["digest"])
        return Material(signed_digest=digest, signature=b64d(ms["signature"]), payload=None, message_digest=digest, **common)
    env = doc["dsseEnvelope"]
    payload = b64d(env["payload"])
    return Material(signed_digest=hashlib.sha256(pae(env["payloadType"], payload)).digest(),
                    signature=b64d(env["signatures"][0]["sig"]), payload=payload, message_digest=None, **common)


# --- the shard: every layout's body, in log order --------------------------------------------------

def leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 2.1.1, iteratively: pair up each level, carrying an odd last node up."""
    level = leaves
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    return level[0]


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """The audit path, built level by level (the sibling of the node on the path, when it has one)."""
    path, level = [], leaves
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        index //= 2
    return path


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to, or None when it is malformed."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def shard() -> list[bytes]:
    """The leaf hashes of the fake Rekor shard: one entry per layout, logIndex 1000, 1001, ..."""
    bodies = {m.log_index: m.body for m in map(material, LAYOUTS)}
    assert sorted(bodies) == list(range(SHARD_OFFSET, SHARD_OFFSET + len(LAYOUTS))), "one entry per layout"
    return [leaf_hash(bodies[i]) for i in sorted(bodies)]


def genuine_checkpoint() -> str:
    return material("good-bundle-att").proof["checkpoint"]["envelope"]  # type: ignore[index]


def checkpoint_problem(note: str, size: int, root: bytes, log_id: bytes) -> str | None:
    """The signed note as sigstore-python and Rekor v1 read it; None when it is fine."""
    text, _, sigs = note.partition("\n\n")
    lines = text.split("\n")
    if len(lines) < 3 or lines[1] != str(size) or b64d(lines[2]) != root:
        return "checkpoint does not name this tree"
    for name, sig in re.findall(r"\u2014 (\S+) (\S+)\n", sigs):
        raw = b64d(sig)
        if raw[:4] == log_id[:4]:
            try:
                TRUSTED_ROOT.rekor_keyring(KeyringPurpose.VERIFY).verify(
                    key_id=log_id, signature=raw[4:], data=(text + "\n").encode())
                return None
            except sigstore.errors.VerificationError:
                return "checkpoint signature invalid"
    return "no checkpoint signature for this log"


# --- the step-by-step check ------------------------------------------------------------------------

def trusted_cas() -> list[x509.Certificate]:
    return TRUSTED_ROOT.get_fulcio_certs()


def key_identifier(cert: x509.Certificate, cls: type) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    return ext.key_identifier if cls is x509.AuthorityKeyIdentifier else ext.digest


def issuer_path(m: Material) -> tuple[list[x509.Certificate], str | None]:
    """The CA path above the leaf (shipped chain for the legacy form, the trusted root's for bundles)
    and the chain failure: `bad-certificate` when the CA the leaf names (by AKI) does not sign it,
    `untrusted-root` when the path does not end in a CA of the trusted root."""
    candidates = m.chain if m.chain is not None else trusted_cas()
    aki = key_identifier(m.cert, x509.AuthorityKeyIdentifier)
    issuers = [c for c in candidates if c.subject == m.cert.issuer and key_identifier(c, x509.SubjectKeyIdentifier) == aki]
    if not issuers:
        return [], "untrusted-root"  # no CA we hold has the key the leaf claims
    path = [issuers[0]] + ([c for c in m.chain[1:]] if m.chain is not None else trusted_cas()[1:])
    try:
        m.cert.verify_directly_issued_by(path[0])
        for child, parent in zip(path, path[1:]):
            child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError):
        return path, "bad-certificate"
    trusted = {c.public_bytes(serialization.Encoding.DER) for c in trusted_cas()}
    if path[-1].public_bytes(serialization.Encoding.DER) not in trusted:
        return path, "untrusted-root"
    return path, None


def identity_policy(e: dict[str, Any]) -> policy.AllOf:
    checks: list[Any] = [policy.Identity(identity=e["identity"], issuer=e["issuer"])]
    claims = {"repository": policy.GitHubWorkflowRepository, "ref": policy.GitHubWorkflowRef,
              "sha": policy.GitHubWorkflowSHA, "trigger": policy.GitHubWorkflowTrigger, "name": policy.GitHubWorkflowName}
    checks += [claims[k](v) for k, v in e.get("github", {}).items()]
    return policy.AllOf(checks)


def body_matches(m: Material) -> bool:
    """The log entry records this signature, certificate and payload (CVE-2022-36056 class)."""
    body = json.loads(m.body)
    spec = body["spec"]
    cert_der = m.cert.public_bytes(serialization.Encoding.DER)

    def same_cert(b64pem: str) -> bool:
        return x509.load_pem_x509_certificate(b64d(b64pem)).public_bytes(serialization.Encoding.DER) == cert_der

    match (body["kind"], body["apiVersion"]):
        case ("hashedrekord", "0.0.1"):
            return (spec["data"]["hash"] == {"algorithm": "sha256", "value": m.signed_digest.hex()}
                    and b64d(spec["signature"]["content"]) == m.signature and same_cert(spec["signature"]["publicKey"]["content"]))
        case ("dsse", "0.0.1"):
            assert m.payload is not None
            (sig,) = spec["signatures"]
            return (spec["payloadHash"] == {"algorithm": "sha256", "value": hashlib.sha256(m.payload).hexdigest()}
                    and (m.envelope is None or spec["envelopeHash"]["value"] == hashlib.sha256(m.envelope).hexdigest())
                    and b64d(sig["signature"]) == m.signature and same_cert(sig["verifier"]))
        case ("intoto", "0.0.2"):
            assert m.payload is not None and m.envelope is not None
            content = spec["content"]
            (sig,) = content["envelope"]["signatures"]
            return (content["hash"]["value"] == hashlib.sha256(m.envelope).hexdigest()
                    and content["payloadHash"]["value"] == hashlib.sha256(m.payload).hexdigest()
                    and content["envelope"]["payloadType"] == INTOTO
                    and b64d(b64d(sig["sig"]).decode()) == m.signature and same_cert(sig["publicKey"]))
    raise AssertionError(f"unexpected entry kind {body['kind']} {body['apiVersion']}")


def names_digest(m: Material, digest: str) -> bool:
    if m.message_digest is not None:
        return "sha256:" + m.message_digest.hex() == digest
    assert m.payload is not None
    doc = json.loads(m.payload)
    if "critical" in doc:
        return (doc["critical"]["type"] == "cosign container image signature"
                and doc["critical"]["image"]["docker-manifest-digest"] == digest)
    return any(s["digest"].get("sha256") == digest.removeprefix("sha256:") for s in doc["subject"])


def failed_checks(name: str, e: dict[str, Any]) -> set[str]:
    m = material(name)
    failed: set[str] = set()
    when = datetime.fromtimestamp(m.integrated_time, timezone.utc)

    path, chain_error = issuer_path(m)
    if chain_error:
        failed.add(chain_error)
    if not m.cert.not_valid_before_utc <= when <= m.cert.not_valid_after_utc:
        failed.add("certificate-expired")
    if path:  # without the issuer there is no issuer key hash to check the SCT against
        try:
            verify_sct(m.cert, path, TRUSTED_ROOT.ct_keyring(KeyringPurpose.VERIFY))
        except sigstore.errors.VerificationError:
            failed.add("bad-sct")
    try:
        TRUSTED_ROOT.rekor_keyring(KeyringPurpose.VERIFY).verify(
            key_id=m.log_id, signature=m.set,
            data=json.dumps({"body": base64.b64encode(m.body).decode(), "integratedTime": m.integrated_time,
                             "logID": m.log_id.hex(), "logIndex": m.log_index},
                            sort_keys=True, separators=(",", ":")).encode())
    except sigstore.errors.VerificationError:
        failed.add("bad-log-entry")
    if m.proof is not None:
        root = root_from_path(int(m.proof["logIndex"]), int(m.proof["treeSize"]), leaf_hash(m.body),
                              [b64d(h) for h in m.proof["hashes"]])
        if root != b64d(m.proof["rootHash"]) or checkpoint_problem(
                m.proof["checkpoint"]["envelope"], int(m.proof["treeSize"]), b64d(m.proof["rootHash"]), m.log_id):
            failed.add("bad-log-entry")
    if not body_matches(m):
        failed.add("log-entry-mismatch")
    try:
        key = m.cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(m.signature, m.signed_digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        failed.add("bad-signature")
    if not names_digest(m, e["image_digest"]):
        failed.add("digest-mismatch")
    try:
        identity_policy(e).verify(m.cert)
    except sigstore.errors.VerificationError:
        failed.add("identity-mismatch")
    return failed


def webpki_chain_ok(m: Material) -> bool:
    """The path validation sigstore-python's Verifier runs (cryptography's webpki verifier with the
    EKU check relaxed), at the log's integrated time, with the shipped chain as intermediates."""
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    verifier = (PolicyBuilder().store(Store(trusted_cas()))
                .time(datetime.fromtimestamp(m.integrated_time, timezone.utc))
                .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier())
    try:
        verifier.verify(m.cert, m.chain or [])
        return True
    except Exception:  # cryptography's VerificationError (and UnsupportedGeneralNameType)
        return False


# --- sigstore-python's verdict ---------------------------------------------------------------------

def as_bundle(m: Material) -> bytes:
    """A legacy signature as the bundle v0.3 cosign 3 would write for it: the same certificate,
    signature, body, SET, time and index, plus the inclusion proof into the shard and its checkpoint."""
    leaves = shard()
    index = m.log_index - SHARD_OFFSET
    body = json.loads(m.body)
    entry = {"logIndex": str(m.log_index), "logId": {"keyId": base64.b64encode(m.log_id).decode()},
             "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
             "integratedTime": str(m.integrated_time),
             "inclusionPromise": {"signedEntryTimestamp": base64.b64encode(m.set).decode()},
             "inclusionProof": {"logIndex": str(index), "rootHash": base64.b64encode(merkle_root(leaves)).decode(),
                                "treeSize": str(len(leaves)),
                                "hashes": [base64.b64encode(h).decode() for h in inclusion_path(index, leaves)],
                                "checkpoint": {"envelope": genuine_checkpoint()}},
             "canonicalizedBody": base64.b64encode(m.body).decode()}
    doc: dict[str, Any] = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                           "verificationMaterial": {"certificate": {"rawBytes": base64.b64encode(
                               m.cert.public_bytes(serialization.Encoding.DER)).decode()}, "tlogEntries": [entry]}}
    assert m.payload is not None
    if m.envelope is None:
        doc["messageSignature"] = {"messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(m.signed_digest).decode()},
                                   "signature": base64.b64encode(m.signature).decode()}
    else:
        env = json.loads(m.envelope)
        doc["dsseEnvelope"] = {"payload": env["payload"], "payloadType": env["payloadType"],
                               "signatures": [{"sig": s["sig"]} for s in env["signatures"]]}
    return json.dumps(doc).encode()


def sigstore_says(name: str, e: dict[str, Any]) -> str:
    """'ok' or sigstore-python's error message, for the bundle (legacy: rewritten as one)."""
    m = material(name)
    raw = m.bundle if m.bundle is not None else as_bundle(m)
    verifier = Verifier(trusted_root=TRUSTED_ROOT)
    try:
        bundle = Bundle.from_json(raw)
        if m.message_digest is not None:
            verifier.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256,
                                            digest=bytes.fromhex(e["image_digest"].removeprefix("sha256:"))),
                                     bundle, identity_policy(e))
        elif m.envelope is None and m.form == "legacy":
            assert m.payload is not None
            verifier.verify_artifact(m.payload, bundle, identity_policy(e))
        else:
            payload_type, payload = verifier.verify_dsse(bundle, identity_policy(e))
            assert payload_type == INTOTO and payload == m.payload
    except (sigstore.errors.Error, ValueError) as err:
        return f"{type(err).__name__}: {err}"
    return "ok"


# What sigstore-python reports for each class (it has no class for a digest check: it does not know
# about images, so a replayed signature verifies unless the artifact it is given differs).
SIGSTORE_MESSAGES = {
    None: r"^ok$",
    "bad-certificate": r"^CertValidationError: failed to build timestamp certificate chain: .*signature does not match",
    "untrusted-root": r"^CertValidationError: failed to build timestamp certificate chain: .*signature does not match",
    "certificate-expired": r"^CertValidationError: failed to build timestamp certificate chain: .*not valid at validation time",
    "bad-sct": r"^VerificationError: failed to verify SCT on signing certificate: ",
    "bad-log-entry": r"^VerificationError: invalid log entry: ",
    "log-entry-mismatch": r"^VerificationError: transparency log entry is inconsistent with other materials$",
    "bad-signature": r"^VerificationError: Signature is invalid for input$",
    "digest-mismatch": r"^ok$|^VerificationError: Bundle message digest mismatch$",
    "identity-mismatch": r"^VerificationError: Certificate's (SANs|OIDCIssuer|GitHubWorkflow\w+) do(es)? not match",
}


# --- tests ---------------------------------------------------------------------------------------

def test_trusted_root_loads_and_names_its_keys_by_spki_hash() -> None:
    doc = read_json(KEYLESS / "trusted_root.json")
    assert doc["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    for log in doc["tlogs"] + doc["ctlogs"]:
        assert b64d(log["logId"]["keyId"]) == hashlib.sha256(b64d(log["publicKey"]["rawBytes"])).digest()
    intermediate, root = (x509.load_der_x509_certificate(b64d(c["rawBytes"]))
                          for c in doc["certificateAuthorities"][0]["certChain"]["certificates"])
    root.verify_directly_issued_by(root)
    intermediate.verify_directly_issued_by(root)
    assert len(TRUSTED_ROOT.get_fulcio_certs()) == 2
    TRUSTED_ROOT.rekor_keyring(KeyringPurpose.VERIFY)
    TRUSTED_ROOT.ct_keyring(KeyringPurpose.VERIFY)


def test_expected_json_names_every_layout_and_only_known_classes() -> None:
    assert {e["layout"] for e in EXPECTED.values()} == set(LAYOUTS)
    for name, e in EXPECTED.items():
        if e["verdict"] == "verified":
            assert e["error"] is None, name
        else:
            assert e["verdict"] == "signature-failed" and e["error"] in ERRORS, name
        assert e["image_digest"] == Layout(e["layout"]).image_digest
    # Every tampered layout fails for its own reason; identity mismatches are policies on good layouts.
    tampered = [e["error"] for n, e in EXPECTED.items() if "@" not in n and e["error"]]
    assert set(tampered) == ERRORS - {"identity-mismatch"}


def test_every_blob_is_named_by_its_digest_and_described_by_its_size() -> None:
    for name in LAYOUTS:
        lay = Layout(name)
        seen = set()
        for d in lay.index["manifests"]:
            raw = lay.blob(d["digest"])
            assert d["size"] == len(raw)
            doc = json.loads(raw)
            for child in [doc.get("config")] + doc.get("layers", []) + doc.get("manifests", []) + [doc.get("subject")]:
                if child:
                    assert len(lay.blob(child["digest"])) == child["size"], (name, child)
                    seen.add(child["digest"])
            seen.add(d["digest"])
        on_disk = {"sha256:" + p.name for p in (lay.path / "blobs" / "sha256").iterdir()}
        assert on_disk == seen, name  # nothing unreferenced


def test_the_shard_is_every_layout_body_and_the_checkpoint_signs_its_root() -> None:
    leaves = shard()
    checkpoint = genuine_checkpoint()
    assert checkpoint.startswith("rekor.example.test - ")
    assert checkpoint_problem(checkpoint, len(leaves), merkle_root(leaves), b64d(
        read_json(KEYLESS / "trusted_root.json")["tlogs"][0]["logId"]["keyId"])) is None
    for index in range(len(leaves)):  # this file's path builder agrees with the RFC 9162 verifier
        assert root_from_path(index, len(leaves), leaves[index], inclusion_path(index, leaves)) == merkle_root(leaves)


def test_leaf_certificates_look_like_fulcio_ones() -> None:
    for name in LAYOUTS:
        cert = material(name).cert
        assert cert.subject == x509.Name([])
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(minutes=10)
        assert x509.ObjectIdentifier("1.3.6.1.5.5.7.3.3") in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
        oids = {e.oid.dotted_string for e in cert.extensions}
        assert {"1.3.6.1.4.1.57264.1.1", "1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.11129.2.4.2"} <= oids
        (sct,) = cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
        assert sct.entry_type == x509.certificate_transparency.LogEntryType.PRE_CERTIFICATE
    gh = material("good-att").cert
    assert {f"1.3.6.1.4.1.57264.1.{n}" for n in (2, 3, 4, 5, 6, 9, 12, 13, 14, 20)} <= {e.oid.dotted_string for e in gh.extensions}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_variant_fails_exactly_its_own_check(name: str) -> None:
    e = EXPECTED[name]
    assert failed_checks(e["layout"], e) == ({e["error"]} if e["error"] else set())


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if "@" not in n))
def test_sigstore_x509_path_validation_agrees(name: str) -> None:
    e = EXPECTED[name]
    chain_errors = {"bad-certificate", "untrusted-root", "certificate-expired"}
    assert webpki_chain_ok(material(e["layout"])) == (e["error"] not in chain_errors)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sigstore_python_verdict(name: str) -> None:
    e = EXPECTED[name]
    if e["form"] == "cosign-att" and json.loads(material(e["layout"]).body)["kind"] == "intoto":
        # sigstore-python 4.x refuses intoto entries (documented in fixtures/thirdparty/sigstore-conformance).
        assert "only supported for dsse/hashedrekord" in sigstore_says(e["layout"], e)
        return
    said = sigstore_says(e["layout"], e)
    assert re.search(SIGSTORE_MESSAGES[e["error"]], said), said
    if e["error"] == "digest-mismatch" and said == "ok":
        assert not names_digest(material(e["layout"]), e["image_digest"])


# --- the formats are the real vectors' formats -------------------------------------------------------

def shape(value: Any) -> Any:
    """Key order, nesting and value types, without the values."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


SLSA_V210 = THIRDPARTY / "slsa-verifier/cli/slsa-verifier/testdata/gha_generic_container/v2.1.0/container_workflow_dispatch"
COSIGN_SIG = THIRDPARTY / "containers-image/signature/fixtures/dir-img-cosign-fulcio-rekor-valid/signature-1"
COSIGN_BUNDLE = THIRDPARTY / "cosign/pkg/cosign/testdata/oci-attestation.sigstore.json"


def real_att_manifest() -> dict[str, Any]:
    index = read_json(SLSA_V210 / "index.json")
    desc = next(d for d in index["manifests"] if d["annotations"]["kind"] == "dev.cosignproject.cosign/atts")
    return read_json(SLSA_V210 / "blobs" / "sha256" / desc["digest"].removeprefix("sha256:"))


def real_sig_annotations() -> dict[str, str]:
    raw = COSIGN_SIG.read_bytes()
    return json.loads(raw[raw.index(b"\n") + 1:])["annotations"]


def ours(name: str, kind: str) -> tuple[Layout, dict[str, Any]]:
    lay = Layout(name)
    desc = lay.entry(kind=kind)
    return lay, json.loads(lay.blob(desc["digest"]))


def test_att_layout_has_the_real_cosign_save_format() -> None:
    lay, manifest = ours("good-att", "dev.cosignproject.cosign/atts")
    real = real_att_manifest()
    assert shape(manifest) == shape(real)
    assert (lay.path / "oci-layout").read_bytes() == (SLSA_V210 / "oci-layout").read_bytes()
    assert shape(lay.index) == shape(read_json(SLSA_V210 / "index.json"))
    real_config = read_json(SLSA_V210 / "blobs" / "sha256" / real["config"]["digest"].removeprefix("sha256:"))
    assert shape(json.loads(lay.blob(manifest["config"]["digest"]))) == shape(real_config)
    ann, real_ann = manifest["layers"][0]["annotations"], real["layers"][0]["annotations"]
    assert shape(json.loads(ann["dev.sigstore.cosign/bundle"])) == shape(json.loads(real_ann["dev.sigstore.cosign/bundle"]))
    body = json.loads(b64d(json.loads(ann["dev.sigstore.cosign/bundle"])["Payload"]["body"]))
    real_body = json.loads(b64d(json.loads(real_ann["dev.sigstore.cosign/bundle"])["Payload"]["body"]))
    assert shape(body) == shape(real_body)
    real_env = json.loads((SLSA_V210 / "blobs" / "sha256" / real["layers"][0]["digest"].removeprefix("sha256:")).read_bytes())
    assert shape(json.loads(lay.blob(manifest["layers"][0]["digest"]))) == shape(real_env)
    assert ann["dev.sigstore.cosign/certificate"].endswith("-----END CERTIFICATE-----\n")
    assert ann["dev.sigstore.cosign/chain"].endswith("-----END CERTIFICATE-----")  # as cosign: no final newline


def test_sig_layout_has_the_real_keyless_sig_format() -> None:
    lay, manifest = ours("good-sig", "dev.cosignproject.cosign/sigs")
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    real = real_sig_annotations()
    assert sorted(layer["annotations"]) == sorted(real)
    assert shape(json.loads(layer["annotations"]["dev.sigstore.cosign/bundle"])) == shape(json.loads(real["dev.sigstore.cosign/bundle"]))
    body = b64d(json.loads(layer["annotations"]["dev.sigstore.cosign/bundle"])["Payload"]["body"])
    real_body = b64d(json.loads(real["dev.sigstore.cosign/bundle"])["Payload"]["body"])
    assert shape(json.loads(body)) == shape(json.loads(real_body))
    assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()  # canonical, like Rekor's
    raw = COSIGN_SIG.read_bytes()
    real_payload = b64d(json.loads(raw[raw.index(b"\n") + 1:])["payload"])
    assert shape(json.loads(lay.blob(layer["digest"]))) == shape(json.loads(real_payload))


def test_trusted_root_has_the_real_trusted_root_format() -> None:
    real = read_json(THIRDPARTY / "cosign/pkg/cosign/testdata/trusted_root_pgi.json")
    current = {k: v[-1:] if isinstance(v, list) else v for k, v in real.items()}  # the last entries have no end
    assert shape(read_json(KEYLESS / "trusted_root.json")) == shape(current)


def test_bundles_have_the_real_bundle_format() -> None:
    real = read_json(COSIGN_BUNDLE)
    for name in ("good-bundle-att", "good-bundle-sig"):
        assert shape(json.loads(material(name).bundle)) == shape(real), name  # type: ignore[arg-type]
    msg = json.loads(material("good-bundle-msg").bundle)  # type: ignore[arg-type]
    assert shape(msg["verificationMaterial"]) == shape(real["verificationMaterial"])
    body = json.loads(material("good-bundle-att").body)
    real_body = json.loads(b64d(real["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    assert shape(body) == shape(real_body)
    cp, real_cp = genuine_checkpoint(), real["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
    pattern = r"^\S+ - \d+\n\d+\n[A-Za-z0-9+/=]+\n\n\u2014 \S+ [A-Za-z0-9+/=]+\n$"
    assert re.match(pattern, cp) and re.match(pattern, real_cp)


def test_referrers_point_at_the_image_and_carry_the_bundle() -> None:
    for name in LAYOUTS:
        lay = Layout(name)
        if lay.legacy:
            continue
        referrer_desc = next(d for d in lay.index["manifests"] if d.get("artifactType"))
        referrer = json.loads(lay.blob(referrer_desc["digest"]))
        assert referrer["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        assert referrer["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        assert lay.blob(referrer["config"]["digest"]) == b"{}"
        assert referrer["subject"]["digest"] == lay.image_digest
        content = referrer["annotations"]["dev.sigstore.bundle.content"]
        assert content == ("message-signature" if "messageSignature" in json.loads(material(name).bundle) else "dsse-envelope")  # type: ignore[arg-type]
        assert referrer_desc["annotations"] == referrer["annotations"]


def test_the_set_recipe_used_here_verifies_the_real_vectors() -> None:
    """The SET check of failed_checks, run on the real public-good `.att` and `.sig` with the
    production trusted root that ships inside the sigstore package (read from that file: no TUF)."""
    production = TrustedRoot.from_file(str(Path(sigstore.__file__).parent / "_store"
                                           / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"))
    for annotation in (real_att_manifest()["layers"][0]["annotations"]["dev.sigstore.cosign/bundle"],
                       real_sig_annotations()["dev.sigstore.cosign/bundle"]):
        rekor = json.loads(annotation)
        production.rekor_keyring(KeyringPurpose.VERIFY).verify(
            key_id=bytes.fromhex(rekor["Payload"]["logID"]), signature=b64d(rekor["SignedEntryTimestamp"]),
            data=json.dumps(rekor["Payload"], sort_keys=True, separators=(",", ":")).encode())
