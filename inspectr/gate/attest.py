"""The gate's verdict as a signed attestation: an in-toto Statement v1 with the SLSA
verification-summary predicate, in a DSSE envelope, one per image the gate verified. `inspectr
verify --key PUB --signatures FILE` checks it like any attestation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .. import __version__
from ..errors import UsageError
from ..untrusted.bundle import IN_TOTO_PAYLOAD, pae
from ..userfiles import KEY_MAX_BYTES, read_user_file
from .engine import GateReport

__all__ = ["SigningKey", "load_signing_key", "verdict_envelopes", "VSA_PREDICATE"]

VSA_PREDICATE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://github.com/inspectr/inspectr/gate"


@dataclass(frozen=True)
class SigningKey:
    label: str
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        k = self.key
        if isinstance(k, ec.EllipticCurvePrivateKey):
            return k.sign(data, ec.ECDSA(hashes.SHA384() if k.curve.key_size == 384 else hashes.SHA256()))
        if isinstance(k, rsa.RSAPrivateKey):
            return k.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return k.sign(data)


def load_signing_key(path: Path) -> SigningKey:
    """An unencrypted PEM private key (PKCS#8 or traditional): EC P-256/384, RSA or Ed25519."""
    data = read_user_file(path, "--attest-key file", KEY_MAX_BYTES)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise UsageError(f"--attest-key {path}: the key is encrypted; give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm) as err:
        raise UsageError(f"--attest-key {path}: not a PEM private key: {str(err).splitlines()[0]}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise UsageError(f"--attest-key {path}: unsupported key type {type(key).__name__}")
    return SigningKey(path.name, key)


def _statement(name: str, digest: str, report: GateReport, policy: Path | None, now: dt.datetime) -> dict[str, Any]:
    algorithm, _, value = digest.partition(":")
    predicate: dict[str, Any] = {
        "verifier": {"id": VERIFIER_ID, "version": {"inspectr": __version__}},
        "timeVerified": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resourceUri": name,
        "verificationResult": "PASSED" if report.ok else "FAILED",
        "verifiedLevels": [],
        # Not SLSA track levels: what the gate itself decided, for a reader of this statement.
        "inspectr": {"verdict": report.verdict, "release": report.release, "rebuild": report.rebuild,
                     "checks": {c.id: c.status for c in report.checks}},
    }
    if policy is not None:
        predicate["policy"] = {"uri": policy.name, "digest": {"sha256": hashlib.sha256(policy.read_bytes()).hexdigest()}}
    return {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": name, "digest": {algorithm: value}}],
            "predicateType": VSA_PREDICATE, "predicate": predicate}


def verdict_envelopes(report: GateReport, key: SigningKey, policy: Path | None,
                      now: dt.datetime | None = None) -> list[tuple[str, bytes]]:
    """(role, DSSE envelope JSON) for the release and the rebuild, each whose manifest digest the
    gate established; an image with no manifest (legacy docker save) has none to attest."""
    now = now or dt.datetime.now(dt.timezone.utc)
    out = []
    for role, name, verification in (("release", report.release, report.release_verification),
                                     ("rebuild", report.rebuild, report.rebuild_verification)):
        if verification is None or not verification.manifest_digests:
            continue
        payload = json.dumps(_statement(name, verification.manifest_digests[0], report, policy, now), sort_keys=True).encode()
        signature = key.sign(pae(IN_TOTO_PAYLOAD, payload))
        envelope = {"payloadType": IN_TOTO_PAYLOAD, "payload": base64.b64encode(payload).decode(),
                    "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}]}
        out.append((role, json.dumps(envelope, indent=1).encode() + b"\n"))
    return out

