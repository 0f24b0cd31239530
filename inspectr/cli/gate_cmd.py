"""`inspectr gate --release A --rebuild B`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import UsageError
from ..gate.engine import run_gate
from ..gate.attest import load_signing_key, verdict_envelopes
from ..gate.policy import GatePolicy, load_gate_policy, with_command_line
from ..present.table import present
from .common import Context, Progress, format_option, output_file, registry_options
from .trust_options import KeylessInputs, keyless_options

_REPORT_NAMES = {"json": "gate.json", "sarif": "gate.sarif", "junit": "gate.junit.xml", "markdown": "gate.md", "html": "report.html"}


@click.command("gate")
@click.option("--release", required=True, metavar="IMAGE", help="The signed release image.")
@click.option("--rebuild", required=True, metavar="IMAGE", help="The image rebuilt from the same source.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate policy (TOML): signers, accepted differences, audit threshold, probes.")
@click.option("--key", "keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help="cosign public key (adds to the policy's).")
@click.option("--keyring", "keyrings", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help="OpenPGP keyring (adds to the policy's).")
@click.option("--identity", help="The reference the release signature must name (overrides the policy's).")
@click.option("--behave", is_flag=True, help="Also run the policy's behaviour probes in inspectr's runtime (needs root).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write gate.json, gate.sarif, gate.junit.xml, gate.md and report.html here.")
@click.option("--json", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report here.")
@click.option("--sarif", type=click.Path(dir_okay=False, path_type=Path), help="Write the SARIF report here.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write the JUnit XML report here.")
@click.option("--attest-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the verdict (in-toto, SLSA verification summary, DSSE) with this PEM private key, one per image, into --report-dir.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Write the Markdown summary here.")
@keyless_options
@registry_options
@format_option("text", "json", "sarif", "junit", "markdown", "html")
@click.pass_obj
def command(ctx: Context, /, release: str, rebuild: str, policy_path: Path | None, keys: tuple[Path, ...],
            keyrings: tuple[Path, ...], identity: str | None, behave: bool, report_dir: Path | None, keyless: KeylessInputs,
            attest_key: Path | None, fmt: str,
            **paths: Path | None) -> None:
    """One CI verdict for a signed, reproducible build: verify the release's signature and
    integrity, verify the rebuild's integrity, diff them under the policy's accepted
    differences. Verdicts: reproduced (bit-identical), equivalent (only accepted differences,
    counted and listed), not-reproduced, untrusted. Exit 0 for the first two, 1 for the others,
    2 on error. Writes JSON, SARIF, JUnit and Markdown together; appends the Markdown to
    $GITHUB_STEP_SUMMARY and prints ::error annotations under GitHub Actions.
    Example: `inspectr gate --release oci-archive:release.tar --rebuild rebuild.tar --policy inspectr.toml`.
    """
    policy = load_gate_policy(policy_path) if policy_path else GatePolicy(require_signature=bool(keys or keyrings or keyless[0].given))
    policy = with_command_line(policy, keys, keyrings, identity, behave, *keyless)
    signing_key = load_signing_key(attest_key) if attest_key else None
    if signing_key is not None and report_dir is None:
        raise UsageError("--attest-key: give --report-dir too; the signed verdicts are written there")
    with Progress(ctx, None, "checking") as progress:
        report = run_gate(release, rebuild, policy, session=ctx.session(None, progress))
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        paths = {kind: paths.get(kind) or report_dir / name for kind, name in _REPORT_NAMES.items()}
    for kind in _REPORT_NAMES:  # in this order, also when the options were given in another
        if paths.get(kind) is not None:
            with output_file(paths[kind], "w") as fp:  # type: ignore[arg-type]
                present(report, kind, fp)
    if signing_key is not None and report_dir is not None:
        for role, envelope in verdict_envelopes(report, signing_key, policy_path):
            with output_file(report_dir / f"verdict-{role}.intoto.json", "w") as fp:
                fp.write(envelope.decode())
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with output_file(Path(os.environ["GITHUB_STEP_SUMMARY"]), "a") as fp:
            present(report, "markdown", fp)
    if os.environ.get("GITHUB_ACTIONS") == "true" and fmt == "text":  # workflow commands, beside the text
        present(report, "github", sys.stdout)
    present(report, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose)
    click.get_current_context().exit(0 if report.ok else 1)
