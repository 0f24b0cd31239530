"""`docker://` references against a real registry (Debian's docker-registry, started by the
fixtures in registry_fixtures.py), with images pushed by skopeo: every command gives the same
result as on the image's OCI layout; auth, TLS, tampering, retries, the cache, signatures
and `pull`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import os
import urllib.request
from pathlib import Path

import pytest

from clirun import run, run_main
from registry_server import FaultProxy, Registry, tampered

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"
SIG = FIX / "signatures"
IDENTITY = "registry.example.com/inspectr/test:1.0"
SIGNED = "sha256:0454bf75f9bf9d40379ece6254bb1408ec6f0013f2ed7f1efd30a6cd77fac00d"
SIG_TAG = SIGNED.replace(":", "-")


def flags(reg: Registry) -> list[str]:
    out = ["--tls-verify=false"] if not reg.tls else ["--cert-dir", str(reg.cert_dir)]
    if reg.creds:
        out += ["--creds", reg.creds]
    return out


_pushed: set[tuple[str, str, str]] = set()


def pushed(reg: Registry, src: str, dest: str) -> str:
    """Push once per session and registry; the docker:// reference."""
    key = (reg.host, src, dest)
    if key not in _pushed:
        reg.push(src, dest)
        _pushed.add(key)
    return f"docker://{reg.host}/{dest}"


def busybox(reg: Registry) -> str:
    return pushed(reg, f"oci:{FIX / 'oci-busybox'}:latest", "fixtures/busybox:latest")


@pytest.fixture
def proxied_busybox(fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The busybox fixture behind the fault proxy, read with a private cache (tmp_path/cache)."""
    busybox(fault_proxy.upstream)
    monkeypatch.setenv("INSPECTR_CACHE_DIR", str(tmp_path / "cache"))
    return f"docker://{fault_proxy.as_registry().host}/fixtures/busybox:latest"


def _norm(text: str, *refs: str) -> str:
    for ref in refs:
        text = text.replace(ref, "IMAGE")
    return text.replace('"format": "registry"', '"format": "oci-layout"')


# -- every command: the registry copy gives the layout's answer -------------------------------

@pytest.mark.parametrize("command", [
    ["ls", "--format", "json"],
    ["ls", "--deleted", "--format", "json"],
    ["cat", "{}", "etc/passwd"],
    ["audit", "--format", "json"],
    ["verify", "--format", "json"],
])
def test_commands_match_the_oci_layout(registry: Registry, command: list[str]) -> None:
    remote = busybox(registry)
    local = f"oci:{FIX / 'oci-busybox'}:latest"
    outs = []
    for ref in (remote, local):
        args = [a.replace("{}", ref) for a in command]
        if "{}" not in command:
            args.insert(1, ref)
        result = run(*args, *flags(registry)) if ref == remote else run(*args)
        outs.append((result.exit_code, _norm(result.stdout, remote, local, remote[len("docker://"):])))
    if command[0] == "verify":
        a, b = (json.loads(o) for _, o in outs)
        assert outs[0][0] == outs[1][0] == 0
        assert a["verdict"] == b["verdict"] == "integrity-verified"
        assert a["manifest_digests"] == b["manifest_digests"]
        passed = {(c["check"], c["status"]) for c in a["checks"]}
        assert ("layer-diffid", "pass") in passed and ("manifest-digest", "pass") in passed
        return
    assert outs[0] == outs[1]
    assert outs[0][0] == (1 if command[0] == "audit" else 0) and outs[0][1]  # audit: the fixture's setuid helper


def test_inspect_json_matches_and_reports_the_registry_format(registry: Registry) -> None:
    remote = busybox(registry)
    a = json.loads(run("inspect", remote, "--format", "json", *flags(registry)).stdout)
    b = json.loads(run("inspect", f"oci:{FIX / 'oci-busybox'}:latest", "--format", "json").stdout)
    assert a["format"] == "registry" and b["format"] == "oci-layout"
    assert a["index_digest"] is None  # the synthesised index.json is not reported as the image's
    for key in ("manifest_digest", "config_digest", "layers", "config", "platform"):
        assert a[key] == b[key], key


def test_diff_registry_against_layout_is_identical_and_against_another_image_is_not(registry: Registry) -> None:
    remote = busybox(registry)
    same = run("diff", remote, f"oci:{FIX / 'oci-busybox'}:latest", *flags(registry))
    assert same.exit_code == 0, same.stdout
    other = pushed(registry, f"oci:{FIX / 'oci-layered'}", "fixtures/layered:latest")
    differ = run("diff", remote, other, "--format", "json", *flags(registry))
    assert differ.exit_code == 1
    assert json.loads(differ.stdout)["verdict"] == "different"


def test_export_matches_the_layout(registry: Registry, tmp_path: Path) -> None:
    remote = busybox(registry)
    assert run("export", remote, str(tmp_path / "r"), *flags(registry)).exit_code == 0
    assert run("export", f"oci:{FIX / 'oci-busybox'}:latest", str(tmp_path / "l")).exit_code == 0

    def tree(root: Path) -> dict[str, tuple[int, str]]:
        out = {}
        for p in sorted(root.rglob("*")):
            st = p.lstat()
            data = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else os.readlink(p) if p.is_symlink() else ""
            out[str(p.relative_to(root))] = (st.st_mode, data)
        return out

    assert tree(tmp_path / "r") == tree(tmp_path / "l")
    assert len(tree(tmp_path / "r")) > 30


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")
def test_run_and_behave_on_a_registry_image(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    remote = busybox(registry)
    code, out, _ = run_main(capsys, "run", *flags(registry), remote, "--", "/bin/cat", "/etc/hostname")
    code_l, out_l, _ = run_main(capsys, "run", f"oci:{FIX / 'oci-busybox'}:latest", "--", "/bin/cat", "/etc/hostname")
    assert (code, out) == (code_l, out_l) and code == 0 and out.strip()
    code, out, _ = run_main(capsys, "behave", *flags(registry), remote, f"oci:{FIX / 'oci-busybox'}:latest",
                            "--probe", "cat /etc/passwd; id", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["same"] is True


def test_multi_platform_index_is_narrowed_by_platform(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    remote = pushed(registry, f"oci:{FIX / 'oci-multiarch'}", "fixtures/multiarch:latest")
    for plat in ("linux/amd64", "linux/arm64"):
        a = json.loads(run("inspect", remote, "--platform", plat, "--format", "json", *flags(registry)).stdout)
        b = json.loads(run("inspect", f"oci:{FIX / 'oci-multiarch'}", "--platform", plat, "--format", "json").stdout)
        assert a["platform"] == b["platform"] == plat
        assert a["manifest_digest"] == b["manifest_digest"]
        # the registry's own index: the one the layout's index.json names, not index.json itself
        assert a["index_digest"] == json.loads((FIX / "oci-multiarch" / "index.json").read_text())["manifests"][0]["digest"]
    code, _, err = run_main(capsys, "inspect", remote, "--platform", "linux/s390x", *flags(registry))
    assert code == 2 and "error[reference-error]" in err and "available: linux/amd64, linux/arm64" in err


# -- signatures ------------------------------------------------------------------------------

def test_cosign_sig_tag_pushed_with_skopeo_is_found_and_verified(registry: Registry) -> None:
    remote = pushed(registry, f"oci:{SIG / 'cosign-layout'}:latest", "inspectr/test:latest")
    pushed(registry, f"oci:{SIG / 'cosign-layout'}:{SIG_TAG}.sig", f"inspectr/test:{SIG_TAG}.sig")
    ok = run("verify", remote, "--key", str(SIG / "cosign-a.pub"), "--identity", IDENTITY, "--format", "json", *flags(registry))
    doc = json.loads(ok.stdout)
    assert ok.exit_code == 0 and doc["verdict"] == "verified"
    assert [s["status"] for s in doc["signatures"]] == ["pass"]
    assert f"{SIG_TAG}.sig" in doc["signatures"][0]["source"]
    other = run("verify", remote, "--key", str(SIG / "cosign-b.pub"), "--identity", IDENTITY, "--format", "json", *flags(registry))
    assert other.exit_code == 1 and json.loads(other.stdout)["verdict"] != "verified"
    # Without --identity the registry reference itself is the identity: this signature names another repository.
    own = json.loads(run("verify", remote, "--key", str(SIG / "cosign-a.pub"), "--format", "json", *flags(registry)).stdout)
    assert own["verdict"] != "verified"
    assert "identity-mismatch" in json.dumps(own["signatures"])


def _put(reg: Registry, path: str, data: bytes, content_type: str) -> None:
    req = urllib.request.Request(f"{reg.url}{path}", data=data, method="PUT", headers={"Content-Type": content_type})
    with urllib.request.urlopen(req) as resp:
        assert resp.status in (201, 202)


def _push_blob(reg: Registry, repo: str, data: bytes) -> None:
    req = urllib.request.Request(f"{reg.url}/v2/{repo}/blobs/uploads/", data=b"", method="POST")
    with urllib.request.urlopen(req) as resp:
        location = resp.headers["Location"]
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    sep = "&" if "?" in location else "?"
    url = location if location.startswith("http") else reg.url + location
    put = urllib.request.Request(f"{url}{sep}digest={digest}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(put) as resp:
        assert resp.status == 201


BUNDLE = SIG / "bundle-layout"


def _bundle_blob(digest: str) -> bytes:
    return (BUNDLE / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def _push_bundle_referrers(registry: Registry, repo: str) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    """The fixture's referrer manifests, pushed by digest with the distribution API (skopeo 1.9
    cannot push an artifact index with --preserve-digests). Returns the tag-schema index."""
    index = json.loads((BUNDLE / "index.json").read_text())
    tag_desc = next(d for d in index["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == SIG_TAG)
    for ref in json.loads(_bundle_blob(tag_desc["digest"]))["manifests"]:
        manifest = json.loads(_bundle_blob(ref["digest"]))
        for d in [manifest["config"], *manifest["layers"]]:
            _push_blob(registry, repo, _bundle_blob(d["digest"]))
        _put(registry, f"/v2/{repo}/manifests/{ref['digest']}", _bundle_blob(ref["digest"]), ref["mediaType"])
    return tag_desc, _bundle_blob(tag_desc["digest"])


def _bundle_verdicts(ref: str, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run("verify", ref, "--key", str(SIG / "bundle-a.pub.pem"), "--identity", IDENTITY, "--format", "json", *extra)
    return result.exit_code, json.loads(result.stdout)


def test_sigstore_bundle_referrer_found_through_the_tag_fallback(registry: Registry) -> None:
    """docker-registry 2.8 has no referrers API (404), so the `sha256-<hex>` tag schema is used."""
    remote = pushed(registry, f"oci:{BUNDLE}:latest", "bundle/test:latest")
    tag_desc, tag_index = _push_bundle_referrers(registry, "bundle/test")
    _put(registry, f"/v2/bundle/test/manifests/{SIG_TAG}", tag_index, tag_desc["mediaType"])
    code, a = _bundle_verdicts(remote, *flags(registry))
    code_l, b = _bundle_verdicts(f"oci:{BUNDLE}:latest")
    assert code == code_l == 0
    assert a["verdict"] == b["verdict"] == "verified"
    assert sorted((s["kind"], s["status"]) for s in a["signatures"]) == sorted((s["kind"], s["status"]) for s in b["signatures"])


def test_sigstore_bundle_referrer_found_through_the_referrers_api(fault_proxy: FaultProxy) -> None:
    """The referrers API answered (by the proxy, as an OCI 1.1 registry would) and no fallback
    tag pushed: the referrer manifests it lists are fetched from the registry and verified."""
    registry = fault_proxy.upstream
    pushed(registry, f"oci:{BUNDLE}:latest", "bundle/api:latest")
    _, tag_index = _push_bundle_referrers(registry, "bundle/api")
    proxy = fault_proxy.as_registry()
    remote = f"docker://{proxy.host}/bundle/api:latest"
    code, doc = _bundle_verdicts(remote, *flags(proxy))
    assert code == 1 and doc["verdict"] != "verified"  # no API, no tag: nothing found
    fault_proxy.canned[f"/v2/bundle/api/referrers/{SIGNED}"] = (tag_index, "application/vnd.oci.image.index.v1+json")
    fault_proxy.requests.clear()
    code, doc = _bundle_verdicts(remote, *flags(proxy))
    assert code == 0 and doc["verdict"] == "verified", doc["signatures"]
    assert ("GET", f"/v2/bundle/api/referrers/{SIGNED}") in fault_proxy.requests
    assert ("GET", f"/v2/bundle/api/manifests/{SIG_TAG}") not in fault_proxy.requests  # the API answered: no fallback


def test_gate_with_a_registry_release(registry: Registry) -> None:
    remote = pushed(registry, f"oci:{SIG / 'cosign-layout'}:latest", "inspectr/test:latest")
    pushed(registry, f"oci:{SIG / 'cosign-layout'}:{SIG_TAG}.sig", f"inspectr/test:{SIG_TAG}.sig")
    result = run("gate", "--release", remote, "--rebuild", f"oci:{FIX / 'oci-gzip'}:latest", "--key", str(SIG / "cosign-a.pub"),
                 "--identity", IDENTITY, *flags(registry))
    assert result.exit_code == 0, result.stdout
    assert "reproduced" in result.stdout


# -- pull ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["layout", "archive.tar"])
def test_pull_saves_a_layout_that_verifies_offline_like_the_registry(registry: Registry, tmp_path: Path, name: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    remote = pushed(registry, f"oci:{SIG / 'cosign-layout'}:latest", "inspectr/test:latest")
    pushed(registry, f"oci:{SIG / 'cosign-layout'}:{SIG_TAG}.sig", f"inspectr/test:{SIG_TAG}.sig")
    dest = tmp_path / name
    result = run("pull", remote, str(dest), *flags(registry))
    assert result.exit_code == 0, result.stdout
    assert f"{SIG_TAG}.sig" in result.stdout
    offline = run("verify", str(dest), "--key", str(SIG / "cosign-a.pub"), "--identity", IDENTITY, "--format", "json")
    doc = json.loads(offline.stdout)
    assert offline.exit_code == 0 and doc["verdict"] == "verified" and doc["manifest_digests"][0] == SIGNED
    assert not any(c["status"] == "fail" for c in doc["checks"])
    code, _, err = run_main(capsys, "pull", remote, str(dest), *flags(registry))
    assert code == 2 and "error[export-error]" in err and "already exists" in err  # never overwrites


def test_verify_after_pull_checks_the_same_identity_as_verify_of_the_registry(registry: Registry, tmp_path: Path) -> None:
    remote = pushed(registry, f"oci:{SIG / 'cosign-layout'}:latest", "inspectr/test:latest")
    pushed(registry, f"oci:{SIG / 'cosign-layout'}:{SIG_TAG}.sig", f"inspectr/test:{SIG_TAG}.sig")
    dest = tmp_path / "pulled"
    assert run("pull", remote, str(dest), *flags(registry)).exit_code == 0
    entry = json.loads((dest / "index.json").read_text())["manifests"][0]
    assert entry["annotations"]["dev.inspectr.pulled-from"] == remote.removeprefix("docker://")
    # The signature names another repository: both refuse it without --identity, both accept it with.
    online = json.loads(run("verify", remote, "--key", str(SIG / "cosign-a.pub"), "--format", "json", *flags(registry)).stdout)
    offline = json.loads(run("verify", str(dest), "--key", str(SIG / "cosign-a.pub"), "--format", "json").stdout)
    assert online["verdict"] == offline["verdict"] != "verified"
    assert "identity-mismatch" in json.dumps(offline["signatures"])
    named = run("verify", str(dest), "--key", str(SIG / "cosign-a.pub"), "--identity", IDENTITY, "--format", "json")
    assert named.exit_code == 0 and json.loads(named.stdout)["verdict"] == "verified"


# -- auth and TLS ----------------------------------------------------------------------------

def test_basic_auth(registry_auth: Registry, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    remote = busybox(registry_auth)
    monkeypatch.setenv("HOME", str(tmp_path))  # no auth files of the machine's
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    code, out, err = run_main(capsys, "inspect", "--tls-verify=false", remote)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("inspectr: error[registry-auth]: ") and "no credentials found" in err
    code, _, err = run_main(capsys, "inspect", "--tls-verify=false", "--creds", "inspectr:wrong", remote)
    assert code == 2 and "error[registry-auth]" in err and "--creds were refused" in err
    assert run("inspect", "--tls-verify=false", "--creds", str(registry_auth.creds), remote).exit_code == 0
    auth = tmp_path / "auth.json"
    import base64
    auth.write_text(json.dumps({"auths": {registry_auth.host: {"auth": base64.b64encode(str(registry_auth.creds).encode()).decode()}}}))
    assert run("ls", "--tls-verify=false", "--authfile", str(auth), remote).exit_code == 0
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    assert run("ls", "--tls-verify=false", remote).exit_code == 0


def test_tls_with_a_test_ca(registry_tls: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    remote = busybox(registry_tls)
    code, out, err = run_main(capsys, "inspect", remote)
    assert code == 2 and out == ""
    assert err.startswith("inspectr: error[registry-unreachable]: ") and "certificate verification failed" in err
    assert run("inspect", "--cert-dir", str(registry_tls.cert_dir), remote).exit_code == 0
    assert run("inspect", "--tls-verify=false", remote).exit_code == 0


# -- hostile or broken registries -------------------------------------------------------------

def test_tampered_manifest_is_caught(fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    busybox(fault_proxy.upstream)
    proxy = fault_proxy.as_registry()
    fault_proxy.tamper_manifest.add("latest")
    code, out, err = run_main(capsys, "ls", "--tls-verify=false", f"docker://{proxy.host}/fixtures/busybox:latest")
    assert code == 2 and out == ""
    assert "error[digest-mismatch]" in err and "Docker-Content-Digest" in err


def test_manifest_by_digest_must_hash_to_that_digest(fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    busybox(fault_proxy.upstream)
    proxy = fault_proxy.as_registry()
    digest = json.loads((FIX / "oci-busybox" / "index.json").read_text())["manifests"][0]["digest"]
    fault_proxy.tamper_manifest.add(digest)
    code, _, err = run_main(capsys, "ls", "--tls-verify=false", f"docker://{proxy.host}/fixtures/busybox@{digest}")
    assert code == 2 and "error[digest-mismatch]" in err


def test_tampered_blob_is_caught_and_not_cached(fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    busybox(fault_proxy.upstream)
    proxy = fault_proxy.as_registry()
    manifest = json.loads((FIX / "oci-busybox" / "blobs" / "sha256" /
                           json.loads((FIX / "oci-busybox" / "index.json").read_text())["manifests"][0]["digest"][7:]).read_text())
    layer = manifest["layers"][0]["digest"]
    fault_proxy.tamper_blob.add(layer)
    ref = f"docker://{proxy.host}/fixtures/busybox:latest"
    code, out, err = run_main(capsys, "ls", "--tls-verify=false", ref)
    assert code == 2 and out == "" and "error[digest-mismatch]" in err and layer in err
    fault_proxy.tamper_blob.clear()
    code, out, _ = run_main(capsys, "ls", "--tls-verify=false", ref)
    assert code == 0 and "bin/busybox" in out  # the bad bytes were never cached


def test_tampered_storage_is_caught(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    ref = pushed(registry, f"oci:{FIX / 'oci-layered'}", "fixtures/tamper:latest")
    manifest_digest = json.loads((FIX / "oci-layered" / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((FIX / "oci-layered" / "blobs" / "sha256" / manifest_digest[7:]).read_text())
    config = manifest["config"]["digest"]
    with tampered(registry.blob_data_path(config)):
        code, out, err = run_main(capsys, "--no-cache", "inspect", "--tls-verify=false", ref)
    assert code == 2 and out == "" and "error[digest-mismatch]" in err and config in err


def test_wrong_media_type_404_and_unreachable_are_clear_errors(fault_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]) -> None:
    busybox(fault_proxy.upstream)
    proxy = fault_proxy.as_registry()
    fault_proxy.wrong_content_type.add("latest")
    code, _, err = run_main(capsys, "inspect", "--tls-verify=false", f"docker://{proxy.host}/fixtures/busybox:latest")
    assert code == 2 and "error[unsupported-media-type]" in err and "text/html" in err
    code, _, err = run_main(capsys, "inspect", "--tls-verify=false", f"docker://{proxy.host}/fixtures/busybox:nope")
    assert code == 2 and "error[image-not-found]" in err and "MANIFEST_UNKNOWN" in err
    code, _, err = run_main(capsys, "inspect", "--tls-verify=false", f"docker://{proxy.host}/no/such/repo:latest")
    assert code == 2 and "error[image-not-found]" in err and "not found (HTTP 404: " in err
    for e in (err,):
        assert "Traceback" not in e and e.count("\n") == 1


def test_retries_on_429_and_5xx(fault_proxy: FaultProxy) -> None:
    busybox(fault_proxy.upstream)
    proxy = fault_proxy.as_registry()
    fault_proxy.fail_status["/manifests/latest"] = [503, 429, 502]
    result = run("inspect", "--tls-verify=false", f"docker://{proxy.host}/fixtures/busybox:latest")
    assert result.exit_code == 0
    assert fault_proxy.counts()[("GET", "/v2/fixtures/busybox/manifests/latest")] == 4


def test_second_command_makes_only_manifest_requests(fault_proxy: FaultProxy, proxied_busybox: str, tmp_path: Path) -> None:
    ref = proxied_busybox
    assert run("ls", "--tls-verify=false", ref).exit_code == 0
    first = fault_proxy.counts()
    assert any("/blobs/" in path for _, path in first)  # the cold run pulled
    fault_proxy.reset()
    assert run("audit", "--tls-verify=false", ref).exit_code in (0, 1)
    second = fault_proxy.counts()
    # Only metadata: manifests, and (since audit shows attached provenance) the image's cosign
    # tags and its referrers listing; never a blob.
    assert second and all("/manifests/" in path or "/referrers/" in path or path == "/v2/" for _, path in second), second
    blobs = list((tmp_path / "cache" / "blobs" / "sha256").iterdir())
    assert blobs and all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in blobs)


def test_unreachable_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "inspect", "--tls-verify=false", "docker://127.0.0.1:1/x:latest")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("inspectr: error[registry-unreachable]: docker://127.0.0.1:1: cannot connect")


def test_bearer_token_auth(registry_token: Registry, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Docker Hub's scheme: a 401 Bearer challenge, a token from the realm (anonymous for public/*,
    with Basic credentials otherwise), checked by the registry as a signed JWT."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    public = pushed(registry_token, f"oci:{FIX / 'oci-busybox'}:latest", "public/busybox:latest")
    private = pushed(registry_token, f"oci:{FIX / 'oci-busybox'}:latest", "private/busybox:latest")
    server = registry_token.token_server
    assert server is not None
    before = len(server.requests)
    anon = run("ls", "--tls-verify=false", "--format", "json", public)
    assert anon.exit_code == 0 and "bin/busybox" in anon.stdout
    assert ("/token", "repository:public/busybox:pull") in server.requests[before:]
    code, out, err = run_main(capsys, "ls", "--tls-verify=false", private)
    assert code == 2 and out == "" and "error[registry-auth]" in err and "no credentials found" in err
    code, _, err = run_main(capsys, "ls", "--tls-verify=false", "--creds", "inspectr:wrong", private)
    assert code == 2 and "error[registry-auth]" in err and "token server refused credentials from --creds" in err
    ok = run("ls", "--tls-verify=false", "--format", "json", "--creds", str(registry_token.creds), private)
    assert ok.exit_code == 0 and ok.stdout == anon.stdout


def test_docker_v2_schema2_push_of_a_docker_archive(registry: Registry) -> None:
    """skopeo pushes a docker-archive as Docker v2 schema 2 with gzip layers it compressed
    itself: other blob digests, the same files."""
    remote = pushed(registry, f"docker-archive:{FIX / 'docker-busybox.tar'}", "fixtures/docker-busybox:latest")
    raw = json.loads(registry.inspect_raw("fixtures/docker-busybox:latest"))
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    a = run("ls", "--format", "json", remote, *flags(registry))
    b = run("ls", "--format", "json", str(FIX / "docker-busybox.tar"))
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout
    diff = run("diff", "--format", "json", remote, str(FIX / "docker-busybox.tar"), *flags(registry))
    assert json.loads(diff.stdout)["verdict"] in ("identical", "equivalent"), diff.stdout


def test_a_download_cut_off_halfway_resumes_with_a_range_request(fault_proxy: FaultProxy, proxied_busybox: str,
                                                                 tmp_path: Path) -> None:
    index = json.loads((FIX / "oci-busybox" / "index.json").read_text())
    manifest = json.loads((FIX / "oci-busybox" / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    layer = manifest["layers"][0]["digest"]
    fault_proxy.truncate_blob[layer] = 2
    result = run("ls", "--format", "json", "--tls-verify=false", proxied_busybox)
    assert result.exit_code == 0
    assert result.stdout == run("ls", "--format", "json", f"oci:{FIX / 'oci-busybox'}:latest").stdout
    # Two cuts are armed for full (200) replies: a second request without Range would be cut
    # again and make three. Two requests means the resume asked for the rest only (206).
    assert fault_proxy.counts()[("GET", f"/v2/fixtures/busybox/blobs/{layer}")] == 2
    cached = tmp_path / "cache" / "blobs" / "sha256" / layer[7:]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == layer[7:]
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".part-")]


def test_pull_one_platform(registry: Registry, tmp_path: Path) -> None:
    remote = pushed(registry, f"oci:{FIX / 'oci-multiarch'}", "fixtures/multiarch:latest")
    dest = tmp_path / "arm64"
    assert run("pull", "--platform", "linux/arm64", remote, str(dest), *flags(registry)).exit_code == 0
    got = json.loads(run("inspect", f"oci:{dest}:latest", "--format", "json").stdout)
    want = json.loads(run("inspect", f"oci:{FIX / 'oci-multiarch'}", "--platform", "linux/arm64", "--format", "json").stdout)
    assert got["platform"] == "linux/arm64" and got["manifest_digest"] == want["manifest_digest"]
    doc = json.loads(run("verify", str(dest), "--format", "json").stdout)
    assert doc["verdict"] == "integrity-verified" and not any(c["status"] in ("fail", "warn") for c in doc["checks"])
    amd64 = json.loads(run("inspect", f"oci:{FIX / 'oci-multiarch'}", "--platform", "linux/amd64", "--format", "json").stdout)
    assert not (dest / "blobs" / "sha256" / amd64["config_digest"][7:]).exists()


def test_a_manifest_altered_in_the_cache_is_fetched_again(fault_proxy: FaultProxy, proxied_busybox: str, tmp_path: Path) -> None:
    ref = proxied_busybox
    first = run("ls", "--format", "json", "--tls-verify=false", ref)
    assert first.exit_code == 0
    config = json.loads(run("inspect", "--format", "json", "--tls-verify=false", ref).stdout)["config_digest"]
    cached = tmp_path / "cache" / "blobs" / "sha256" / config[7:]
    original = cached.read_bytes()
    cached.write_bytes(original.replace(b"FIXTURE=oci-busybox", b"FIXTURE=oci-evilbox"))  # same size, other bytes
    fault_proxy.reset()
    again = run("ls", "--format", "json", "--tls-verify=false", ref)
    assert again.exit_code == 0 and again.stdout == first.stdout
    assert ("GET", f"/v2/fixtures/busybox/blobs/{config}") in fault_proxy.requests or \
        ("GET", f"/v2/fixtures/busybox/manifests/{config}") in fault_proxy.requests
    assert cached.read_bytes() == original  # healed


def test_a_registry_listing_thousands_of_referrers_costs_at_most_a_hundred_requests(fault_proxy: FaultProxy) -> None:
    registry = fault_proxy.upstream
    pushed(registry, f"oci:{BUNDLE}:latest", "bundle/flood:latest")
    proxy = fault_proxy.as_registry()
    fake = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(), "size": 10,
                           "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"} for i in range(5000)]}
    fault_proxy.canned[f"/v2/bundle/flood/referrers/{SIGNED}"] = (json.dumps(fake).encode(),
                                                                  "application/vnd.oci.image.index.v1+json")
    fault_proxy.requests.clear()
    result = run("verify", f"docker://{proxy.host}/bundle/flood:latest", "--format", "json", *flags(proxy))
    doc = json.loads(result.stdout)
    manifest_gets = [p for m, p in fault_proxy.requests if "/manifests/sha256:" in p]
    assert len(manifest_gets) <= 100
    assert any("5000 referrers listed" in c["message"] for c in doc["checks"])


def test_a_content_encoding_nobody_asked_for_is_refused_not_inflated(fault_proxy: FaultProxy,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    busybox(fault_proxy.upstream)
    proxy = fault_proxy.as_registry()
    bomb = gzip.compress(b"{" + b" " * (64 << 20) + b"}")  # 64 MiB of JSON in about 64 KiB
    fault_proxy.canned["/v2/fixtures/busybox/manifests/latest"] = (
        bomb, "application/vnd.oci.image.manifest.v1+json", {"Content-Encoding": "gzip"})
    code, out, err = run_main(capsys, "inspect", "--tls-verify=false", f"docker://{proxy.host}/fixtures/busybox:latest")
    assert code == 2 and out == ""
    assert "error[registry-error]" in err and "Content-Encoding 'gzip'" in err


def test_a_signature_on_a_platform_manifest_of_an_index_is_found(registry: Registry, tmp_path: Path) -> None:
    """cosign sign --recursive signs each platform's manifest: the image is an index whose child
    is the signed manifest, and the .sig tag names the child's digest."""
    import shutil

    layout = tmp_path / "index-layout"
    shutil.copytree(SIG / "cosign-layout", layout)
    manifest = (layout / "blobs" / "sha256" / SIGNED[7:]).read_bytes()
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": SIGNED,
                                       "size": len(manifest), "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    index_digest = hashlib.sha256(index).hexdigest()
    (layout / "blobs" / "sha256" / index_digest).write_bytes(index)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{index_digest}", "size": len(index),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    remote = pushed(registry, f"oci:{layout}:latest", "inspectr/indexed:latest")
    pushed(registry, f"oci:{SIG / 'cosign-layout'}:{SIG_TAG}.sig", f"inspectr/indexed:{SIG_TAG}.sig")
    result = run("verify", remote, "--key", str(SIG / "cosign-a.pub"), "--identity", IDENTITY, "--format", "json", *flags(registry))
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["verdict"] == "verified", doc["signatures"]
    assert doc["manifest_digests"][0] == f"sha256:{index_digest}" and SIGNED in doc["manifest_digests"]


def test_inspect_no_layers_pulls_no_layer(fault_proxy: FaultProxy, proxied_busybox: str) -> None:
    ref = proxied_busybox
    quick = json.loads(run("inspect", "--no-layers", "--format", "json", "--tls-verify=false", ref).stdout)
    full = json.loads(run("inspect", "--format", "json", f"oci:{FIX / 'oci-busybox'}:latest").stdout)
    layer_digests = {layer["digest"] for layer in full["layers"]}
    assert not any(path.endswith(tuple(layer_digests)) for _, path in fault_proxy.requests)  # config only
    assert quick["uncompressed_size"] is None and all(layer["entries"] is None for layer in quick["layers"])
    for key in ("manifest_digest", "config_digest", "config", "history", "size", "platform"):
        assert quick[key] == full[key], key
    assert [(layer["digest"], layer["diff_id"], layer["size"], layer["compression"]) for layer in quick["layers"]] == \
        [(layer["digest"], layer["diff_id"], layer["size"], layer["compression"]) for layer in full["layers"]]


def test_referrers_api_pages_are_followed(fault_proxy: FaultProxy) -> None:
    registry = fault_proxy.upstream
    pushed(registry, f"oci:{BUNDLE}:latest", "bundle/paged:latest")
    _, tag_index = _push_bundle_referrers(registry, "bundle/paged")
    proxy = fault_proxy.as_registry()
    empty = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}).encode()
    index_type = "application/vnd.oci.image.index.v1+json"
    # page 1 lists nothing and links to page 2, which holds the bundle referrer
    fault_proxy.canned[f"/v2/bundle/paged/referrers/{SIGNED}"] = (
        empty, index_type, {"Link": f'</v2/bundle/paged/referrers/{SIGNED}-page2?n=1>; rel="next"'})
    fault_proxy.canned[f"/v2/bundle/paged/referrers/{SIGNED}-page2"] = (tag_index, index_type)
    code, doc = _bundle_verdicts(f"docker://{proxy.host}/bundle/paged:latest", *flags(proxy))
    assert code == 0 and doc["verdict"] == "verified", doc["signatures"]
    assert ("GET", f"/v2/bundle/paged/referrers/{SIGNED}-page2") in fault_proxy.requests


def test_registry_through_the_environments_proxy_and_no_proxy(registry: Registry, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from forward_proxy import ForwardProxy

    busybox(registry)
    proxy = ForwardProxy()
    try:
        for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        # a name only the proxy can resolve: the image is reachable through the proxy alone
        ref = f"docker://registry.proxied.test:{registry.port}/fixtures/busybox:latest"
        got = run("ls", "--format", "json", "--tls-verify=false", ref)
        assert got.exit_code == 0
        assert got.stdout == run("ls", "--format", "json", f"oci:{FIX / 'oci-busybox'}:latest").stdout
        assert ("CONNECT", f"registry.proxied.test:{registry.port}") in proxy.seen  # https tried first, tunnelled
        assert any(m == "GET" and t.startswith(f"http://registry.proxied.test:{registry.port}/v2/") for m, t in proxy.seen)
        monkeypatch.setenv("NO_PROXY", ".proxied.test")
        code, _, err = run_main(capsys, "inspect", "--tls-verify=false", ref)
        assert code == 2 and "error[registry-unreachable]" in err  # bypassed: the name does not resolve here
    finally:
        proxy.stop()


def test_an_unwritable_blob_cache_costs_requests_not_the_run(proxied_busybox: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 20: reading a registry image with a cache that cannot be written ended in an internal
    # error. Root ignores mode bits, so the cache's blobs dir is made a regular file: nothing can
    # be created under it, whoever runs the test.
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / "blobs").write_text("not a directory\n")
    for command in ("ls", "inspect", "verify"):
        code, out, err = run_main(capsys, command, "--tls-verify=false", proxied_busybox)
        assert code == 0 and "internal" not in err and "Traceback" not in err, (command, err)
    # pull stages blobs in the cache before its one rename: a clear error, and no DEST.
    code, out, err = run_main(capsys, "pull", "--tls-verify=false", proxied_busybox, str(tmp_path / "out"))
    assert code == 2 and "error[write-error]" in err and "blob cache cannot be written" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.rglob(".part-*")]


def test_a_cache_that_fills_mid_blob_leaves_no_part_file(proxied_busybox: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 20: the cache's disk fills while a blob is written. A 96 KiB tmpfs holds the
    # manifest and config but not the busybox layer, so the write fails part-way through it.
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k,mode=0700", "tmpfs", str(cache)], check=True)
    try:
        for command in ("ls", "inspect", "verify"):
            code, out, err = run_main(capsys, command, "--tls-verify=false", proxied_busybox)
            assert code == 0 and "internal" not in err and "Traceback" not in err, (command, err)
            assert not [p for p in cache.rglob("*") if p.name.startswith((".part-", ".tmp-"))], command
        code, out, err = run_main(capsys, "pull", "--tls-verify=false", proxied_busybox, str(tmp_path / "out"))
        assert code == 2 and err.count("\n") == 1 and "error[write-error]" in err, err
        assert f"{cache}: the blob cache stopped keeping blobs" in err
        assert not (tmp_path / "out").exists()
        assert not [p for p in tmp_path.rglob("*") if p.name.startswith((".part-", ".tmp-", ".inspectr-pull-"))]
    finally:
        subprocess.run(["umount", str(cache)], check=True)
