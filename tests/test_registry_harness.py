"""The registry test harness itself (tests/registry_server.py, tests/registry_fixtures.py),
checked with the stdlib and skopeo only: no inspectr code, so a harness bug cannot hide behind
a client bug."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from registry_server import FaultProxy, Registry, b64url_decode, tampered

pytestmark = pytest.mark.needs_registry

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
# docker-registry 2.8 answers 404 for an OCI manifest unless Accept admits OCI types.
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


def layout_ref(name: str) -> tuple[str, str, str]:
    """("oci:DIR:REF", REF, manifest digest) for the first tagged entry of fixtures/NAME."""
    index = json.loads((FIXTURES / name / "index.json").read_text())
    entry = index["manifests"][0]
    ref = entry["annotations"]["org.opencontainers.image.ref.name"]
    return f"oci:{FIXTURES / name}:{ref}", ref, entry["digest"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get(reg: Registry, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = reg.connection()
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def busybox(registry: Registry) -> tuple[str, str]:
    """oci-busybox pushed once to the plain registry as harness/busybox:latest -> (repo, digest)."""
    src, _ref, digest = layout_ref("oci-busybox")
    registry.push(src, "harness/busybox:latest")
    return "harness/busybox", digest


# ---- each registry answers ---------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [("registry", 200), ("registry_auth", 401), ("registry_tls", 200),
                                            ("registry_token", 401)])
def test_each_registry_answers_v2(request: pytest.FixtureRequest, name: str, expected: int) -> None:
    reg: Registry = request.getfixturevalue(name)
    assert reg.url.startswith("https://" if reg.tls else "http://") and reg.url.endswith(reg.host)
    status, headers, _ = get(reg, "/v2/")
    assert status == expected
    assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert reg.process is not None and reg.process.poll() is None


# ---- pushing keeps digests -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["oci-busybox", "oci-multiarch"])
def test_push_keeps_the_manifest_digest(registry: Registry, fixture: str) -> None:
    src, ref, digest = layout_ref(fixture)
    repo = f"harness/{fixture}"
    registry.push(src, f"{repo}:{ref}")
    # skopeo's view of what the registry serves ...
    assert sha256(registry.inspect_raw(f"{repo}:{ref}")) == digest
    # ... and the registry's own, by tag and by digest.
    for reference in (ref, digest):
        status, headers, body = get(registry, f"/v2/{repo}/manifests/{reference}", {"Accept": ACCEPT})
        assert status == 200
        assert headers["Docker-Content-Digest"] == digest == sha256(body)
    assert registry.manifest_path(repo, digest).read_bytes() == body


def test_storage_layout_keeps_manifests_and_blobs_in_one_blob_store(registry: Registry,
                                                                    busybox: tuple[str, str]) -> None:
    repo, digest = busybox
    manifest = json.loads(registry.manifest_path(repo, digest).read_bytes())
    assert registry.manifest_path(repo, digest) == registry.blob_data_path(digest)
    for desc in [manifest["config"], *manifest["layers"]]:
        data = registry.blob_data_path(desc["digest"]).read_bytes()
        assert sha256(data) == desc["digest"] and len(data) == desc["size"]
    with pytest.raises(FileNotFoundError):
        registry.manifest_path("harness/no-such-repo", digest)


def test_tampered_storage_is_served_as_is_and_restored(registry: Registry, busybox: tuple[str, str]) -> None:
    repo, digest = busybox
    manifest = json.loads(registry.manifest_path(repo, digest).read_bytes())
    layer = manifest["layers"][0]["digest"]
    with tampered(registry.blob_data_path(layer)) as original:
        status, headers, body = get(registry, f"/v2/{repo}/blobs/{layer}")
        # The registry does not re-hash on reads: same header, same size, other bytes.
        assert status == 200 and headers["Docker-Content-Digest"] == layer
        assert len(body) == len(original) and sha256(body) != layer
    assert sha256(get(registry, f"/v2/{repo}/blobs/{layer}")[2]) == layer


# ---- auth ------------------------------------------------------------------------------------


def test_auth_registry_challenges_and_accepts_basic_credentials(registry_auth: Registry) -> None:
    assert registry_auth.username == "inspectr" and registry_auth.password == "s3cret-pw"
    status, headers, _ = get(registry_auth, "/v2/")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="inspectr-test"'

    assert get(registry_auth, "/v2/", registry_auth.basic_auth_header())[0] == 200
    wrong = base64.b64encode(b"inspectr:wrong").decode()
    assert get(registry_auth, "/v2/", {"Authorization": f"Basic {wrong}"})[0] == 401

    # urllib's Basic handler answers the challenge on its own.
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, registry_auth.url, "inspectr", "s3cret-pw")
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(mgr))
    with opener.open(registry_auth.url + "/v2/", timeout=10) as resp:
        assert resp.status == 200

    src, ref, digest = layout_ref("oci-busybox")
    registry_auth.push(src, f"harness/busybox:{ref}")
    assert sha256(registry_auth.inspect_raw(f"harness/busybox:{ref}")) == digest


# ---- Bearer token auth ---------------------------------------------------------------------


def fetch_token(reg: Registry, scopes: list[str], auth: tuple[str, str] | None = None,
                service: str = "inspectr-test-registry") -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of GET <realm>?service=..&scope=.. (scope repeated), by hand."""
    assert reg.token_server is not None
    query = urllib.parse.urlencode([("service", service), *(("scope", s) for s in scopes)])
    req = urllib.request.Request(f"{reg.token_server.realm}?{query}")
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _sig = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))


@pytest.fixture(scope="module")
def token_busybox(registry_token: Registry) -> str:
    """oci-busybox pushed with credentials to public/busybox and private/busybox -> digest."""
    src, _ref, digest = layout_ref("oci-busybox")
    registry_token.push(src, "public/busybox:latest")
    registry_token.push(src, "private/busybox:latest")
    return digest


def test_token_registry_challenges_with_bearer(registry_token: Registry) -> None:
    server = registry_token.token_server
    assert server is not None and server.realm == server.url + "/token" and server.url.startswith("http://127.0.0.1:")
    status, headers, _ = get(registry_token, "/v2/")
    assert status == 401
    assert headers["WWW-Authenticate"] == f'Bearer realm="{server.realm}",service="inspectr-test-registry"'
    # Basic credentials are for the token server; the registry itself does not take them.
    assert get(registry_token, "/v2/", registry_token.basic_auth_header())[0] == 401


def test_token_registry_push_with_credentials(registry_token: Registry, token_busybox: str) -> None:
    # skopeo did the token dance with --dest-creds: Basic at the realm, Bearer at the registry.
    assert registry_token.creds == "inspectr:s3cret-pw"
    for repo in ("public/busybox", "private/busybox"):
        assert sha256(registry_token.inspect_raw(f"{repo}:latest")) == token_busybox
    assert registry_token.token_server is not None
    scopes = {scope for _path, scope in registry_token.token_server.requests}
    assert {"repository:public/busybox:pull,push", "repository:private/busybox:pull,push"} <= scopes


def test_token_anonymous_pull_of_public_repository(registry_token: Registry, token_busybox: str) -> None:
    server = registry_token.token_server
    assert server is not None
    status, body = fetch_token(registry_token, ["repository:public/busybox:pull"])
    assert status == 200 and body["token"] == body["access_token"] and body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    assert server.requests[-1] == ("/token", "repository:public/busybox:pull")
    header, claims = jwt_parts(body["token"])
    assert header == {"typ": "JWT", "alg": "ES256", "kid": server.kid}
    assert len(server.kid) == 59 and server.kid.count(":") == 11  # libtrust: 12 groups of 4
    assert claims["iss"] == "inspectr-test-issuer" and claims["aud"] == "inspectr-test-registry"
    assert claims["sub"] == "" and claims["exp"] - claims["iat"] == 300 and claims["nbf"] <= claims["iat"]
    assert claims["access"] == [{"type": "repository", "name": "public/busybox", "actions": ["pull"]}]

    auth = {"Authorization": f"Bearer {body['token']}", "Accept": OCI_MANIFEST}
    status, headers, manifest = get(registry_token, "/v2/public/busybox/manifests/latest", auth)
    assert status == 200 and sha256(manifest) == headers["Docker-Content-Digest"] == token_busybox
    # Without a token: challenged, with the scope the registry wants.
    status, headers, _ = get(registry_token, "/v2/public/busybox/manifests/latest", {"Accept": OCI_MANIFEST})
    assert status == 401
    assert 'scope="repository:public/busybox:pull"' in headers["WWW-Authenticate"]
    # Anonymous push is not granted even on public/*.
    status, body = fetch_token(registry_token, ["repository:public/busybox:pull,push"])
    assert jwt_parts(body["token"])[1]["access"] == [
        {"type": "repository", "name": "public/busybox", "actions": ["pull"]}]


def test_token_anonymous_pull_of_private_repository_is_refused(registry_token: Registry,
                                                               token_busybox: str) -> None:
    status, body = fetch_token(registry_token, ["repository:private/busybox:pull"])
    assert status == 200  # a token is issued, as on Docker Hub, but it grants nothing
    assert jwt_parts(body["token"])[1]["access"] == []
    status, headers, _ = get(registry_token, "/v2/private/busybox/manifests/latest",
                             {"Authorization": f"Bearer {body['token']}", "Accept": OCI_MANIFEST})
    assert status == 401 and 'error="insufficient_scope"' in headers["WWW-Authenticate"]

    # With credentials, repeated scope parameters: pull+push on both.
    status, body = fetch_token(registry_token, ["repository:private/busybox:pull",
                                                "repository:public/busybox:pull,push"], auth=("inspectr", "s3cret-pw"))
    assert status == 200
    claims = jwt_parts(body["token"])[1]
    assert claims["sub"] == "inspectr"
    assert claims["access"] == [{"type": "repository", "name": "private/busybox", "actions": ["pull"]},
                                {"type": "repository", "name": "public/busybox", "actions": ["pull", "push"]}]
    status, headers, manifest = get(registry_token, "/v2/private/busybox/manifests/latest",
                                    {"Authorization": f"Bearer {body['token']}", "Accept": OCI_MANIFEST})
    assert status == 200 and sha256(manifest) == token_busybox


def test_token_server_refuses_wrong_password_and_foreign_service(registry_token: Registry) -> None:
    status, body = fetch_token(registry_token, ["repository:public/busybox:pull"], auth=("inspectr", "wrong"))
    assert status == 401 and "token" not in body
    assert fetch_token(registry_token, ["repository:public/busybox:pull"], auth=("nobody", "s3cret-pw"))[0] == 401
    assert fetch_token(registry_token, ["repository:public/busybox:pull"], service="elsewhere")[0] == 400


def test_token_registry_verifies_signature_and_claims(registry_token: Registry, token_busybox: str) -> None:
    # The registry really checks the JWT: a flipped signature byte, a foreign audience or
    # issuer, or an expired token (beyond its 60 s leeway) are all invalid_token.
    server = registry_token.token_server
    assert server is not None
    access = [{"type": "repository", "name": "public/busybox", "actions": ["pull"]}]
    good = server.issue(access)
    head, claims, sig = good.split(".")
    raw_sig = bytearray(b64url_decode(sig))
    raw_sig[5] ^= 1
    forged = f"{head}.{claims}.{base64.urlsafe_b64encode(bytes(raw_sig)).rstrip(b'=').decode()}"
    bad = [forged, server.issue(access, audience="elsewhere"), server.issue(access, issuer="someone-else"),
           server.issue(access, ttl=-120)]
    path = "/v2/public/busybox/manifests/latest"
    assert get(registry_token, path, {"Authorization": f"Bearer {good}", "Accept": OCI_MANIFEST})[0] == 200
    for token in bad:
        status, headers, _ = get(registry_token, path, {"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST})
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]


# ---- TLS -------------------------------------------------------------------------------------


def test_tls_registry_verifies_with_the_test_ca_only(registry_tls: Registry) -> None:
    assert registry_tls.ca_pem is not None and registry_tls.cert_dir is not None
    assert (registry_tls.cert_dir / "ca.crt").read_bytes() == registry_tls.ca_pem.read_bytes()
    ctx = ssl.create_default_context(cafile=str(registry_tls.ca_pem))
    with urllib.request.urlopen(registry_tls.url + "/v2/", context=ctx, timeout=10) as resp:
        assert resp.status == 200
    # "localhost" is in the certificate too.
    with urllib.request.urlopen(f"https://localhost:{registry_tls.port}/v2/", context=ctx, timeout=10) as resp:
        assert resp.status == 200
    # Without the CA: a verification failure, not some other error.
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(registry_tls.url + "/v2/", context=ssl.create_default_context(), timeout=10)
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)

    src, ref, digest = layout_ref("oci-busybox")
    registry_tls.push(src, f"harness/busybox:{ref}")  # skopeo verifies against cert_dir
    assert sha256(registry_tls.inspect_raw(f"harness/busybox:{ref}")) == digest
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=true",
                          f"docker://{registry_tls.host}/harness/busybox:{ref}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "certificate" in out.stderr


# ---- FaultProxy ------------------------------------------------------------------------------


def test_proxy_passes_through_verbatim(fault_proxy: FaultProxy, busybox: tuple[str, str]) -> None:
    repo, digest = busybox
    via = fault_proxy.as_registry()
    direct_status, direct_headers, direct_body = get(fault_proxy.upstream, f"/v2/{repo}/manifests/latest",
                                                     {"Accept": ACCEPT})
    status, headers, body = get(via, f"/v2/{repo}/manifests/latest", {"Accept": ACCEPT})
    assert (status, body) == (direct_status, direct_body) and sha256(body) == digest
    for name in ("Content-Type", "Docker-Content-Digest", "Content-Length", "Docker-Distribution-Api-Version"):
        assert headers[name] == direct_headers[name]
    layer = json.loads(body)["layers"][0]["digest"]
    assert sha256(get(via, f"/v2/{repo}/blobs/{layer}")[2]) == layer
    assert get(via, f"/v2/{repo}/blobs/{layer}", method="HEAD")[0] == 200
    assert fault_proxy.requests == [("GET", f"/v2/{repo}/manifests/latest"), ("GET", f"/v2/{repo}/blobs/{layer}"),
                                    ("HEAD", f"/v2/{repo}/blobs/{layer}")]


def test_push_through_the_proxy(fault_proxy: FaultProxy) -> None:
    # Exercises uploads: POST, PATCH, PUT with query, Location pointing back at the proxy.
    src, ref, digest = layout_ref("oci-busybox")
    fault_proxy.as_registry().push(src, f"harness/via-proxy:{ref}")
    assert sha256(fault_proxy.upstream.inspect_raw(f"harness/via-proxy:{ref}")) == digest
    methods = {m for m, _ in fault_proxy.requests}
    assert {"POST", "PATCH", "PUT"} <= methods


def test_proxy_forwards_a_chunked_upload(fault_proxy: FaultProxy) -> None:
    # Clients streaming a blob of unknown length send it chunked; the proxy must de-chunk it.
    data = b"chunked blob " * 1000
    digest = sha256(data)
    conn = fault_proxy.as_registry().connection()
    try:
        conn.request("POST", "/v2/harness/chunked/blobs/uploads/", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 202
        location = resp.headers["Location"]
        # Absolute, built from the forwarded Host header: so it points at the proxy.
        assert location.startswith(fault_proxy.url + "/v2/harness/chunked/blobs/uploads/")
        path = location.removeprefix(fault_proxy.url)
        conn.request("PATCH", path, body=iter([data[:5000], data[5000:]]), encode_chunked=True,
                     headers={"Content-Type": "application/octet-stream"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 202 and resp.headers["Range"] == f"0-{len(data) - 1}"
        path = resp.headers["Location"].removeprefix(fault_proxy.url)
        conn.request("PUT", f"{path}&digest={digest}", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201 and resp.headers["Docker-Content-Digest"] == digest
    finally:
        conn.close()
    assert fault_proxy.upstream.blob_data_path(digest).read_bytes() == data


def test_proxy_flips_a_blob_byte(fault_proxy: FaultProxy, busybox: tuple[str, str]) -> None:
    repo, digest = busybox
    via = fault_proxy.as_registry()
    manifest = json.loads(get(via, f"/v2/{repo}/manifests/{digest}", {"Accept": ACCEPT})[2])
    layer = manifest["layers"][0]
    fault_proxy.tamper_blob.add(layer["digest"])
    status, headers, body = get(via, f"/v2/{repo}/blobs/{layer['digest']}")
    assert status == 200 and headers["Docker-Content-Digest"] == layer["digest"]
    assert int(headers["Content-Length"]) == len(body) == layer["size"]
    assert sha256(body) != layer["digest"]
    original = get(fault_proxy.upstream, f"/v2/{repo}/blobs/{layer['digest']}")[2]
    assert sum(a != b for a, b in zip(body, original)) == 1
    # Other blobs pass untouched.
    config = manifest["config"]["digest"]
    assert sha256(get(via, f"/v2/{repo}/blobs/{config}")[2]) == config


def test_proxy_flips_a_manifest_byte_and_lies_about_content_type(fault_proxy: FaultProxy,
                                                                 busybox: tuple[str, str]) -> None:
    repo, digest = busybox
    via = fault_proxy.as_registry()
    fault_proxy.tamper_manifest.add("latest")
    status, headers, body = get(via, f"/v2/{repo}/manifests/latest", {"Accept": ACCEPT})
    assert status == 200 and headers["Docker-Content-Digest"] == digest
    assert int(headers["Content-Length"]) == len(body) and sha256(body) != digest
    json.loads(body)  # still JSON: a client must notice by hashing, not by parsing
    # Only the tag is tampered; the digest reference is not.
    assert sha256(get(via, f"/v2/{repo}/manifests/{digest}", {"Accept": ACCEPT})[2]) == digest

    fault_proxy.wrong_content_type.add(digest)
    status, headers, body = get(via, f"/v2/{repo}/manifests/{digest}", {"Accept": ACCEPT})
    assert status == 200 and headers["Content-Type"].startswith("text/html") and sha256(body) == digest
    assert get(via, f"/v2/{repo}/manifests/{digest}", {"Accept": ACCEPT}, "HEAD")[1]["Content-Type"].startswith(
        "text/html")


def test_proxy_returns_queued_statuses_then_passes_through(fault_proxy: FaultProxy,
                                                           busybox: tuple[str, str]) -> None:
    repo, digest = busybox
    via = fault_proxy.as_registry()
    fault_proxy.fail_status["/manifests/"] = [503, 429]
    path = f"/v2/{repo}/manifests/{digest}"
    first, second, third = (get(via, path, {"Accept": ACCEPT}) for _ in range(3))
    assert first[0] == 503 and second[0] == 429
    assert second[1]["Retry-After"] == "0"
    assert third[0] == 200 and sha256(third[2]) == digest
    assert fault_proxy.fail_status["/manifests/"] == []
    assert get(via, "/v2/")[0] == 200  # paths not matching are never failed
    assert fault_proxy.counts()[("GET", path)] == 3


def test_proxy_forwards_auth_both_ways(registry_auth: Registry) -> None:
    # A proxy in front of the auth registry, to show challenges and credentials pass verbatim.
    with FaultProxy(registry_auth) as proxy:
        via = proxy.as_registry()
        status, headers, _ = get(via, "/v2/")
        assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="inspectr-test"'
        assert get(via, "/v2/", registry_auth.basic_auth_header())[0] == 200
