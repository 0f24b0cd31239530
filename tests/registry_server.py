"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) started as a
subprocess on 127.0.0.1, filled with ``skopeo copy``, plus :class:`FaultProxy`, a small reverse
proxy that injects faults (flipped bytes, wrong Content-Type, queued error statuses), and
:class:`TokenServer`, a Docker token service (the Bearer flow of Docker Hub and ghcr) issuing
ES256 JWTs the registry really verifies.

Nothing here imports inspectr: the harness must stay an independent witness of what a registry
really sends.
"""

from __future__ import annotations

import atexit
import base64
import datetime
import hashlib
import http.client
import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

REGISTRY_BIN = "docker-registry"
SKOPEO_BIN = "skopeo"
START_DEADLINE = 15.0  # seconds until GET /v2/ must answer

# Every registry process still running; killed at interpreter exit if a test forgot stop().
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def missing_tools() -> list[str]:
    """Names of the binaries the harness needs that are not on PATH."""
    return [b for b in (REGISTRY_BIN, SKOPEO_BIN) if shutil.which(b) is None]


def free_port() -> int:
    """A port nobody listens on right now (bind 0, read it back, release it).

    There is a small race until the registry binds it; start_registry retries on EADDRINUSE.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass
class Registry:
    """A running docker-registry and everything a test needs to talk to it."""

    host: str  # "127.0.0.1:PORT", the form used in image references
    url: str  # "http://127.0.0.1:PORT" or "https://..."
    storage: Path  # filesystem driver root (rootdirectory)
    tls: bool = False
    ca_pem: Path | None = None  # CA that signed the server certificate (TLS only)
    cert_dir: Path | None = None  # dir with just ca.crt: containers tools' --cert-dir layout
    username: str | None = None
    password: str | None = None
    workdir: Path | None = None  # config, log, policy.json live here
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Bearer auth (start_registry(token=True)): the token service named in the challenge. The
    # username/password above are then the token service's Basic credentials.
    token_server: TokenServer | None = field(default=None, repr=False)

    # ---- talking to it ------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def creds(self) -> str | None:
        """"user:pass" for skopeo --creds, or None without auth."""
        if self.username is None:
            return None
        return f"{self.username}:{self.password}"

    def basic_auth_header(self) -> dict[str, str]:
        """{"Authorization": "Basic ..."} for this registry's user, {} without auth."""
        if self.username is None:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting only the test CA (None for plain http)."""
        if not self.tls:
            return None
        assert self.ca_pem is not None
        return ssl.create_default_context(cafile=str(self.ca_pem))

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        """A fresh stdlib connection to the registry (HTTPS with the test CA when tls)."""
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    # ---- filling it -----------------------------------------------------------------------

    def skopeo_args(self, prefix: str) -> list[str]:
        """Flags for skopeo to reach this registry; prefix is "dest" or "src" ("" for inspect)."""
        p = f"--{prefix}-" if prefix else "--"
        args: list[str] = []
        if self.tls:
            # Verify against the test CA: this also proves the TLS setup is sound.
            assert self.cert_dir is not None
            args += [f"{p}tls-verify=true", f"{p}cert-dir={self.cert_dir}"]
        else:
            args.append(f"{p}tls-verify=false")  # plain http needs this
        if self.creds is not None:
            args.append(f"{p}creds={self.creds}")
        else:
            args.append(f"{p}no-creds")  # never pick up credentials from the host's auth files
        return args

    def _skopeo_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.workdir is not None:
            # Isolate from ~/.docker/config.json and ${XDG_RUNTIME_DIR}/containers/auth.json.
            env["REGISTRY_AUTH_FILE"] = str(self.workdir / "auth.json")
        return env

    def _policy_args(self) -> list[str]:
        # Our own accept-anything policy: a fresh machine's /etc/containers/policy.json may differ.
        return ["--policy", str(self.workdir / "policy.json")] if self.workdir is not None else []

    def push(self, src: str, dest: str) -> None:
        """skopeo copy SRC docker://HOST/DEST, keeping manifests byte-for-byte.

        SRC: any skopeo source ("oci:/layout:ref", "oci-archive:/x.tar", ...); DEST: "repo:tag".
        --preserve-digests makes skopeo fail rather than rewrite a manifest, and --all copies
        every instance of an index so the index digest survives too.
        """
        cmd = [SKOPEO_BIN, *self._policy_args(), "copy", "--quiet", "--preserve-digests", "--all",
               *self.skopeo_args("dest"), src, f"docker://{self.host}/{dest}"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=self._skopeo_env(), timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"skopeo copy {src} -> {self.host}/{dest} failed ({out.returncode}):\n{out.stderr}")

    def inspect_raw(self, ref: str) -> bytes:
        """The manifest bytes the registry serves for "repo:tag" or "repo@digest" (via skopeo)."""
        cmd = [SKOPEO_BIN, *self._policy_args(), "inspect", "--raw", *self.skopeo_args(""),
               f"docker://{self.host}/{ref}"]
        out = subprocess.run(cmd, capture_output=True, env=self._skopeo_env(), timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"skopeo inspect {ref} failed: {out.stderr.decode(errors='replace')}")
        return out.stdout

    # ---- its storage (filesystem driver) ---------------------------------------------------

    def blob_data_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps the bytes of DIGEST (layers, configs and manifests
        alike): <storage>/docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data."""
        algo, hexpart = _split_digest(digest)
        return self.storage / "docker/registry/v2/blobs" / algo / hexpart[:2] / hexpart / "data"

    def manifest_path(self, repo: str, digest: str) -> Path:
        """The bytes of manifest DIGEST in REPO. Manifests are stored as ordinary blobs; the repo
        only holds a link file (_manifests/revisions/<algo>/<hex>/link), checked here so a test
        cannot tamper with a manifest the repo does not have."""
        algo, hexpart = _split_digest(digest)
        revisions = self.storage / "docker/registry/v2/repositories" / repo / "_manifests/revisions"
        link = revisions / algo / hexpart / "link"
        if not link.is_file():
            raise FileNotFoundError(f"{repo} has no manifest {digest} ({link} missing)")
        return self.blob_data_path(digest)

    # ---- stopping it ----------------------------------------------------------------------

    def stop(self) -> None:
        """Terminate the registry (SIGTERM, then SIGKILL after 5 s) and its token server.
        Idempotent."""
        if self.process is not None:
            _kill(self.process)
            self.process = None
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _split_digest(digest: str) -> tuple[str, str]:
    algo, sep, hexpart = digest.partition(":")
    if not sep or not re.fullmatch(r"[a-z0-9]+", algo) or not re.fullmatch(r"[0-9a-f]{32,}", hexpart):
        raise ValueError(f"not a digest: {digest!r}")
    return algo, hexpart


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    with _LIVE_LOCK:
        _LIVE.discard(proc)


@atexit.register
def _kill_all() -> None:
    # Safety net: no registry outlives the interpreter, even if a fixture's teardown never ran.
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            _kill(proc)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _die_with_parent() -> None:
    # Runs in the child before exec: SIGTERM when the parent thread dies (covers `kill -9
    # pytest`, which atexit cannot). Best effort; Linux only.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:  # noqa: BLE001
        pass


def stop_registry(registry: Registry) -> None:
    registry.stop()


@contextmanager
def tampered(path: Path) -> Iterator[bytes]:
    """Flip one byte of a stored file (same size) for the duration of the block, then restore
    it. Blobs are shared by every repository of a registry, so a session-scoped registry must
    get its bytes back. Yields the original bytes. docker-registry does not re-hash on reads:
    it serves the altered bytes with the original Docker-Content-Digest."""
    original = path.read_bytes()
    path.write_bytes(flip_manifest_byte(original) if path.stat().st_size < 64 * 1024 else flip_byte(original))
    try:
        yield original
    finally:
        path.write_bytes(original)


# ---- credentials and certificates -----------------------------------------------------------


def bcrypt_hash(password: str) -> str:
    """A $2b$ bcrypt hash docker-registry's htpasswd auth accepts (it uses Go's bcrypt, which
    takes $2a$/$2b$/$2y$). Cost 4: each authenticated request re-checks the hash, and the
    default cost 12 would add ~0.25 s per request."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves the stdlib in 3.13
            import crypt  # type: ignore[import-not-found,unused-ignore]

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
        if hashed and hashed.startswith("$2"):
            return str(hashed)
    except (ImportError, ValueError, OSError):
        pass
    # Fallback for Pythons without crypt (3.13+) or a libc without bcrypt: apache2-utils.
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        raise RuntimeError("cannot make a bcrypt hash: no crypt module with blowfish and no htpasswd")
    out = subprocess.run([htpasswd, "-nbB", "-C", "4", "x", password], capture_output=True, text=True, check=True)
    return out.stdout.strip().split(":", 1)[1]


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server cert for 127.0.0.1/localhost, EC P-256.

    Returns (ca_pem, server_cert_pem, server_key_pem). Extensions are what strict verifiers
    (Go's x509, OpenSSL with VERIFY_X509_STRICT) insist on: critical basicConstraints,
    keyUsage, SKI/AKI, serverAuth EKU, SANs (no reliance on the CN).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inspectr test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_pem = directory / "ca.pem"
    cert_pem = directory / "server.crt"
    key_pem = directory / "server.key"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key_pem.chmod(0o600)
    return ca_pem, cert_pem, key_pem


# ---- starting ------------------------------------------------------------------------------


def _config_yaml(storage: Path, port: int, *, htpasswd: Path | None, tls: tuple[Path, Path] | None,
                 token: TokenServer | None = None, token_roots: Path | None = None) -> str:
    # JSON is valid YAML, so json.dumps quotes paths safely.
    q = json.dumps
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",  # access log lines still go to the log file; useful when a test fails
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {q(str(storage))}",
        "  delete:",
        "    enabled: true",
        "  redirect:",
        "    disable: true",  # serve blob bytes itself (matters only for cloud drivers)
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",  # no background goroutine walking storage during tests
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {q(base64.b64encode(os.urandom(24)).decode())}",  # silences the random-secret warning
    ]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {q(str(tls[0]))}", f"    key: {q(str(tls[1]))}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: inspectr-test", f"    path: {q(str(htpasswd))}"]
    if token is not None:
        assert token_roots is not None
        lines += ["auth:", "  token:", f"    realm: {q(token.realm)}", f"    service: {q(token.service)}",
                  f"    issuer: {q(token.issuer)}", f"    rootcertbundle: {q(str(token_roots))}"]
    return "\n".join(lines) + "\n"


def _probe(reg: Registry) -> int | None:
    """Status of GET /v2/, or None while nothing answers."""
    try:
        conn = reg.connection(timeout=1.0)
        try:
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return None


def start_registry(tmp_dir: Path, *, auth: bool = False, tls: bool = False, token: bool = False,
                   username: str = "inspectr", password: str = "s3cret-pw") -> Registry:
    """Start docker-registry with filesystem storage under TMP_DIR; return once /v2/ answers.

    auth: htpasswd Basic auth for USERNAME/PASSWORD. tls: HTTPS with a fresh test CA.
    token: Bearer auth against a fresh TokenServer (Registry.token_server, stopped with the
    registry) whose Basic user is USERNAME/PASSWORD; anonymous clients may pull public/*.
    Raises RuntimeError (with the log tail) if it does not come up within START_DEADLINE.
    """
    if auth and token:
        raise ValueError("auth (htpasswd) and token are alternative auth configurations")
    binary = shutil.which(REGISTRY_BIN)
    if binary is None:
        raise RuntimeError(f"{REGISTRY_BIN} not installed (apt-get install docker-registry)")
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    storage = tmp_dir / "storage"
    storage.mkdir(exist_ok=True)
    (tmp_dir / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    (tmp_dir / "auth.json").write_text(json.dumps({"auths": {}}))

    htpasswd: Path | None = None
    if auth:
        htpasswd = tmp_dir / "htpasswd"
        htpasswd.write_text(f"{username}:{bcrypt_hash(password)}\n")

    ca_pem = cert_dir = None
    tls_pair: tuple[Path, Path] | None = None
    if tls:
        ca_pem, cert_pem, key_pem = make_tls_files(tmp_dir / "tls")
        tls_pair = (cert_pem, key_pem)
        cert_dir = tmp_dir / "certs.d"
        cert_dir.mkdir(exist_ok=True)
        shutil.copyfile(ca_pem, cert_dir / "ca.crt")  # only ca.crt: no client cert pair

    token_server: TokenServer | None = None
    token_roots: Path | None = None
    if token:
        token_server = TokenServer(username=username, password=password)
        token_roots = tmp_dir / "token-roots.pem"
        token_roots.write_bytes(token_server.root_cert_pem)
    try:
        reg = _start_process(binary, tmp_dir, storage, tls=tls_pair, ca_pem=ca_pem, cert_dir=cert_dir,
                             htpasswd=htpasswd, token=token_server, token_roots=token_roots,
                             username=username if auth or token else None,
                             password=password if auth or token else None)
    except BaseException:
        if token_server is not None:
            token_server.stop()
        raise
    reg.token_server = token_server  # only now: reg.stop() on a failed attempt must not stop it
    return reg


def _start_process(binary: str, tmp_dir: Path, storage: Path, *, tls: tuple[Path, Path] | None,
                   ca_pem: Path | None, cert_dir: Path | None, htpasswd: Path | None, token: TokenServer | None,
                   token_roots: Path | None, username: str | None, password: str | None) -> Registry:
    """Start the process on a free port (retried on EADDRINUSE); return once /v2/ answers."""
    log_path = tmp_dir / "registry.log"
    last_error = ""
    for _attempt in range(3):  # retry only when the free port got taken meanwhile
        port = free_port()
        config = tmp_dir / "config.yml"
        config.write_text(_config_yaml(storage, port, htpasswd=htpasswd, tls=tls, token=token,
                                       token_roots=token_roots))
        scheme = "https" if tls else "http"
        reg = Registry(host=f"127.0.0.1:{port}", url=f"{scheme}://127.0.0.1:{port}", storage=storage,
                       tls=tls is not None, ca_pem=ca_pem, cert_dir=cert_dir, username=username,
                       password=password, workdir=tmp_dir, log_path=log_path)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        reg.process = proc
        expected = 401 if htpasswd is not None or token is not None else 200
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            status = _probe(reg)
            if status == expected:
                return reg
            if status is not None:
                reg.stop()
                raise RuntimeError(f"registry at {reg.url} answered /v2/ with {status}, expected {expected}:\n"
                                   f"{reg.log_tail()}")
            time.sleep(0.05)
        timed_out = proc.poll() is None
        reg.stop()
        last_error = reg.log_tail()
        if timed_out or "address already in use" not in last_error:
            what = "did not answer /v2/ within %.0f s" % START_DEADLINE if timed_out else "exited"
            raise RuntimeError(f"docker-registry {what} ({reg.url}); log tail:\n{last_error}")
    raise RuntimeError(f"docker-registry could not bind a free port; log tail:\n{last_error}")


# --------------------------------------------------------------------------------------------
# TokenServer
# --------------------------------------------------------------------------------------------

TOKEN_SERVICE = "inspectr-test-registry"  # `service` in the registry's challenge and the tokens' aud
TOKEN_ISSUER = "inspectr-test-issuer"
TOKEN_TTL = 300  # seconds; docker-registry adds 60 s leeway to exp and nbf
PUBLIC_PREFIX = "public/"  # anonymous clients may pull repositories named public/...


def libtrust_key_id(public_key: Any) -> str:
    """docker/libtrust's ID of PUBLIC_KEY: base32 of the first 240 bits of sha256 over the DER
    SubjectPublicKeyInfo, in 12 groups of 4 joined by ':'. docker-registry's token verifier
    keys the public keys of its rootcertbundle by this ID and looks up a JWT's `kid` in it."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()  # 30 bytes: 48 chars, no padding
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Inverse of JWS base64url (no padding), e.g. to read a token's claims in a test."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """"repository:NAME:pull,push" -> ("repository", NAME, ["pull", "push"]); None if malformed.
    The name is everything between the first and the last ':' (names never hold a ':')."""
    typ, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not (sep and sep2 and typ and name):
        return None
    return typ, name, [a for a in actions.split(",") if a]


class TokenServer:
    """A Docker token service (https://distribution.github.io/distribution/spec/auth/token/)
    on 127.0.0.1, the Bearer flow Docker Hub and ghcr use:

        GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]   [Authorization: Basic]
        -> 200 {"token": JWT, "access_token": JWT, "expires_in": 300, "issued_at": RFC 3339}

    JWTs are ES256 with `kid` = libtrust key ID of the signing key, whose self-signed
    certificate (root_cert_pem) is the registry's rootcertbundle. Policy: anonymous clients get
    `pull` on public/* and nothing else; USERNAME/PASSWORD gets pull and push everywhere (and
    registry:catalog:*); wrong credentials -> 401; a missing or foreign service -> 400. Only
    requested actions are granted, as real token services do.
    """

    def __init__(self, *, username: str = "inspectr", password: str = "s3cret-pw", service: str = TOKEN_SERVICE,
                 issuer: str = TOKEN_ISSUER, ttl: int = TOKEN_TTL) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.username, self.password = username, password
        self.service, self.issuer, self.ttl = service, issuer, ttl
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = libtrust_key_id(self._key.public_key())
        # The registry only reads the public key out of this certificate (for `kid` lookup),
        # but it insists on a parseable certificate, not a bare key.
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inspectr test token signer")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.root_cert_pem: bytes = cert.public_bytes(serialization.Encoding.PEM)

        # ("/token", scopes joined by " ", as OAuth2 joins them; "" for none), one per GET.
        self.requests: list[tuple[str, str]] = []
        self.issued: list[dict[str, Any]] = []  # claim sets of the tokens sent, in order
        self._lock = threading.Lock()
        owner = self

        class Handler(_TokenHandler):
            server_owner = owner

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.realm = f"{self.url}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="TokenServer",
                                        daemon=True)
        self._thread.start()

    # ---- policy and minting ------------------------------------------------------------------

    def grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        """The `access` claim for USER (None: anonymous) asking for SCOPES."""
        granted: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue  # like Docker Hub: an unparseable scope just grants nothing
            typ, name, actions = parsed
            allowed: set[str] = set()
            if typ == "repository" and user is not None:
                allowed = {"pull", "push"}
            elif typ == "repository" and name.startswith(PUBLIC_PREFIX):
                allowed = {"pull"}
            elif typ == "registry" and name == "catalog" and user is not None:
                allowed = {"*"}
            have = granted.setdefault((typ, name), [])
            have += [a for a in actions if a in allowed and a not in have]
        # Resources with nothing granted are left out: the registry then answers 401.
        return [{"type": t, "name": n, "actions": a} for (t, n), a in granted.items() if a]

    def issue(self, access: list[dict[str, Any]], *, subject: str = "", ttl: int | None = None,
              audience: str | None = None, issuer: str | None = None) -> str:
        """A signed JWT with ACCESS; the overrides let tests mint expired or foreign tokens."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        claims = {"iss": issuer or self.issuer, "sub": subject, "aud": audience or self.service,
                  "exp": now + (self.ttl if ttl is None else ttl), "nbf": now, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode())
                                 for part in (header, claims))
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        # JWS wants the raw r||s (32 bytes each for P-256), not the DER SEQUENCE cryptography gives.
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        with self._lock:
            self.issued.append(claims)
        return f"{signing_input}.{_b64url(signature)}"

    def check_basic(self, authorization: str | None) -> tuple[bool, str | None]:
        """(ok, user) for an Authorization header; no header is ok and anonymous."""
        if authorization is None:
            return True, None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, None
        if sep and user == self.username and password == self.password:
            return True, user
        return False, None

    # ---- what tests use ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget recorded requests and issued tokens."""
        with self._lock:
            self.requests.clear()
            self.issued.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, path: str, scopes: list[str]) -> None:
        with self._lock:
            self.requests.append((path, " ".join(scopes)))


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    server_owner: TokenServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        # No OAuth2 POST flow (identity tokens): 404 is what distribution's client and
        # containers/image take as "fall back to GET". Not recorded in requests.
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send_json(404, {"details": "OAuth2 POST not supported; use GET"})

    def do_GET(self) -> None:
        owner = self.server_owner
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self._send_json(404, {"details": "not found"})
            return
        query = urllib.parse.parse_qs(url.query)
        # Each scope parameter may itself hold several space-separated scopes (OAuth2 style).
        scopes = [one for value in query.get("scope", []) for one in value.split()]
        owner._record(url.path, scopes)
        ok, user = owner.check_basic(self.headers.get("Authorization"))
        if not ok:
            self._send_json(401, {"details": "incorrect username or password"},
                            {"WWW-Authenticate": 'Basic realm="inspectr-test-token"'})
            return
        if query.get("service") != [owner.service]:
            self._send_json(400, {"details": f"service must be {owner.service!r}"})
            return
        token = owner.issue(owner.grant(user, scopes), subject=user or "")
        issued_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._send_json(200, {"token": token, "access_token": token, "expires_in": owner.ttl,
                              "issued_at": issued_at})


# --------------------------------------------------------------------------------------------
# FaultProxy
# --------------------------------------------------------------------------------------------

_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[a-z0-9]+:[0-9a-f]+)$")
# Hop-by-hop headers (RFC 9110 7.6.1) are per connection, not forwarded.
_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade"}
_CHUNK = 64 * 1024


def flip_manifest_byte(body: bytes) -> bytes:
    """Same length, different digest, still valid JSON: change the last hex digit of the last
    "sha256:..." in the document (so a client that skips digest verification would go on to
    ask for a blob that does not exist, rather than fail on a parse error). Falls back to
    flip_byte when there is no digest."""
    matches = list(re.finditer(rb"sha256:[0-9a-f]{64}", body))
    if not matches:
        return flip_byte(body)
    i = matches[-1].end() - 1
    new = b"0" if body[i:i + 1] != b"0" else b"1"
    return body[:i] + new + body[i + 1:]


def flip_byte(body: bytes, index: int | None = None) -> bytes:
    """BODY with one bit of one byte (the middle one by default) inverted."""
    if not body:
        return body
    i = len(body) // 2 if index is None else index
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]


class FaultProxy:
    """A threaded reverse proxy in front of a plain-http Registry that passes everything through
    verbatim (method, path, query, headers incl. Authorization and Host, body; status and
    headers back) except for the faults configured on it. Faults can be changed while it runs.

    Host is forwarded as the client sent it, so Location headers the registry builds (upload
    URLs) point back at the proxy.
    """

    def __init__(self, upstream: Registry) -> None:
        if upstream.tls:
            raise ValueError("FaultProxy fronts plain-http registries only")
        self.upstream = upstream
        self.tamper_manifest: set[str] = set()  # manifest refs (tag or digest): flip a byte
        self.tamper_blob: set[str] = set()  # blob digests: flip a byte
        self.truncate_blob: dict[str, int] = {}  # blob digest -> how many 200 replies to cut off halfway
        # path -> (body, content type) answered by the proxy itself: an OCI 1.1 referrers API in
        # front of docker-registry 2.8, which has none
        self.canned: dict[str, tuple[bytes, str] | tuple[bytes, str, dict[str, str]]] = {}  # + extra headers
        self.fail_status: dict[str, list[int]] = {}  # path substring -> statuses to answer first
        self.wrong_content_type: set[str] = set()  # manifest refs served as text/html
        self.requests: list[tuple[str, str]] = []  # (method, path without query), in order
        self._lock = threading.Lock()
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="FaultProxy", daemon=True)
        self._thread.start()

    # ---- what tests use ----------------------------------------------------------------------

    def as_registry(self) -> Registry:
        """The upstream Registry as seen through the proxy (host/url of the proxy), e.g. to
        push through it or build image references; its stop() leaves the upstream (and its
        token server, which clients reach directly via the challenge's realm) running."""
        return replace(self.upstream, host=self.host, url=self.url, process=None, token_server=None)

    def counts(self) -> Counter[tuple[str, str]]:
        """How many times each (method, path) was requested."""
        with self._lock:
            return Counter(self.requests)

    def reset(self) -> None:
        """Forget recorded requests and all configured faults."""
        with self._lock:
            self.requests.clear()
            self.tamper_manifest.clear()
            self.tamper_blob.clear()
            self.truncate_blob.clear()
            self.canned.clear()
            self.fail_status.clear()
            self.wrong_content_type.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- used by the handler -----------------------------------------------------------------

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def _next_fault_status(self, path: str) -> int | None:
        with self._lock:
            for needle, queue in self.fail_status.items():
                if needle in path and queue:
                    return queue.pop(0)
        return None


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive with clients; we always send Content-Length
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _read_request_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # Go clients upload blobs of unknown length chunked; de-chunk and send with a length.
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def _proxy(self) -> None:
        owner = self.owner
        path = self.path.split("?", 1)[0]
        owner._record(self.command, path)
        body = self._read_request_body()

        status = owner._next_fault_status(self.path)
        if status is not None:
            self._send_fault(status)
            return
        with owner._lock:
            canned = owner.canned.get(path)
        if canned is not None and self.command in ("GET", "HEAD"):
            self.send_response(200)
            self.send_header("Content-Type", canned[1])
            for name, value in (canned[2] if len(canned) > 2 else {}).items():  # type: ignore[misc]
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(canned[0])))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(canned[0])
            return

        up = owner.upstream
        conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP and name.lower() != "content-length":
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            self._relay(resp, path)
        finally:
            conn.close()

    def _send_fault(self, status: int) -> None:
        payload = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": f"injected fault {status}",
                                          "detail": None}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if status in (429, 503):
            self.send_header("Retry-After", "0")  # a client honouring it must not sleep in tests
        self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _relay(self, resp: http.client.HTTPResponse, path: str) -> None:
        owner = self.owner
        m = _MANIFEST_RE.match(path)
        b = _BLOB_RE.match(path)
        with owner._lock:
            tamper: Callable[[bytes], bytes] | None = None
            if m and m.group("ref") in owner.tamper_manifest:
                tamper = flip_manifest_byte
            elif b and b.group("digest") in owner.tamper_blob:
                tamper = flip_byte
            html = bool(m and m.group("ref") in owner.wrong_content_type)
            cut = bool(b and resp.status == 200 and owner.truncate_blob.get(b.group("digest"), 0) > 0)
            if cut:
                owner.truncate_blob[b.group("digest")] -= 1  # type: ignore[union-attr]
        has_body = self.command != "HEAD" and resp.status not in (204, 304) and not 100 <= resp.status < 200
        tamper = tamper if has_body and resp.status == 200 else None

        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
        length_hdr = resp.getheader("Content-Length")
        self.send_response_only(resp.status, resp.reason)
        for name, value in headers:
            if html and name.lower() == "content-type":
                value = "text/html; charset=utf-8"
            if name.lower() == "content-length" and has_body:
                continue  # set below from what is actually sent
            self.send_header(name, value)

        if not has_body:
            self.end_headers()
            resp.read()
            return
        if tamper is flip_byte and length_hdr is not None:
            # Stream big blobs: flip the byte at len//2 as it passes, never hold the whole body.
            total = int(length_hdr)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            target, offset = total // 2, 0
            while chunk := resp.read(_CHUNK):
                if offset <= target < offset + len(chunk):
                    chunk = flip_byte(chunk, target - offset)
                self.wfile.write(chunk)
                offset += len(chunk)
            return
        if cut and length_hdr is not None:
            # Promise the whole body, send half, hang up: a broken download mid-stream.
            self.send_header("Content-Length", length_hdr)
            self.end_headers()
            self.wfile.write(resp.read(int(length_hdr) // 2))
            self.wfile.flush()
            self.close_connection = True
            return
        if tamper is None and length_hdr is not None:
            self.send_header("Content-Length", length_hdr)
            self.end_headers()
            while chunk := resp.read(_CHUNK):
                self.wfile.write(chunk)
            return
        data = resp.read()  # manifests (small) or an upstream chunked reply
        if tamper is not None:
            data = tamper(data)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
