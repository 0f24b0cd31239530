"""Registry credentials: `--creds`, then auth files (containers auth.json and Docker's
config.json, plain `auths` entries), then credential helpers found on PATH."""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InspectrError, UsageError
from ..limits import Limits
from ..untrusted.jsonload import load_json
from ..userfiles import POLICY_MAX_BYTES, read_user_file

__all__ = ["Credentials", "find_credentials", "auth_files", "parse_creds"]

_HUB_KEYS = ("docker.io", "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io")
_HELPER_TIMEOUT_S = 20


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    origin: str  # where they came from, for error messages (never the secret)
    identity_token: bool = False  # password is an OAuth2 refresh token (credential helpers' <token>)

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials({self.username!r}, from {self.origin})"


def parse_creds(text: str) -> Credentials:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise UsageError("--creds: expected USERNAME[:PASSWORD] with a password, e.g. --creds alice:s3cret")
    return Credentials(user, password, "--creds")


def auth_files(authfile: Path | None = None) -> list[Path]:
    """Where credentials are looked up, most specific first (skopeo's order, then Docker's)."""
    if authfile is not None:
        return [authfile]
    out: list[Path] = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        out.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        out.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    out.append(Path(config_home) / "containers" / "auth.json")
    docker_config = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    out.append(Path(docker_config) / "config.json")
    return out


def _keys_for(domain: str, repository: str) -> list[str]:
    """auth.json keys that apply, most specific first: host/repo/…, host, then URL forms."""
    parts = repository.split("/")
    keys = [f"{domain}/{'/'.join(parts[:i])}" for i in range(len(parts), 0, -1)]
    hosts = list(_HUB_KEYS) if domain in _HUB_KEYS else [domain]
    for host in hosts:
        keys += [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    return keys


def _read_file(path: Path, limits: Limits) -> dict[str, Any] | None:
    if not os.path.lexists(path):
        return None
    data = read_user_file(path, "auth file", POLICY_MAX_BYTES)  # a regular file, capped: never a FIFO or /dev/zero
    try:
        doc = load_json(data, f"{path}: auth file", limits)
    except InspectrError as err:
        raise UsageError(err.message) from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: auth file is not a JSON object")
    return doc


def check_authfile(path: Path) -> None:
    """An --authfile the user named must exist and be a JSON object now, not only when a
    registry first asks for credentials (an anonymous pull never would, and a typo would pass)."""
    if _read_file(path, Limits()) is None:
        raise UsageError(f"{path}: --authfile does not exist")


def _from_entry(entry: Any, key: str, path: Path) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError(f"{path}: auths[{key!r}].auth is not base64 of USER:PASSWORD") from None
        if sep:
            return Credentials(user, password, f"{path} ({key})")
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(entry["username"], entry["password"], f"{path} ({key})")
    if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
        return Credentials("<token>", entry["identitytoken"], f"{path} ({key})", identity_token=True)
    return None


def _helper(name: str, server: str, path: Path) -> Credentials | None:
    """`docker-credential-NAME get`, when the helper is installed; its absence is not an error."""
    exe = shutil.which(f"docker-credential-{name}")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "get"], input=server.encode(), capture_output=True, timeout=_HELPER_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"{path}: credential helper docker-credential-{name} failed: {err}") from None
    if proc.returncode != 0:
        return None  # "credentials not found in native keychain": try the next source
    try:
        doc = json.loads(proc.stdout[: 1 << 20])
        user, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{path}: credential helper docker-credential-{name} printed no Username/Secret") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        return None
    origin = f"docker-credential-{name}"
    return Credentials(user, secret, origin, identity_token=user == "<token>")


def find_credentials(domain: str, repository: str, authfile: Path | None = None, limits: Limits = Limits()) -> Credentials | None:
    """The first credentials that apply to this repository, or None (anonymous)."""
    keys = _keys_for(domain, repository)
    for path in auth_files(authfile):
        doc = _read_file(path, limits)
        if doc is None:
            if authfile is not None:
                raise UsageError(f"{path}: --authfile does not exist")
            continue
        helpers: dict[str, Any] = doc["credHelpers"] if isinstance(doc.get("credHelpers"), dict) else {}
        for key in keys:
            if isinstance(helpers.get(key), str):
                got = _helper(helpers[key], key, path)
                if got is not None:
                    return got
        auths: dict[str, Any] = doc["auths"] if isinstance(doc.get("auths"), dict) else {}
        for key in keys:
            got = _from_entry(auths.get(key), key, path)
            if got is not None:
                return got
        if isinstance(doc.get("credsStore"), str):
            server = "https://index.docker.io/v1/" if domain in _HUB_KEYS else domain
            got = _helper(doc["credsStore"], server, path)
            if got is not None:
                return got
    return None
