"""Trust roots: PEM public keys (cosign) and OpenPGP keyrings (simple signing, via gpgv).

All cryptography is done by well-kept libraries: `cryptography` for ECDSA/RSA/Ed25519 and
Debian's `gpgv` for OpenPGP (no packet parsing here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..errors import UsageError
from ..userfiles import KEY_MAX_BYTES, read_user_file

__all__ = ["PublicKey", "load_public_key", "parse_public_key", "Keyring", "load_keyring", "GpgResult", "gpgv_verify", "gpgv_available"]


@dataclass(frozen=True)
class PublicKey:
    """A PEM PKIX public key and a stable label (file name and SPKI sha256)."""

    label: str
    key: object
    spki_sha256: str

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when `signature` over `data` verifies. cosign hashes with SHA-256 for every
        key type; P-384/P-521 signatures made with their own hash are accepted too."""
        key = self.key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                candidates: list[hashes.HashAlgorithm] = [hashes.SHA256()]
                if isinstance(key.curve, ec.SECP384R1):
                    candidates.append(hashes.SHA384())
                elif isinstance(key.curve, ec.SECP521R1):
                    candidates.append(hashes.SHA512())
                for algo in candidates:
                    try:
                        key.verify(signature, data, ec.ECDSA(algo))
                        return True
                    except InvalidSignature:
                        continue
                return False
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
                return True
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, data)
                return True
        except (InvalidSignature, ValueError):
            return False
        return False


def load_public_key(path: Path) -> PublicKey:
    """Raises UsageError (exit 2) on a file that is not a supported PEM public key."""
    return parse_public_key(read_user_file(path, "--key file", KEY_MAX_BYTES), path.name, f"--key {path}")


def parse_public_key(data: bytes, label: str, where: str | None = None) -> PublicKey:
    """A PEM public key from bytes (a fleet worker gets the key's bytes, never a client path)."""
    where = where or f"--key {label}"
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError) as err:
        raise UsageError(f"{where}: not a PEM public key (PKIX): {err}") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise UsageError(f"{where}: unsupported key type {type(key).__name__}")
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)):
        raise UsageError(f"{where}: unsupported curve {key.curve.name}")
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKey(label, key, hashlib.sha256(spki).hexdigest())


@dataclass(frozen=True)
class Keyring:
    label: str
    binary: bytes  # OpenPGP keys, binary form (gpgv reads no armor)


_ARMOR = re.compile(rb"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY BLOCK-----", re.S)


def load_keyring(path: Path) -> Keyring:
    """Binary or ASCII-armored OpenPGP public keys. Armor is only base64 around the binary
    form (RFC 4880 §6); its removal is not packet parsing."""
    data = read_user_file(path, "--keyring file", KEY_MAX_BYTES)
    match = _ARMOR.search(data)
    if match:
        lines = match.group(1).splitlines()
        # Skip armor headers (up to the blank line) and the CRC line (starts with '=').
        if b"" in [line.strip() for line in lines]:
            lines = lines[[line.strip() for line in lines].index(b"") + 1 :]
        body = b"".join(line.strip() for line in lines if not line.startswith(b"="))
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"--keyring {path}: corrupt ASCII armor") from None
    if not data or not data[0] & 0x80:
        raise UsageError(f"--keyring {path}: not an OpenPGP keyring")
    return Keyring(path.name, data)


def gpgv_available() -> bool:
    return shutil.which("gpgv") is not None


@dataclass(frozen=True)
class GpgResult:
    ok: bool
    payload: bytes
    error: str | None  # bad-signature | untrusted-key | expired-key | unsupported-format
    message: str
    fingerprint: str | None = None


def gpgv_verify(signature: bytes, keyrings: list[Keyring], timeout_s: float = 30.0) -> GpgResult:
    """Verify an OpenPGP signed message with Debian's gpgv; on success return the signed payload."""
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise UsageError("gpgv is not installed: `apt-get install gpgv` to verify OpenPGP signatures")
    with tempfile.TemporaryDirectory(prefix="inspectr-gpgv-") as tmp:
        rings = []
        for i, ring in enumerate(keyrings):
            p = os.path.join(tmp, f"ring{i}.gpg")
            with open(p, "wb") as fp:
                fp.write(ring.binary)
            rings += ["--keyring", p]
        sig = os.path.join(tmp, "sig")
        out = os.path.join(tmp, "payload")
        with open(sig, "wb") as fp:
            fp.write(signature)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "GNUPGHOME": tmp}
        try:
            proc = subprocess.run([gpgv, "--homedir", tmp, *rings, "--status-fd", "1", "--output", out, sig],
                                  capture_output=True, timeout=timeout_s, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return GpgResult(False, b"", "bad-signature", "gpgv timed out")
        status = proc.stdout.decode("utf-8", "replace").splitlines()
        tokens = {line.split()[1]: line.split()[2:] for line in status if line.startswith("[GNUPG:] ") and len(line.split()) > 1}
        fpr = tokens.get("VALIDSIG", [None])[0] if "VALIDSIG" in tokens else None
        signed = any(t in tokens for t in ("NEWSIG", "GOODSIG", "BADSIG", "ERRSIG", "VALIDSIG"))
        if "NODATA" in tokens and signed:
            # The message itself is damaged; gpgme (skopeo) reports this before any key question.
            return GpgResult(False, b"", "bad-signature", "corrupt signed message (gpgv: no data)")
        if "BADSIG" in tokens:
            return GpgResult(False, b"", "bad-signature", "signature does not verify (BADSIG): tampered data or signature")
        if "EXPKEYSIG" in tokens or "KEYEXPIRED" in tokens:
            return GpgResult(False, b"", "expired-key", "signed by an expired key", fpr)
        if "REVKEYSIG" in tokens or "KEYREVOKED" in tokens:
            return GpgResult(False, b"", "untrusted-key", "signed by a revoked key", fpr)
        if "EXPSIG" in tokens:
            return GpgResult(False, b"", "expired-key", "the signature has expired", fpr)
        if "NO_PUBKEY" in tokens or ("ERRSIG" in tokens and tokens["ERRSIG"][-1:] == ["9"]):
            keyid = (tokens.get("NO_PUBKEY") or tokens.get("ERRSIG") or ["?"])[0]
            return GpgResult(False, b"", "untrusted-key", f"signed by key {keyid}, which no given keyring holds")
        if proc.returncode != 0 or "GOODSIG" not in tokens or "VALIDSIG" not in tokens:
            # gpgv's exit code alone is no verdict: a corrupt message can report GOODSIG and then
            # fail (NODATA). A message with a signature that is not clean is a bad signature; one
            # with no signature at all is not a signature format we can verify.
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            return GpgResult(False, b"", "bad-signature" if signed else "unsupported-format",
                             f"{'corrupt signed message' if signed else 'not a verifiable OpenPGP signed message'} "
                             f"({detail[-1] if detail else 'gpgv failed'})")
        with open(out, "rb") as fp:
            payload = fp.read(4 << 20)
        primary = tokens["VALIDSIG"][-1] if len(tokens["VALIDSIG"]) >= 10 else fpr
        return GpgResult(True, payload, None, "good signature", primary)
