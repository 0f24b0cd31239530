"""`inspectr fleet scan` and `inspectr fleet query`."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from ..fleet.trust import FleetTrust
from ..present.table import present
from .common import Context, format_option, parse_limits, registry_options
from .progress import progress_allowed
from .fleet_options import QUESTION_OPTIONS, ScanProgress, chosen_query, fleet_trust_options, store_option


@click.group("fleet")
def command() -> None:
    """Scan many images on a Dask cluster into a SQLite store, each layer digest indexed once:
    `fleet scan` verifies, indexes, inventories and audits them with the one-image engines;
    `fleet query` finds images by path, digest, package, finding, signature or shared layer."""


@command.command("scan")
@click.argument("targets", nargs=-1)
@click.option("--from-file", "files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A file of references, one a line (# comments).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this Dask cluster (default: an embedded one).")
@click.option("--workers", type=click.IntRange(1, 1024), help="Worker processes of the embedded cluster (default: cores).")
@click.option("--rescan", is_flag=True, help="Scan images the store already holds complete.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Pick this platform from multi-platform indexes.")
@click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE", help="Raise (or lower) one resource limit.")
@store_option
@fleet_trust_options
@registry_options
@format_option("text", "json")
@click.pass_obj
def scan_command(ctx: Context, targets: tuple[str, ...], files: tuple[Path, ...], scheduler: str | None, workers: int | None,
                 rescan: bool, platform: str | None, limits: tuple[str, ...], store: Path, fmt: str, trust: FleetTrust) -> None:
    """Scan images: docker:// references, docker://HOST/GLOB[:TAGGLOB] (a registry's catalog),
    --from-file, or local layouts and archives (embedded cluster only). Exit 0 when every image
    scanned clean, 1 when one failed, failed verification or has a high or critical finding
    not allowed, 2 bad input. Example: `inspectr fleet scan 'docker://registry:5000/**'`."""
    from ..fleet.scan import ScanOptions, open_cluster, scan_fleet
    from ..fleet.store import FleetStore
    from ..fleet.targets import expand_targets

    session = ctx.session(parse_limits(1, limits))
    found = expand_targets(targets, files, session=session, remote=scheduler is not None, platform=platform)
    with FleetStore(store) as db, open_cluster(scheduler, workers) as executor:
        if executor.dashboard_link and (scheduler or progress_allowed(ctx)):  # a pipe gets errors only
            sys.stderr.write(f"inspectr: Dask dashboard: {executor.dashboard_link}\n")
        with ScanProgress(ctx) as progress:
            report = scan_fleet(found, db, session=replace(session, executor=executor), options=ScanOptions(rescan, trust),
                                progress=progress.update)
    present(report, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose)
    click.get_current_context().exit(1 if report.failing else 0)


@command.command("query")
@store_option
@QUESTION_OPTIONS
@format_option("text", "json")
@click.pass_obj
def query_command(ctx: Context, /, store: Path, severity: str | None, max_rows: int, fmt: str, **questions: str | bool | None) -> None:
    """Ask the fleet store one question: --path GLOB, --sha256 HEX, --package NAME[<=VERSION],
    --finding RULE ('*' any) [--severity S], --unsigned, --unverified, --shared-layer [DIGEST],
    --duplicated-layers, or --sql 'SELECT …' (read-only). Exit 0 rows found, 1 none, 2 error.
    Example: `inspectr fleet query --package liblzma5<=5.6.0`."""
    from ..fleet.query import Query, open_readonly, run_query

    question, argument = chosen_query(questions)
    conn = open_readonly(store)
    try:
        result = run_query(conn, Query(question, argument, severity, max_rows))
    finally:
        conn.close()
    present(result, fmt, sys.stdout, console=ctx.console, verbose=ctx.verbose)
    click.get_current_context().exit(0 if result.rows else 1)
