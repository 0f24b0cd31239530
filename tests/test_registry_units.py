"""Registry pieces that need no server: reference normalisation, challenge parsing, credential
lookup and policy scopes."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from inspectr.errors import UsageError
from inspectr.registry.auth import find_credentials, parse_creds
from inspectr.registry.reference import parse_docker_reference
from inspectr.untrusted.www_auth import parse_challenges
from inspectr.verify.policy import _docker_scopes

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, name, tag, digest, api",
    [
        ("docker://alpine", "docker.io/library/alpine", "latest", None, "registry-1.docker.io"),
        ("docker://alpine:3.19", "docker.io/library/alpine", "3.19", None, "registry-1.docker.io"),
        ("docker://bitnami/redis", "docker.io/bitnami/redis", "latest", None, "registry-1.docker.io"),
        ("docker://index.docker.io/alpine", "index.docker.io/library/alpine", "latest", None, "registry-1.docker.io"),
        ("docker://127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b", "t", None, "127.0.0.1:5000"),
        ("docker://localhost/x", "localhost/x", "latest", None, "localhost"),
        ("docker://ghcr.io/o/r@" + D, "ghcr.io/o/r", None, D, "ghcr.io"),
        ("docker://quay.io/o/r:v1@" + D, "quay.io/o/r", "v1", D, "quay.io"),
        ("docker://[::1]:5000/x", "[::1]:5000/x", "latest", None, "[::1]:5000"),
        ("docker://reg.example/a__b/c-d.e", "reg.example/a__b/c-d.e", "latest", None, "reg.example"),
    ],
)
def test_references_normalise_like_docker_distribution(text: str, name: str, tag: str | None, digest: str | None, api: str) -> None:
    ref = parse_docker_reference(text)
    assert ref.name == name
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest
    assert ref.api_host == api
    assert ref.reference == (digest or tag)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("docker://", "empty registry reference"),
        ("docker://Alpine", "lower case"),
        ("docker://a:b:c", "invalid repository name"),
        ("docker://x@md5:abc", "cannot be verified"),
        ("docker://x@sha256:abc", "malformed sha256 digest"),
        ("docker://x:" + "t" * 129, "invalid tag"),
        ("docker://reg.example/../etc", "invalid repository name"),
        ("docker://reg.example/" + "a/" * 130 + "a", "longer than 255"),
    ],
)
def test_bad_references_are_usage_errors(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_docker_reference(text)
    assert needle in err.value.message


def test_challenges_parse_bearer_and_basic_and_survive_junk() -> None:
    [bearer] = parse_challenges(['Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"'])
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"}
    two = parse_challenges(['Basic realm="a \\"quoted\\"", Bearer realm="b",service=x'])
    assert [c.scheme for c in two] == ["basic", "bearer"]
    assert two[0].params["realm"] == 'a "quoted"'
    assert two[1].params == {"realm": "b", "service": "x"}
    assert parse_challenges(["", "===", '"' * 10000]) == []
    assert parse_challenges(["x" * 100_000])[0].scheme == "x" * 8192  # bounded


def _write_auth(path: Path, doc: dict) -> Path:  # type: ignore[type-arg]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_credentials_lookup_order_and_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert find_credentials("reg.example", "a/b") is None
    b64 = base64.b64encode(b"docker-user:docker-pw").decode()
    _write_auth(tmp_path / ".docker" / "config.json", {"auths": {"https://reg.example": {"auth": b64},
                                                                  "https://index.docker.io/v1/": {"auth": b64}}})
    got = find_credentials("reg.example", "a/b")
    assert got is not None and (got.username, got.password) == ("docker-user", "docker-pw")
    hub = find_credentials("docker.io", "library/alpine")
    assert hub is not None and hub.username == "docker-user"
    # containers auth.json wins over docker's config.json, and a repo-scoped key over the host key
    _write_auth(tmp_path / "cfg" / "containers" / "auth.json", {"auths": {
        "reg.example": {"auth": base64.b64encode(b"host-user:pw1").decode()},
        "reg.example/a": {"auth": base64.b64encode(b"ns-user:pw2").decode()}}})
    assert find_credentials("reg.example", "a/b").username == "ns-user"  # type: ignore[union-attr]
    assert find_credentials("reg.example", "c/d").username == "host-user"  # type: ignore[union-attr]
    explicit = _write_auth(tmp_path / "explicit.json", {"auths": {"reg.example": {"username": "u3", "password": "p3"}}})
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    assert find_credentials("reg.example", "a/b").username == "u3"  # type: ignore[union-attr]
    assert find_credentials("other.example", "x", authfile=explicit) is None
    with pytest.raises(UsageError, match="does not exist"):
        find_credentials("reg.example", "x", authfile=tmp_path / "missing.json")
    bad = _write_auth(tmp_path / "bad.json", {"auths": {"reg.example": {"auth": "!!!"}}})
    with pytest.raises(UsageError, match="not base64"):
        find_credentials("reg.example", "x", authfile=bad)
    assert "p3" not in repr(find_credentials("reg.example", "a/b"))  # secrets never in reprs


def test_credential_helper_is_used_when_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread server\n[ "$server" = reg.example ] || exit 1\n'
                      'echo \'{"ServerURL":"reg.example","Username":"helper-user","Secret":"helper-pw"}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    auth = _write_auth(tmp_path / "auth.json", {"credHelpers": {"reg.example": "fake"}, "credsStore": "absent"})
    got = find_credentials("reg.example", "a/b", authfile=auth)
    assert got is not None and (got.username, got.password, got.origin) == ("helper-user", "helper-pw", "docker-credential-fake")
    # credsStore names a helper that is not installed: no credentials, no error
    assert find_credentials("other.example", "a/b", authfile=auth) is None


def test_creds_flag_needs_a_user() -> None:
    assert parse_creds("alice:pw:with:colons").password == "pw:with:colons"
    with pytest.raises(UsageError):
        parse_creds(":pw")
    with pytest.raises(UsageError):
        parse_creds("alice")


def test_policy_docker_scopes_most_specific_first() -> None:
    assert _docker_scopes("reg.example:5000/ns/app:1.0") == [
        "reg.example:5000/ns/app:1.0", "reg.example:5000/ns/app", "reg.example:5000/ns", "reg.example:5000"]
    assert _docker_scopes("reg.example/app") == ["reg.example/app", "reg.example"]
