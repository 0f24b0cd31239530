"""`inspectr audit IMAGE`."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from ..audit.engine import AuditRules, audit_image, load_audit_rules
from ..audit.findings import Severity
from ..present.audit import AuditVerdict
from ..present.table import present
from ..verify.engine import attached_provenance
from .common import Context, Progress, format_option, image_options, parse_limits

_DEFAULT_RULES = ".inspectr-audit.toml"


@click.command("audit")
@click.argument("image")
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default="high", show_default=True,
              help="Exit 1 when a finding of this severity or worse is not allowed.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Thresholds and allow-lists (TOML); default: ./{_DEFAULT_RULES} when present.")
@image_options
@click.option("--full", is_flag=True, help="Text: every finding, one per line, instead of one line per rule.")
@format_option("text", "json", "sarif", "markdown", "junit", "html")
@click.pass_obj
def command(ctx: Context, image: str, fail_on: str, rules_path: Path | None, platform: str | None, limit_scale: int,
            limits: tuple[str, ...], strict: bool, full: bool, fmt: str) -> None:
    """Review one image for security problems, with the layer behind each: setuid/setgid files,
    file capabilities, world-writable paths, devices outside /dev, secrets in any layer (also
    deleted ones), config risks, deleted-but-present files, unowned executables, and dive's
    efficiency. Secrets are always redacted. Exit 0 clean, 1 a finding at --fail-on or worse
    (or a rules-file threshold), 2 error. Example: `inspectr audit fixtures/oci-layered`.
    """
    if rules_path is None and Path(_DEFAULT_RULES).is_file():
        rules_path = Path(_DEFAULT_RULES)
    rules = load_audit_rules(rules_path) if rules_path else AuditRules()
    session = ctx.session(parse_limits(limit_scale, limits))
    container = session.open_container(image, attachments=True)  # opened once: the image and what is attached to it
    img = session.open_image(container, platform)
    with Progress(ctx, img) as progress:
        report = audit_image(img, rules, session=ctx.session(img.limits, progress))
    report = replace(report, provenance=attached_provenance(container, session))
    verdict = AuditVerdict(report, Severity(fail_on))
    present(verdict, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose, full=full)
    click.get_current_context().exit(1 if verdict.failing else 0)
