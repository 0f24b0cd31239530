"""`inspectr verify IMAGE`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..present.table import present
from ..verify.engine import Trust, verify_image
from ..verify.keys import load_keyring, load_public_key
from ..untrusted.sbom import DEFAULT_MAX_SBOM_BYTES
from ..userfiles import read_user_file
from ..verify.provenance import ProvenanceExpectation
from .common import Context, Progress, format_option, parse_limits, registry_options
from .trust_options import KeylessInputs, keyless_options, provenance_options


@click.command("verify")
@click.argument("image")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="cosign public key (PEM PKIX: ECDSA P-256/384/521, RSA, Ed25519). Repeatable.")
@click.option("--keyring", "keyrings", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="OpenPGP public keys for simple signing (binary or armored). Repeatable.")
@click.option("--signatures", "signatures", multiple=True, type=click.Path(path_type=Path),
              help="Where else to look: a signature file, a lookaside tree, or an OCI layout/archive with .sig manifests.")
@click.option("--identity", metavar="REF", help="The docker reference the signature must name.")
@click.option("--policy", "policy", type=click.Path(dir_okay=False, path_type=Path),
              help="containers-policy.json subset: reject, insecureAcceptAnything, signedBy (GPGKeys), sigstoreSigned (keys).")
@click.option("--require-signature", is_flag=True, help="Fail when no valid signature is found, even without keys.")
@click.option("--attestation", metavar="TYPE", help="Require a verified attestation of this predicate type (a URI, or "
              "slsaprovenance, spdxjson, cyclonedx, vuln, custom, any) instead of a signature, as cosign verify-attestation.")
@click.option("--sbom", is_flag=True, help="Compare the image's verified CycloneDX/SPDX attestations with the packages it holds.")
@click.option("--sbom-file", "sbom_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Also compare this SBOM file (CycloneDX or SPDX JSON; reported as not signed). Repeatable.")
@click.option("--skip-blob-checks", is_flag=True,
              help="Weakens verification: check index and manifests only, not configs and layers.")
@click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE", help="Raise one resource limit.")
@keyless_options
@provenance_options
@format_option("text", "json", "sarif", "junit", "markdown", "html")
@registry_options
@click.pass_obj
def command(ctx: Context, image: str, keys: tuple[Path, ...], keyrings: tuple[Path, ...], signatures: tuple[Path, ...],
            identity: str | None, policy: Path | None, require_signature: bool, attestation: str | None, sbom: bool,
            sbom_files: tuple[Path, ...], skip_blob_checks: bool,
            limits: tuple[str, ...], fmt: str, keyless: KeylessInputs, provenance: ProvenanceExpectation | None) -> None:
    """Verify IMAGE byte for byte: every blob's size and digest, every diff_id, the Docker 25+
    manifest.json against index.json, unreferenced or missing blobs; then every signature
    found: cosign .sig/.att and Sigstore bundles with --key or keylessly (Fulcio certificate
    and Rekor entry, offline, against --trusted-root), simple signing with --keyring. With
    trust inputs, at least one valid signature for the image is required.
    Exit 0 verified, 1 verification failed, 2 unusable input.
    Example: `inspectr verify fixtures/oci-busybox`.
    """
    lim = parse_limits(1, limits)
    trust = Trust(
        keys=tuple(load_public_key(p) for p in keys),
        keyrings=tuple(load_keyring(p) for p in keyrings),
        signatures=signatures,
        identity=identity,
        require_signature=require_signature,
        policy=policy,
        identity_policy=keyless[0],
        trusted_root=keyless[1],
        attestation=attestation,
        provenance=provenance,
        sbom=sbom,
        sbom_files=tuple((str(p), read_user_file(p, "SBOM file", DEFAULT_MAX_SBOM_BYTES)) for p in sbom_files),
    )
    with Progress(ctx, None, "verifying") as progress:
        report = verify_image(image, trust, session=ctx.session(lim, progress), skip_blob_checks=skip_blob_checks)
    present(report, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose)
    click.get_current_context().exit(0 if report.ok else 1)
