"""Registries: `docker://` references, the distribution API client, credentials and the
pulled-blob cache. Read-only: inspectr never pushes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .client import RegistryOptions

__all__ = ["RegistrySettings", "configure", "current_settings"]


@dataclass(frozen=True)
class RegistrySettings:
    """Process-wide defaults the CLI sets once (flags are on every command; engines that open
    images deep inside, like gate and behave, use these without threading them through)."""

    options: RegistryOptions = field(default_factory=RegistryOptions)
    cache_dir: Path | None = None  # None: default cache dir
    no_cache: bool = False


_settings = RegistrySettings()


def configure(settings: RegistrySettings) -> None:
    global _settings
    _settings = settings


def current_settings() -> RegistrySettings:
    return _settings
