"""Registries: `docker://` references, the distribution API client, credentials and the
pulled-blob cache. Read-only: inspectr never pushes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .client import ClientPool, RegistryOptions

__all__ = ["RegistrySettings"]


@dataclass(frozen=True)
class RegistrySettings:
    """The registry flags of a run (--tls-verify, --cert-dir, --authfile, --creds) and where
    pulled blobs are cached; part of the Session, with the pool of clients it keys."""

    options: RegistryOptions = field(default_factory=RegistryOptions)
    cache_dir: Path | None = None  # None: default cache dir
    no_cache: bool = False
    clients: ClientPool = field(default_factory=ClientPool, compare=False, repr=False)
