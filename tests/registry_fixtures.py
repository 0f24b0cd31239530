"""pytest plugin (registered in conftest.py): real registries for the registry-client tests.

Session fixtures, each started once on first use and stopped at session end:
  registry       plain http, no auth
  registry_auth  plain http, htpasswd Basic auth (REGISTRY_USER / REGISTRY_PASSWORD)
  registry_tls   https with a throwaway CA (registry_tls.ca_pem / .cert_dir), no auth
  registry_token plain http, Bearer token auth via registry_token.token_server (a TokenServer:
                 anonymous pull on public/*, REGISTRY_USER / REGISTRY_PASSWORD pull+push on all)
and a function fixture fault_proxy: a fresh FaultProxy in front of `registry`.

Any test using one of them is marked needs_registry, so under CI=true a skip (docker-registry
or skopeo not installed) fails the run instead of passing silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_server import FaultProxy, Registry, missing_tools, start_registry

REGISTRY_USER = "inspectr"
REGISTRY_PASSWORD = "s3cret-pw"
_REGISTRY_FIXTURES = frozenset({"registry", "registry_auth", "registry_tls", "registry_token", "fault_proxy"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tag users of the fixtures, so the CI guard in conftest.py sees their skips.
    for item in items:
        if _REGISTRY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_registry)


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, **kw: bool) -> Iterator[Registry]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install docker-registry skopeo)")
    reg = start_registry(Path(tmp_path_factory.mktemp(name)), **kw)
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain-http registry without auth."""
    yield from _start(tmp_path_factory, "registry")


@pytest.fixture(scope="session")
def registry_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain-http registry with htpasswd Basic auth for REGISTRY_USER / REGISTRY_PASSWORD."""
    yield from _start(tmp_path_factory, "registry-auth", auth=True)


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """HTTPS registry whose certificate is signed by registry_tls.ca_pem; no auth."""
    yield from _start(tmp_path_factory, "registry-tls", tls=True)


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain-http registry with Bearer token auth, as Docker Hub and ghcr do it: the challenge
    names registry_token.token_server, which signs ES256 JWTs the registry verifies. Anonymous
    tokens may pull public/*; REGISTRY_USER / REGISTRY_PASSWORD (Basic, at the token server)
    may pull and push everywhere. Session-wide: look at token_server.requests[-n:], not all."""
    yield from _start(tmp_path_factory, "registry-token", token=True)


@pytest.fixture
def fault_proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A FaultProxy in front of `registry`, with no faults and no recorded requests yet."""
    proxy = FaultProxy(registry)
    try:
        yield proxy
    finally:
        proxy.stop()
