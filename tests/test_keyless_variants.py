"""Every variant of fixtures/keyless (a private Sigstore instance made by fixtures/keyless/build.py:
genuine signatures in each form, and one tampering each) through `inspectr verify`: the verdict
and the result class in expected.json. tests/test_keyless_fixtures.py checks the same fixtures
independently of inspectr (sigstore-python, cryptography), so a wrong fixture cannot make these
pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from inspectr.cli import cli

KEYLESS = Path(__file__).resolve().parent.parent / "fixtures" / "keyless"
EXPECTED: dict[str, dict[str, Any]] = json.loads((KEYLESS / "expected.json").read_text())
_CLAIMS = {"repository": "--certificate-github-workflow-repository", "ref": "--certificate-github-workflow-ref",
           "sha": "--certificate-github-workflow-sha", "trigger": "--certificate-github-workflow-trigger",
           "name": "--certificate-github-workflow-name"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_variant_gets_its_verdict_and_class(name: str) -> None:
    want = EXPECTED[name]
    args = ["verify", "--format", "json", "--trusted-root", str(KEYLESS / "trusted_root.json"),
            "--certificate-identity", want["identity"], "--certificate-oidc-issuer", want["issuer"]]
    for claim, value in (want.get("github") or {}).items():
        args += [_CLAIMS[claim], value]
    if want["form"] in ("cosign-att", "bundle-att"):
        args += ["--attestation", "any"]
    result = CliRunner().invoke(cli, [*args, f"oci:{KEYLESS / want['layout']}"], catch_exceptions=False)
    doc = json.loads(result.stdout)
    found = [s for s in doc["signatures"] if s["status"] != "info"]
    assert doc["verdict"] == want["verdict"] and result.exit_code == (0 if want["verdict"] == "verified" else 1), found
    if want["error"] is None:
        assert any(s["status"] == "pass" for s in found)
    else:
        assert [s["error"] for s in found if s["status"] == "fail"] == [want["error"]], found
