"""`inspectr run IMAGE [-- CMD…]`."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..present.run import RunOutcome
from ..present.table import present
from ..runtime.run import RunOptions, run_image
from .common import Context, format_option, image_options, load_image
from .run_options import runtime_options, runtime_settings


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--timeout", "timeout_s", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True, help="Wall-clock limit in seconds (SIGKILL).")
@click.option("--user", help="Run as this user[:group], resolved in the image's /etc/passwd (default: the image's User).")
@click.option("-e", "--env", "env", multiple=True, metavar="NAME=VALUE", help="Extra environment. Repeatable.")
@click.option("-w", "--workdir", help="Working directory (default: the image's WorkingDir).")
@click.option("--memory", "memory_mib", type=click.IntRange(4), default=512, show_default=True, help="Memory limit in MiB (cgroup).")
@click.option("--cpu", "cpu_seconds", type=click.FloatRange(0.01), default=None, help="CPU-time limit in seconds (all processes).")
@click.option("--pids", "pids_max", type=click.IntRange(1), default=1024, show_default=True, help="Process limit (cgroup).")
@click.option("--userns", is_flag=True,
              help="A user namespace: root in the image is an unprivileged host uid (ids shifted by 2^30).")
@click.option("--diff", "show_diff", is_flag=True, help="After the run, list its side effects (added, modified, deleted paths).")
@runtime_options
@image_options
@format_option("text", "json")
@click.pass_obj
def command(ctx: Context, /, image: str, command: tuple[str, ...], timeout_s: float, user: str | None, env: tuple[str, ...],
            workdir: str | None, memory_mib: int, cpu_seconds: float | None, pids_max: int, userns: bool, show_diff: bool, platform: str | None, limit_scale: int, limits: tuple[str, ...],
            strict: bool, fmt: str, **runtime: Any) -> None:
    """Run IMAGE's command (or COMMAND after --) in inspectr's own namespace runtime, in Docker's
    default environment (its /dev, capabilities, seccomp profile, masked paths; fixed rlimits):
    pid, mount, uts, ipc, net (loopback only) and cgroup namespaces, an overlay over the image
    whose writes go to a size-limited tmpfs, no_new_privs. Needs root. The exit status is the
    command's (128+N for signal N, 124 on timeout). docs/security.md lists every difference from
    Docker and the flag that removes it. Example: `inspectr run fixtures/oci-busybox -- /bin/sh -c 'id; ls /'`.
    """
    settings = runtime_settings(runtime)  # flags are checked before the image is read
    img = load_image(ctx, image, platform, limit_scale, limits)
    options = RunOptions(argv=command or None, timeout_s=timeout_s, user=user, env=env, workdir=workdir,
                         memory_bytes=memory_mib << 20, pids=pids_max, cpu_seconds=cpu_seconds, userns=userns, **settings)
    outcome = RunOutcome(run_image(img, options, session=ctx.session(img.limits)), options, list_side_effects=show_diff)
    present(outcome, fmt, sys.stdout, err=sys.stderr)
    click.get_current_context().exit(outcome.exit_status)
