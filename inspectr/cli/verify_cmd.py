"""`inspectr verify IMAGE`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..limits import Limits, parse_limit
from ..errors import UsageError
from ..present.verify import (
    dump,
    markdown_verification,
    render_verification,
    verification_to_json,
    verification_to_junit,
    verification_to_sarif,
)
from ..verify.engine import Trust, verify_image
from ..verify.keys import load_keyring, load_public_key
from .common import Context, registry_options


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
@click.option("--skip-blob-checks", is_flag=True,
              help="Weakens verification: check index and manifests only, not configs and layers.")
@click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE", help="Raise one resource limit.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "sarif", "junit", "markdown"]), default="text",
              show_default=True)
@registry_options
@click.pass_obj
def command(ctx: Context, image: str, keys: tuple[Path, ...], keyrings: tuple[Path, ...], signatures: tuple[Path, ...],
            identity: str | None, policy: Path | None, require_signature: bool, skip_blob_checks: bool, limits: tuple[str, ...], fmt: str) -> None:
    """Verify IMAGE byte for byte: every blob's size and digest, every diff_id, the Docker 25+
    manifest.json against index.json, unreferenced or missing blobs; then every signature
    found (cosign .sig manifests and dir: sigstore-json files with --key, simple signing with
    --keyring). With trust inputs, at least one valid signature for the image is required.
    Exit 0 verified, 1 verification failed, 2 unusable input.
    Example: `inspectr verify fixtures/oci-busybox`.
    """
    try:
        lim = Limits().with_overrides(dict(parse_limit(t) for t in limits)) if limits else Limits()
    except ValueError as err:
        raise UsageError(f"--limit {err}") from None
    trust = Trust(
        keys=tuple(load_public_key(p) for p in keys),
        keyrings=tuple(load_keyring(p) for p in keyrings),
        signatures=signatures,
        identity=identity,
        require_signature=require_signature,
        policy=policy,
    )
    report = verify_image(image, trust, session=ctx.session(lim), skip_blob_checks=skip_blob_checks)
    if fmt == "json":
        dump(verification_to_json(report), sys.stdout)
    elif fmt == "sarif":
        dump(verification_to_sarif(report), sys.stdout)
    elif fmt == "junit":
        sys.stdout.write(verification_to_junit(report).decode("utf-8") + "\n")
    elif fmt == "markdown":
        markdown_verification(report, sys.stdout)
    else:
        render_verification(report, ctx.console(), ctx.verbose)
    click.get_current_context().exit(0 if report.ok else 1)
