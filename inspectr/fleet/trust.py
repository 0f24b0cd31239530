"""FleetTrust: what a fleet scan's verify may trust, as plain bytes that travel to workers.
Kept apart from graph.py so `fleet query` and the command line do not load the engines."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..verify.keyless import IdentityPolicy
from ..verify.keys import Keyring, parse_public_key

if TYPE_CHECKING:
    from ..verify.engine import Trust

__all__ = ["FleetTrust"]


@dataclass(frozen=True, slots=True)
class FleetTrust:
    """What `verify` may trust, as bytes: the client reads the key files and the trusted root,
    and the workers get their contents, never a path of the client's machine."""

    keys: tuple[tuple[str, bytes], ...] = ()  # (label, PEM public key)
    keyrings: tuple[Keyring, ...] = ()
    identity_policy: IdentityPolicy = IdentityPolicy()
    trusted_root: bytes | None = None  # None: public-good Sigstore's, as the workers' sigstore ships it
    require_signature: bool = False

    def fingerprint(self) -> str:
        """'' with no trust input; else a digest of every input, so an image scanned under other
        trust inputs is scanned again instead of keeping a verdict they did not give."""
        if self == FleetTrust():
            return ""
        h = hashlib.sha256()
        for label, pem in self.keys:
            h.update(b"key\0" + label.encode() + b"\0" + hashlib.sha256(pem).digest())
        for ring in self.keyrings:
            h.update(b"keyring\0" + ring.label.encode() + b"\0" + hashlib.sha256(ring.binary).digest())
        h.update(repr(dataclasses.astuple(self.identity_policy)).encode())
        h.update(hashlib.sha256(self.trusted_root or b"").digest() + bytes([self.require_signature]))
        return h.hexdigest()

    def build(self, workdir: str) -> Trust:
        """The engine's Trust, on the worker. A trusted root is written into `workdir` (a
        private temporary dir of the task), since the verifier reads it from a file."""
        from ..verify.engine import Trust

        root = None
        if self.trusted_root is not None:
            root = Path(workdir) / "trusted_root.json"
            root.write_bytes(self.trusted_root)
        return Trust(keys=tuple(parse_public_key(pem, label) for label, pem in self.keys), keyrings=self.keyrings,
                     identity_policy=self.identity_policy, trusted_root=root,
                     require_signature=self.require_signature)
