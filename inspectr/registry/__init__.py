"""Registries: `docker://` references, the distribution API client, credentials and the
pulled-blob cache. Read-only: inspectr never pushes.

This module is imported by every command (the Session carries a RegistrySettings), so it holds
only plain values: the client and its urllib3, ssl and certifi are imported when a registry is
first reached (ClientPool.client), never by a command that reads a local image (issue 14).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..limits import Limits

if TYPE_CHECKING:
    from .auth import Credentials
    from .client import RegistryClient

__all__ = ["RegistrySettings", "RegistryOptions", "ClientPool"]


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries. Picklable: layer workers build their own client from it."""

    tls_verify: bool = True
    cert_dir: Path | None = None
    authfile: Path | None = None
    creds: "Credentials | None" = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retries: int = 4
    backoff_s: float = 0.25


class ClientPool:
    """One client per host, options and limits (keeps tokens and connections), owned by the
    session's registry settings. A copy sent to a worker process starts empty: connections and
    tokens are never shared across processes. Creating a pool is free: the client module is
    imported by the first `client()` call."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, RegistryOptions, Limits, int], "RegistryClient"] = {}

    def client(self, host: str, options: RegistryOptions, limits: Limits) -> "RegistryClient":
        key = (host, options, limits, os.getpid())
        client = self._clients.get(key)
        if client is None:
            from .client import RegistryClient

            client = self._clients[key] = RegistryClient(host, options, limits)
        return client

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (ClientPool, ())


@dataclass(frozen=True)
class RegistrySettings:
    """The registry flags of a run (--tls-verify, --cert-dir, --authfile, --creds) and where
    pulled blobs are cached; part of the Session, with the pool of clients it keys."""

    options: RegistryOptions = field(default_factory=RegistryOptions)
    cache_dir: Path | None = None  # None: default cache dir
    no_cache: bool = False
    clients: ClientPool = field(default_factory=ClientPool, compare=False, repr=False)
