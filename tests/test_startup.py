"""A CLI that starts fast (issue 14): a command on a local image imports neither the registry
client (urllib3, ssl, http.client) nor signing and crypto libraries, and `run` not rich either.

Each case runs the real CLI in a fresh interpreter and lists the modules imported after the
interpreter's own start-up (site hooks may import what they like), so a stray top-level import
anywhere on the path fails here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUSYBOX = str(REPO / "fixtures" / "oci-busybox")

# Imported after start-up, these mean a local command paid for what only registries, signatures
# or a process pool need.
REMOTE_OR_CRYPTO = ("urllib3", "ssl", "http.client", "certifi", "cryptography", "sigstore", "inspectr.registry.client",
                    "inspectr.registry.auth", "multiprocessing", "concurrent.futures")

_PROBE = """
import json, sys
before = set(sys.modules)
from inspectr.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
with open(sys.argv[1], "w") as fp:
    json.dump({"code": code, "modules": sorted(set(sys.modules) - before)}, fp)
"""


def imported_by(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    """(exit code, modules imported) of `inspectr ARGS` in a fresh interpreter."""
    out = tmp_path / "modules.json"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-P", "-c", _PROBE, str(out), *args], env=env, check=True, capture_output=True,
                   cwd=tmp_path, timeout=120)
    doc = json.loads(out.read_text())
    return doc["code"], doc["modules"]


def offenders(modules: list[str], banned: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == b or m.startswith(b + ".") for b in banned)]


@pytest.mark.parametrize("flags", [["--no-cache"], []])
def test_ls_of_a_local_layout_imports_no_registry_client_or_crypto(tmp_path: Path, flags: list[str]) -> None:
    code, modules = imported_by(tmp_path, *flags, "ls", "-f", "json", BUSYBOX)
    assert code == 0
    assert "inspectr.fs.layer_index" in modules  # the probe saw the command's imports
    assert offenders(modules, REMOTE_OR_CRYPTO) == []


def test_a_registry_flag_still_loads_what_it_needs(tmp_path: Path) -> None:
    code, modules = imported_by(tmp_path, "ls", "--creds", "me:pw", BUSYBOX)
    assert code == 0
    assert "inspectr.registry.auth" in modules  # --creds is parsed, as before
    assert offenders(modules, ("urllib3", "ssl", "inspectr.registry.client")) == []


def test_the_registry_settings_of_a_session_cost_no_client() -> None:
    script = ("import sys; from inspectr.session import Session; s = Session(); s.registry.clients; "
              "print(sorted(m for m in sys.modules if m.startswith(('urllib3', 'ssl', 'inspectr.registry.client'))))")
    out = subprocess.run([sys.executable, "-P", "-c", script], env=dict(os.environ, PYTHONPATH=str(REPO)), check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")
def test_run_of_a_local_layout_imports_no_registry_client_crypto_or_rich(tmp_path: Path) -> None:
    code, modules = imported_by(tmp_path, "run", BUSYBOX, "--", "/bin/true")
    assert code == 0
    assert "inspectr.runtime.container" in modules
    assert offenders(modules, (*REMOTE_OR_CRYPTO, "rich")) == []
