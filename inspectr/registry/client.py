"""A read-only OCI distribution API client over urllib3: manifests (digest recomputed and
checked against Docker-Content-Digest), streaming blobs verified into a file, the referrers
API, Bearer and Basic auth from challenges, TLS settings, redirects and retries.

urllib3 rather than raw sockets: connection pooling, TLS and chunked decoding are its job;
redirects and retries are handled here so auth headers never follow a redirect off-host.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import os
import re
import ssl
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Any

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError

from ..digest import Digest
from ..errors import (
    DigestMismatch,
    ImageNotFound,
    InspectrError,
    MalformedImage,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
    SizeLimitExceeded,
    SizeMismatch,
    UnsupportedMediaType,
)
from ..limits import Limits
from ..mediatypes import DOCKER_LIST, DOCKER_MANIFEST, DOCKER_V1_MANIFESTS, OCI_INDEX, OCI_MANIFEST
from ..untrusted.jsonload import load_json
from ..untrusted.www_auth import parse_challenges
from . import ClientPool, RegistryOptions  # plain values, defined where a local run can reach them cheaply
from .auth import Credentials, find_credentials

__all__ = ["RegistryOptions", "ClientPool", "RegistryClient", "BlobDownload", "FetchedManifest", "MANIFEST_ACCEPT"]

MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_MAX_SMALL_BODY = 1 << 20  # tokens, error bodies
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedManifest:
    data: bytes
    media_type: str
    digest: Digest


@dataclass
class _Auth:
    header: str | None = None  # Authorization value that worked for this scope
    tried: set[str] = field(default_factory=set)


def _ssl_context(host: str, options: RegistryOptions) -> ssl.SSLContext:
    """System CAs plus `*.crt` in the cert dir; `*.cert`+`*.key` pairs as client certificates
    (the containers-certs.d layout). Without --cert-dir, /etc/containers/certs.d/HOST and
    /etc/docker/certs.d/HOST are used when present, as skopeo and docker do."""
    ctx = ssl.create_default_context()
    if not options.tls_verify:
        # The user turned verification off on purpose; urllib3's per-request warning is noise.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    dirs = [options.cert_dir] if options.cert_dir is not None else [
        Path("/etc/containers/certs.d") / host, Path("/etc/docker/certs.d") / host]
    for d in dirs:
        if d is None or not d.is_dir():
            if options.cert_dir is not None:
                raise RegistryUnreachable(f"--cert-dir {d}: not a directory")
            continue
        try:
            for path in sorted(d.iterdir()):
                if path.suffix == ".crt":
                    ctx.load_verify_locations(cafile=str(path))
                elif path.suffix == ".cert":
                    key = path.with_suffix(".key")
                    if not key.is_file():
                        raise RegistryUnreachable(f"{path}: client certificate without {key.name}")
                    ctx.load_cert_chain(str(path), str(key))
        except (ssl.SSLError, OSError) as err:
            raise RegistryUnreachable(f"{d}: cannot load certificates: {err}") from None
    return ctx


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _proxy_for(scheme: str, host: str, port: int | None) -> str | None:
    """The proxy URL the environment names for this URL, or None (NO_PROXY, or none set)."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme)
    if not proxy or _loopback(host):  # as Go's ProxyFromEnvironment: loopback never goes through a proxy
        return None
    for entry in (e.strip().lower() for e in proxies.get("no", "").split(",")):
        name, _, entry_port = entry.partition(":") if not entry.startswith("[") else (entry, "", "")
        if entry == "*" or (name and (host == name.lstrip(".") or host.endswith("." + name.lstrip(".")))
                            and (not entry_port or entry_port == str(port))):
            return None  # NO_PROXY: a host, a domain suffix (with or without a leading dot), or host:port
    return proxy if "://" in proxy else f"http://{proxy}"


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _describe(err: BaseException) -> str:
    """urllib3 wraps the useful cause several levels deep; find the most specific text."""
    seen: list[str] = []
    cur: BaseException | None = err
    while cur is not None and len(seen) < 6:
        reason = getattr(cur, "reason", None)
        seen.append(str(cur))
        cur = reason if isinstance(reason, BaseException) else cur.__cause__ or cur.__context__
    text = seen[-1]
    for marker in ("CERTIFICATE_VERIFY_FAILED", "Connection refused", "timed out", "Name or service not known",
                   "WRONG_VERSION_NUMBER", "No route to host"):
        if any(marker in s for s in seen):
            return {"CERTIFICATE_VERIFY_FAILED": "TLS certificate verification failed",
                    "WRONG_VERSION_NUMBER": "TLS handshake failed (is the registry plain HTTP?)"}.get(marker, marker.lower())
    return text[:200]


class RegistryClient:
    """One registry host. Not thread-safe; one per process (see client_for)."""

    def __init__(self, host: str, options: RegistryOptions = RegistryOptions(), limits: Limits = Limits()) -> None:
        self.host = host
        self.options = options
        self.limits = limits
        self._scheme = "https"
        self._ssl = _ssl_context(host, options)
        self._pools: dict[tuple[str, str | None], urllib3.PoolManager] = {}
        self._auth: dict[str, _Auth] = {}
        self._creds: dict[str, Credentials | None] = {}

    # -- transport -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._scheme}://{self.host}{path}"

    def _timeout(self) -> urllib3.Timeout:
        return urllib3.Timeout(connect=self.options.connect_timeout_s, read=self.options.read_timeout_s)

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        """A pool per scheme and proxy. HTTPS_PROXY/HTTP_PROXY/NO_PROXY (either case) are honoured
        as curl and Go do: https goes through a CONNECT tunnel, so the proxy sees no credentials."""
        parts = urllib.parse.urlsplit(url)
        proxy = _proxy_for(parts.scheme, parts.hostname or "", parts.port)
        key = (parts.scheme, proxy)
        pool = self._pools.get(key)
        if pool is None:
            ctx = self._ssl if parts.scheme == "https" else None
            if proxy:
                pool = urllib3.ProxyManager(proxy, num_pools=4, maxsize=4, ssl_context=ctx)
            else:
                pool = urllib3.PoolManager(num_pools=4, maxsize=4, ssl_context=ctx)
            self._pools[key] = pool
        return pool

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        pool = self._pool_for(url)
        return pool.request(method, url, headers=headers, body=body, redirect=False, retries=False,
                            preload_content=False, timeout=self._timeout())

    def _send_retrying(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        """Retries connection failures and 429/5xx with exponential backoff (Retry-After honoured, capped)."""
        attempt = 0
        while True:
            try:
                resp = self._send(method, url, headers, body)
            except SSLError as err:
                on_registry = urllib.parse.urlsplit(url).netloc == self.host
                if not self.options.tls_verify and on_registry and url.startswith("https://") and self._scheme == "https":
                    # --tls-verify=false also allows plain HTTP, as skopeo does
                    self._scheme = "http"
                    url = "http://" + url[len("https://"):]
                    continue
                raise RegistryUnreachable(
                    f"docker://{self.host}: {_describe(err)}",
                    hint="give the registry's CA with --cert-dir DIR (a directory holding ca.crt); "
                         "--tls-verify=false only for a registry you trust",
                ) from None
            except Urllib3Error as err:
                why = _describe(err)
                if attempt >= self.options.retries or "refused" in why or "not known" in why:  # permanent: no retry
                    raise RegistryUnreachable(f"docker://{self.host}: cannot connect: {why}") from None
                self._sleep(attempt, None)
                attempt += 1
                continue
            if resp.status in _RETRY_STATUS and attempt < self.options.retries:
                retry_after = resp.headers.get("Retry-After")
                resp.drain_conn()
                resp.release_conn()
                self._sleep(attempt, retry_after)
                attempt += 1
                continue
            return resp

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.options.backoff_s * (2 ** attempt)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 10.0))

    def request(self, method: str, path: str, repo: str, headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        """One API call with auth (answering a 401 challenge once), redirects and retries.
        The Authorization header is sent only to the registry host, never after a redirect off it."""
        headers = dict(headers or {})
        headers.setdefault("User-Agent", "inspectr")
        headers.setdefault("Accept-Encoding", "identity")
        scope = f"repository:{repo}:pull" if repo else ""
        state = self._auth.setdefault(scope, _Auth())
        for _ in range(2):
            send = dict(headers)
            if state.header:
                send["Authorization"] = state.header
            resp = self._follow(method, self._url(path), send)
            if resp.status != 401:
                return resp
            challenges = parse_challenges(resp.headers.getlist("WWW-Authenticate"))
            resp.drain_conn()
            resp.release_conn()
            new = self._answer(challenges, repo, scope, state)
            if new is None:
                break
            state.header = new
        creds = self._credentials(repo)
        if creds is None:
            raise RegistryAuthError(
                f"docker://{self.host}/{repo}: authentication required (HTTP 401) and no credentials found",
                hint="give --creds USER:PASSWORD or --authfile FILE, or log in with skopeo/podman/docker login",
            )
        raise RegistryAuthError(f"docker://{self.host}/{repo}: credentials from {creds.origin} were refused (HTTP 401)")

    def _follow(self, method: str, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        origin = urllib.parse.urlsplit(url)[:2]
        for _ in range(_MAX_REDIRECTS + 1):
            resp = self._send_retrying(method, url, headers)
            if resp.status not in _REDIRECT_STATUS:
                return resp
            location = resp.headers.get("Location")
            resp.drain_conn()
            resp.release_conn()
            if not location:
                raise RegistryError(f"docker://{self.host}: HTTP {resp.status} redirect without Location")
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url)[:2] != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise RegistryError(f"docker://{self.host}: redirect to unsupported URL scheme")
        raise RegistryError(f"docker://{self.host}: more than {_MAX_REDIRECTS} redirects")

    # -- auth ------------------------------------------------------------------------------

    def _credentials(self, repo: str) -> Credentials | None:
        if self._creds.get(repo) is None:  # a miss is looked up again: auth files may appear meanwhile
            self._creds[repo] = self.options.creds or find_credentials(self.host, repo, self.options.authfile, self.limits)
        return self._creds[repo]

    def _answer(self, challenges: list[Any], repo: str, scope: str, state: _Auth) -> str | None:
        """The Authorization value that answers the challenge, or None if there is nothing new to try."""
        creds = self._credentials(repo)
        for ch in challenges:
            if ch.scheme == "bearer" and ch.params.get("realm"):
                key = f"bearer:{ch.params.get('scope', scope)}"
                if key in state.tried:
                    return None
                state.tried.add(key)
                return f"Bearer {self._token(ch.params, scope, creds, repo)}"
            if ch.scheme == "basic":
                if creds is None or creds.identity_token or "basic" in state.tried:
                    return None
                state.tried.add("basic")
                raw = f"{creds.username}:{creds.password}".encode()
                return "Basic " + base64.b64encode(raw).decode()
        if not challenges:
            raise RegistryAuthError(f"docker://{self.host}/{repo}: HTTP 401 without a WWW-Authenticate challenge")
        return None

    def _token(self, params: dict[str, str], scope: str, creds: Credentials | None, repo: str) -> str:
        realm = params["realm"]
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise RegistryAuthError(f"docker://{self.host}: token realm {realm[:100]!r} is not an http(s) URL")
        # Credentials go in clear text only to the registry's own host name, or when the user
        # allowed plain HTTP with --tls-verify=false; to any https realm otherwise.
        same_host = parts.hostname == urllib.parse.urlsplit(f"//{self.host}").hostname
        send_creds = creds is not None and (parts.scheme == "https" or same_host or not self.options.tls_verify)
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        want_scope = params.get("scope") or scope
        if want_scope:
            query["scope"] = want_scope
        headers = {"User-Agent": "inspectr", "Accept-Encoding": "identity"}
        body: bytes | None = None
        method = "GET"
        if send_creds and creds is not None and creds.identity_token:
            method = "POST"
            form = dict(query, grant_type="refresh_token", refresh_token=creds.password, client_id="inspectr")
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif send_creds and creds is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        url = realm if method == "POST" else realm + ("&" if parts.query else "?") + urllib.parse.urlencode(query)
        resp = self._send_retrying(method, url, headers, body)
        data = self._small_body(resp)
        if resp.status in (401, 403):
            who = f"credentials from {creds.origin}" if creds else "anonymous access"
            raise RegistryAuthError(f"docker://{self.host}/{repo}: token server refused {who} (HTTP {resp.status})",
                                    hint="give --creds USER:PASSWORD or --authfile FILE" if creds is None else None)
        if resp.status != 200:
            raise RegistryError(f"docker://{self.host}: token server answered HTTP {resp.status}")
        doc = load_json(data, f"docker://{self.host}: token response", self.limits)
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n"):
            raise RegistryError(f"docker://{self.host}: token response holds no token")
        return token

    # -- bodies and errors -----------------------------------------------------------------

    def _small_body(self, resp: urllib3.BaseHTTPResponse, cap: int = _MAX_SMALL_BODY) -> bytes:
        # Never decoded: inspectr asks for no Content-Encoding, and one it did not ask for could
        # be a decompression bomb.
        encoding = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            resp.drain_conn()
            resp.release_conn()
            raise RegistryError(f"docker://{self.host}: response with Content-Encoding {encoding[:40]!r}, which inspectr did not ask for")
        try:
            data = resp.read(cap + 1, decode_content=False)
        except Urllib3Error as err:
            raise RegistryUnreachable(f"docker://{self.host}: connection failed while reading: {_describe(err)}") from None
        finally:
            resp.release_conn()
        if len(data) > cap:
            raise SizeLimitExceeded(f"docker://{self.host}: response larger than {cap} bytes")
        return data

    def _error(self, resp: urllib3.BaseHTTPResponse, what: str) -> InspectrError:
        """An error for a non-2xx answer, with the registry's own error code when it sent one."""
        try:
            data = self._small_body(resp, 64 << 10)
            doc = load_json(data, what, self.limits)
            first = doc["errors"][0]
            code = "".join(c for c in str(first.get("code", ""))[:40] if c.isalnum() or c == "_")
            detail = f": {code}" if code else ""
        except (InspectrError, KeyError, IndexError, TypeError, AttributeError):
            detail = ""
        if resp.status == 404:
            return ImageNotFound(f"{what}: not found (HTTP 404{detail})")
        if resp.status in (401, 403):
            return RegistryAuthError(f"{what}: access denied (HTTP {resp.status}{detail})")
        return RegistryError(f"{what}: registry answered HTTP {resp.status}{detail}")

    # -- API -------------------------------------------------------------------------------

    def ping(self) -> None:
        resp = self.request("GET", "/v2/", "")
        if resp.status != 200:
            raise self._error(resp, f"docker://{self.host}/v2/")
        resp.drain_conn()
        resp.release_conn()

    def get_manifest(self, repo: str, reference: str, what: str | None = None, optional: bool = False) -> FetchedManifest | None:
        """GET a manifest by tag or digest. Verified: the digest is recomputed from the bytes,
        and must equal the requested digest and the Docker-Content-Digest header when given."""
        what = what or f"docker://{self.host}/{repo}{'@' if ':' in reference else ':'}{reference}"
        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", repo, {"Accept": ", ".join(MANIFEST_ACCEPT)})
        if resp.status == 404 and optional:
            resp.drain_conn()
            resp.release_conn()
            return None
        if resp.status != 200:
            raise self._error(resp, what)
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.limits.max_json_bytes:
            resp.drain_conn()
            resp.release_conn()
            raise SizeLimitExceeded(f"{what}: manifest is {declared} bytes, over max_json_bytes")
        content_type = _media_type(resp.headers.get("Content-Type"))
        header_digest = resp.headers.get("Docker-Content-Digest")
        data = self._small_body(resp, self.limits.max_json_bytes)
        want = Digest.parse(reference, what) if ":" in reference else None
        algorithm = want.algorithm if want is not None else "sha256"
        got = Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
        if want is not None and got != want:
            raise DigestMismatch(f"{what}: registry sent a manifest whose digest is {got}",
                                 hint="the registry or something between it and you altered the manifest")
        if header_digest:
            try:
                claimed = Digest.parse(header_digest.strip(), f"{what}: Docker-Content-Digest")
            except MalformedImage as err:
                raise RegistryError(err.message) from None
            if claimed.verifiable:
                actual = Digest(claimed.algorithm, hashlib.new(claimed.algorithm, data).hexdigest())
                if actual != claimed:
                    raise DigestMismatch(f"{what}: Docker-Content-Digest says {claimed}, the bytes hash to {actual}",
                                         hint="the registry or something between it and you altered the manifest")
        doc = load_json(data, f"{what}: manifest", self.limits)
        body_type = doc.get("mediaType") if isinstance(doc, dict) else None
        if content_type in DOCKER_V1_MANIFESTS or body_type in DOCKER_V1_MANIFESTS:
            raise UnsupportedMediaType(f"{what}: Docker schema 1 manifests are not supported")
        if content_type not in MANIFEST_ACCEPT:
            if content_type in ("application/json", "") and body_type in MANIFEST_ACCEPT:
                content_type = body_type  # old registries label manifests plain JSON
            else:
                shown = "".join(c for c in content_type[:80] if c.isprintable())
                raise UnsupportedMediaType(f"{what}: registry served media type {shown!r}, not an image manifest or index")
        if isinstance(body_type, str) and body_type != content_type:
            raise MalformedImage(f"{what}: Content-Type {content_type} disagrees with the manifest's mediaType {body_type[:80]!r}")
        return FetchedManifest(data, content_type, got)

    def read_small_blob(self, repo: str, digest: Digest, size: int | None, dest: Path, what: str) -> bytes:
        """A config or other small blob, verified, as bytes; kept at `dest` too when the cache
        can be written. Anything over max_json_bytes is refused: large blobs are streamed."""
        cap = self.limits.max_json_bytes
        if size is not None and size > cap:
            raise SizeLimitExceeded(f"{what}: {size} bytes, over max_json_bytes={cap}")
        parts: list[bytes] = []
        got = 0
        with BlobDownload(self, repo, digest, size, dest, what) as reader:
            while chunk := reader.read(_CHUNK):
                got += len(chunk)
                if got > cap:
                    raise SizeLimitExceeded(f"{what}: more than max_json_bytes={cap}")
                parts.append(chunk)
        return b"".join(parts)

    def open_blob(self, repo: str, digest: Digest, offset: int = 0) -> urllib3.BaseHTTPResponse:
        """GET a blob (from `offset`, with a Range request); the caller checks the status."""
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", repo, headers)

    def referrers(self, repo: str, digest: Digest, max_pages: int = 10) -> bytes | None:
        """The referrers API's index for `digest`, or None when the registry does not offer it.
        `Link: <…>; rel="next"` pages on the same registry are followed (at most `max_pages`)
        and merged into one index."""
        path = f"/v2/{repo}/referrers/{digest}"
        pages: list[bytes] = []
        for _ in range(max_pages):
            resp = self.request("GET", path, repo, {"Accept": OCI_INDEX})
            if resp.status in (404, 405, 400) and not pages:
                resp.drain_conn()
                resp.release_conn()
                return None
            if resp.status != 200:
                raise self._error(resp, f"docker://{self.host}/{repo}: referrers of {digest}")
            content_type = _media_type(resp.headers.get("Content-Type"))
            link = resp.headers.get("Link", "")
            data = self._small_body(resp, self.limits.max_json_bytes)
            if content_type != OCI_INDEX:
                if pages:
                    break
                return None  # an HTML page or a registry without the API: use the tag schema instead
            pages.append(data)
            m = re.search(r'<(/v2/[^>\s]*)>\s*;\s*rel="?next"?', link[:2048])  # only a path on this registry
            if m is None:
                break
            path = m.group(1)
        if len(pages) == 1:
            return pages[0]
        merged: list[Any] = []
        for i, page in enumerate(pages):
            doc = load_json(page, f"docker://{self.host}/{repo}: referrers page {i + 1}", self.limits)
            if isinstance(doc, dict) and isinstance(doc.get("manifests"), list):
                merged += doc["manifests"]
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": merged}).encode()

    def _listing(self, path: str, repo: str, field_name: str, what: str, max_items: int) -> list[str]:
        """A paginated name list (`_catalog`, `tags/list`): `Link` pages on this registry are
        followed until `max_items` names, so a hostile registry cannot make the list unbounded."""
        names: list[str] = []
        next_path: str | None = f"{path}?n=1000"
        while next_path is not None and len(names) < max_items:
            resp = self.request("GET", next_path, repo)
            if resp.status != 200:
                raise self._error(resp, what)
            link = resp.headers.get("Link", "")
            doc = load_json(self._small_body(resp, self.limits.max_json_bytes), what, self.limits)
            items = doc.get(field_name) if isinstance(doc, dict) else None
            if items is None:
                items = []  # distribution answers {"tags": null} for a repository with no tags
            if not isinstance(items, list) or not all(isinstance(n, str) for n in items):
                raise RegistryError(f"{what}: {field_name!r} is not a list of names")
            names += items
            m = re.search(r'<(/v2/[^>\s]*)>\s*;\s*rel="?next"?', link[:2048])  # only a path on this registry
            next_path = m.group(1) if m and items else None
        return names[:max_items]

    def catalog(self, max_items: int = 10000) -> list[str]:
        """The repositories `GET /v2/_catalog` lists (at most `max_items`)."""
        return self._listing("/v2/_catalog", "", "repositories", f"docker://{self.host}/v2/_catalog", max_items)

    def tags(self, repo: str, max_items: int = 10000) -> list[str]:
        """The tags of one repository (`GET /v2/REPO/tags/list`, at most `max_items`)."""
        return self._listing(f"/v2/{repo}/tags/list", repo, "tags", f"docker://{self.host}/{repo}: tags", max_items)


class BlobDownload(io.RawIOBase):
    """Reads a blob from the registry while teeing it into a temp file beside `dest`. At EOF
    the size and digest are checked and the file is renamed to `dest`; closed early or on a
    mismatch, the temp file is removed. So a consumer (the layer indexer) and the cache share one
    download. A stream that breaks is resumed with a Range request (or re-read and skipped to
    the same offset when the registry ignores Range)."""

    def __init__(self, client: RegistryClient, repo: str, digest: Digest, size: int | None, dest: Path, what: str) -> None:
        super().__init__()
        self._client, self._repo, self._digest, self._size, self._dest, self._what = client, repo, digest, size, dest, what
        self._cap = size if size is not None else client.limits.max_blob_bytes
        self._hash = digest.hasher()
        self._n = 0
        self._attempt = 0
        self._done = False
        # The tee into the cache is a saving, never a condition: a read-only or full cache dir
        # only means the blob is not kept (the stream itself is still verified to its end).
        self._tmp: str | None = None
        self._out: BinaryIO | None = None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=".part-", dir=dest.parent)
            self._out = os.fdopen(fd, "wb")
        except OSError:
            self._drop_tee()
        self._resp: urllib3.BaseHTTPResponse | None = None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        resp = self._client.open_blob(self._repo, self._digest, self._n)
        if resp.status == 200 and self._n:
            skip = self._n  # no Range support: read past what we already have
            while skip > 0:
                chunk = resp.read(min(skip, _CHUNK), decode_content=False)
                if not chunk:
                    break
                skip -= len(chunk)
        elif resp.status not in (200, 206):
            raise self._client._error(resp, self._what)
        self._resp = resp

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)

    def read(self, n: int | None = -1) -> bytes:
        """Returns the registry's chunk itself: RawIOBase.read would allocate (and page-fault)
        a fresh buffer per call and copy into it, a third of this reader's CPU time."""
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        if self._done:
            return b""
        want = min(n, _CHUNK)
        while True:
            assert self._resp is not None
            try:
                chunk = self._resp.read(want, decode_content=False)
            except Urllib3Error as err:
                self._retry(f"connection broke while reading: {_describe(err)}")
                continue
            if chunk:
                break
            if self._size is not None and self._n < self._size:
                self._retry(f"registry sent {self._n} of {self._size} bytes")
                continue
            self._finish()
            return b""
        self._n += len(chunk)
        if self._n > self._cap:
            raise (SizeMismatch(f"{self._what}: registry sent more than the {self._size} bytes the descriptor gives")
                   if self._size is not None else SizeLimitExceeded(f"{self._what}: blob exceeds max_blob_bytes"))
        self._hash.update(chunk)
        if self._out is not None:
            try:
                self._out.write(chunk)
            except OSError:  # the cache's disk filled up: keep streaming, stop keeping
                self._drop_tee()
        if self._n == self._size:
            self._finish()  # commit now: a reader that takes exactly `size` bytes never asks again
        return chunk

    def _retry(self, why: str) -> None:
        if self._resp is not None:
            self._resp.release_conn()
        if self._attempt >= self._client.options.retries:
            raise SizeMismatch(f"{self._what}: {why}")
        self._client._sleep(self._attempt, None)
        self._attempt += 1
        self._connect()

    def _finish(self) -> None:
        if self._hash.hexdigest() != self._digest.encoded:
            raise DigestMismatch(
                f"{self._what}: registry sent bytes whose digest is {self._digest.algorithm}:{self._hash.hexdigest()}, not {self._digest}",
                hint="the registry or something between it and you altered the blob")
        if self._out is not None and self._tmp is not None:
            try:
                self._out.close()
                os.replace(self._tmp, self._dest)
            except OSError:
                self._drop_tee()
        self._done = True

    def close(self) -> None:
        if self.closed:
            return
        if self._resp is not None:
            self._resp.release_conn()
        if not self._done:
            self._drop_tee()
        elif self._out is not None and not self._out.closed:
            self._out.close()
        super().close()

    def _drop_tee(self) -> None:
        """Stop writing to the cache and remove the partial file, if any."""
        out, tmp = self._out, self._tmp
        self._out, self._tmp = None, None
        if out is not None:
            try:
                out.close()
            except OSError:
                pass
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
