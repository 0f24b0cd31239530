#!/usr/bin/env python3
"""How long `inspectr verify` of a keyless-signed image takes, offline (issue 15: under 1 s,
excluding interpreter start).

    python benchmarks/bench_verify_keyless.py            # 20 rounds per case
    python benchmarks/bench_verify_keyless.py --runs 50

Cases (all real public-good vectors in fixtures/thirdparty, no network):
  slsa-v2.1.0   cosign .att (dsse entry), GitHub Actions identity, 55 integrity checks
  slsa-v1.4.0   cosign .att (intoto entry), 17 integrity checks
  sig-dir       containers/image's keyless .sig (hashedrekord), e-mail identity, --skip-blob-checks
  bundle-v0.3   cosign's bundle v0.3 attestation as an OCI 1.1 referrer (through sigstore)

Three figures per case, all in one process and one run:
  in-process    verify_image() wall time, median and max over --runs (the library call a command
                makes: integrity walk, trusted root load, every signature check)
  keyless only  the keyless check alone (Keyless.cosign / Keyless.bundle), median
  cli           a fresh `inspectr verify` child, median wall time (interpreter start included),
                and `python -c pass` for the interpreter-start floor
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from inspectr.untrusted.bundle import parse_envelope  # noqa: E402
from inspectr.untrusted.sigpayload import load_strict_json  # noqa: E402
from inspectr.verify.engine import Trust, verify_image  # noqa: E402
from inspectr.verify.keyless import IdentityPolicy, Keyless  # noqa: E402
from test_keyless import ACTIONS, GENERATOR, GH_OAUTH, SIG_DIR, SLSA, _referrer_layout  # noqa: E402


def timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-keyless-"))
    bundle_layout, _ = _referrer_layout(tmp / "bundle")
    gh = IdentityPolicy(identity_regexp=GENERATOR, issuer=ACTIONS)
    cases = {
        "slsa-v2.1.0": (f"oci:{SLSA / 'v2.1.0/container_workflow_dispatch'}", Trust(identity_policy=gh, attestation="slsaprovenance"), False,
                        ["--attestation", "slsaprovenance", "--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS]),
        "slsa-v1.4.0": (f"oci:{SLSA / 'v1.4.0/container_workflow_dispatch'}", Trust(identity_policy=gh, attestation="slsaprovenance"), False,
                        ["--attestation", "slsaprovenance", "--certificate-identity-regexp", GENERATOR, "--certificate-oidc-issuer", ACTIONS]),
        "sig-dir": (f"dir:{SIG_DIR}", Trust(identity_policy=IdentityPolicy(identity="mitr@redhat.com", issuer=GH_OAUTH)), True,
                    ["--skip-blob-checks", "--certificate-identity", "mitr@redhat.com", "--certificate-oidc-issuer", GH_OAUTH]),
        "bundle-v0.3": (f"oci:{bundle_layout}", Trust(identity_policy=IdentityPolicy(identity="cody@soyland.com", issuer=GH_OAUTH),
                                                      attestation="custom"), False,
                        ["--attestation", "custom", "--certificate-identity", "cody@soyland.com", "--certificate-oidc-issuer", GH_OAUTH]),
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    launch = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; main()"
    start = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), max(5, args.runs // 4))
    print(f"# {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, runs={args.runs}")
    print(f"interpreter start (python -c pass): median {statistics.median(start) * 1000:.0f} ms")
    print(f"{'case':<13} {'verdict':<10} {'in-process median':>18} {'max':>8} {'keyless only':>13} {'cli median':>11}")
    for name, (ref, trust, skip, cli_args) in cases.items():
        report = verify_image(ref, trust, skip_blob_checks=skip)
        times = timed(lambda: verify_image(ref, trust, skip_blob_checks=skip), args.runs)
        keyless = Keyless(trust.identity_policy)
        keyless.root()
        if name.startswith("slsa"):
            blobs = Path(ref[4:]) / "blobs/sha256"
            att = next(json.loads(p.read_bytes()) for p in blobs.iterdir() if p.stat().st_size < 64 << 10 and b"dev.sigstore.cosign/bundle" in p.read_bytes())
            layer = att["layers"][0]
            raw = (blobs / layer["digest"][7:]).read_bytes()
            env_doc = parse_envelope(load_strict_json(raw, "e"))
            only = timed(lambda: keyless.cosign(layer["annotations"], envelope=env_doc, envelope_raw=raw), args.runs)
        elif name == "bundle-v0.3":
            data = (ROOT / "fixtures/thirdparty/cosign/pkg/cosign/testdata/oci-attestation.sigstore.json").read_bytes()
            only = timed(lambda: keyless.bundle(data), args.runs)
        else:
            only = [0.0]
        cli = timed(lambda: subprocess.run([sys.executable, "-c", launch, "verify", *cli_args, ref], env=env,
                                           stdout=subprocess.DEVNULL, check=True), max(5, args.runs // 4))
        print(f"{name:<13} {report.verdict:<10} {statistics.median(times) * 1000:>15.1f} ms {max(times) * 1000:>5.0f} ms "
              f"{statistics.median(only) * 1000:>10.1f} ms {statistics.median(cli) * 1000:>8.0f} ms")


if __name__ == "__main__":
    main()
