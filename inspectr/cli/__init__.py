"""The click layer: parse arguments, call one library function, pick a presenter, set the exit
code. Only this module turns errors into stderr text and exit codes (0 ok, 1 finding, 2 error)."""

from __future__ import annotations

import atexit
import dataclasses
import errno
import importlib
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, MutableMapping

from pathlib import Path

import click

from ..errors import InspectrError
from ..fs.cache import check_private_dir, default_cache_dir
from .common import Context

__all__ = ["main", "cli"]


# Commands are imported when used: `inspectr run` does not pay for rich, cryptography and the
# diff engine at start-up (the CLI's start-to-exit time is a measured target, issue 5).
_COMMANDS = {
    "inspect": "inspect_cmd", "ls": "ls_cmd", "cat": "cat_cmd", "export": "export_cmd", "diff": "diff_cmd",
    "verify": "verify_cmd", "audit": "audit_cmd", "gate": "gate_cmd", "run": "run_cmd", "behave": "behave_cmd",
    "cache": "cache_cmd", "pull": "pull_cmd", "sbom": "sbom_cmd", "fleet": "fleet_cmd", "completion": "completion_cmd",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = _COMMANDS.get(name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(f"{__name__}.{module}").command
        if not any(p.name == "verbose" for p in command.params):
            # `inspectr ls IMG -v` as users type it: click parses -v among the command's own
            # options, so a container's arguments after `--` (`run IMG -- echo -v`) stay whole.
            command.params.append(click.Option(["-v", "--verbose"], is_flag=True, expose_value=False,
                                               callback=_set_verbose, help="As the global -v."))
        if not any(p.name == "quiet" for p in command.params):
            command.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False,
                                               callback=_set_quiet, help="As the global -q."))
        return command

    @property
    def commands(self) -> dict[str, click.Command]:
        return {name: self.get_command(click.Context(self), name) for name in _COMMANDS}  # type: ignore[misc]

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        pass


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"inspectr, version {package_version()}")
        ctx.exit(0)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print inspectr's version and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Show warnings in full and tracebacks for internal errors.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress display and no notices or warnings on stderr; errors are still reported.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour and styles in terminal output (auto: on a terminal, unless NO_COLOR is set).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Layer-index cache (default: $INSPECTR_CACHE_DIR, $XDG_CACHE_HOME/inspectr, ~/.cache/inspectr).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the layer-index cache.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool, color: str, cache_dir: Path | None, no_cache: bool) -> None:
    """inspectr: forensic inspection of container images.

    IMAGE is a path (auto-detected) or a reference: docker-archive:PATH[:NAME:TAG],
    oci-archive:PATH[:REF], oci:DIR[:REF], dir:DIR, or docker://HOST/REPO[:TAG|@DIGEST]
    (a registry; see docs/registries.md). Every blob is verified against its
    digest while it streams. Exit codes: 0 ok, 1 findings, 2 error.
    """
    state = ctx.ensure_object(Context)  # main() passes its own, to read --verbose after an error
    state.verbose = state.verbose or verbose
    state.quiet = state.quiet or quiet
    state.color = color
    state.cache_dir = None if no_cache else (cache_dir or default_cache_dir())
    if state.cache_dir is not None and ctx.invoked_subcommand not in (None, "cache"):
        check_private_dir(state.cache_dir)
    # Pulled blobs live beside the indexes.
    state.registry = dataclasses.replace(state.registry, cache_dir=state.cache_dir, no_cache=no_cache)




def _terminated(state: Context) -> None:
    """SIGTERM: raised as KeyboardInterrupt where the main thread is, so every cleanup path of
    Ctrl-C runs; the exit status says which signal it was."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the unwinding is not interrupted again
    state.terminated = True
    raise KeyboardInterrupt


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    state = ctx.find_object(Context)
    if value and state is not None:
        state.quiet = True


def package_version() -> str:
    """The installed distribution's version, or the source tree's when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inspectr")
    except PackageNotFoundError:
        from .. import __version__

        return __version__


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    state = ctx.find_object(Context)
    if value and state is not None:
        state.verbose = True


def _json_requested(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg == "--format" and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
        if arg in ("--format=json", "-fjson") or (arg == "-f" and i + 1 < len(argv) and argv[i + 1] == "json"):
            return True
    return False


def _quiet_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _write_failure(err: OSError, where: str) -> InspectrError:
    from .common import write_failure

    return write_failure(err, err.filename or where)


def report_error(error_class: str, message: str, as_json: bool, hint: str | None = None, verbose: bool = False) -> None:
    if as_json:
        body: dict[str, Any] = {"error": error_class, "message": message}
        if hint:
            body["hint"] = hint
        from ..untrusted.secrets import redact_value

        sys.stderr.write(json.dumps(redact_value(body)) + "\n")
        return
    from ..present.safe import display_text

    sys.stderr.write(f"inspectr: error[{error_class}]: {display_text(message)}\n")
    if hint and verbose:
        sys.stderr.write(f"inspectr: hint: {display_text(hint)}\n")


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    if argv is None and hasattr(signal, "SIGPIPE"):
        # `inspectr ls IMAGE | head`: end quietly like other Unix filters when the reader goes
        # away, instead of click's exit status 1, which means "findings" here.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = list(sys.argv[1:] if argv is None else argv)
    # Libraries' log records (sigstore warns about root CAs in bundles) stay off stderr: what a
    # check found is in the report, and stderr carries only inspectr's one-line errors.
    logging.getLogger("sigstore").setLevel(logging.CRITICAL)
    as_json = _json_requested(args)
    state = Context()
    if argv is None:
        # CI cancels with SIGTERM: unwind like Ctrl-C (workers stopped, temporary files removed,
        # targets complete or absent) instead of dying with orphaned workers holding our pipes.
        signal.signal(signal.SIGTERM, lambda signum, frame: _terminated(state))
    try:
        code = cli.main(args=args, prog_name="inspectr", standalone_mode=False, obj=state)
        sys.stdout.flush()  # a full disk fails here, inside the handlers, not at interpreter exit
        if argv is None and isinstance(code or 0, int):
            _exit_now(code or 0)
        sys.exit(code or 0)
    except InspectrError as err:
        report_error(err.error_class, err.message, as_json, err.hint, state.verbose)
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:
        # `inspectr` alone: the help, as a normal page, with the usage exit code.
        sys.stdout.write(err.format_message() + "\n")
        sys.exit(2)
    except click.ClickException as err:
        report_error("usage", " ".join(err.format_message().split()), as_json)  # click wraps some: one line
        sys.exit(2)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt (and so of SIGTERM)
        sys.stderr.write("inspectr: terminated\n" if state.terminated else "inspectr: aborted\n")
        sys.exit(143 if state.terminated else 130)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO) or err.filename is not None:
            raise_internal(err, as_json, state.verbose)
        # Standard output on a full disk (or /dev/full): a clear class, not `internal`. Anything
        # still buffered would fail again at exit, so stdout goes to /dev/null first.
        _quiet_stdout()
        failure = _write_failure(err, "standard output")
        report_error(failure.error_class, failure.message, as_json, failure.hint, state.verbose)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("inspectr: terminated\n" if state.terminated else "inspectr: interrupted\n")
        sys.exit(143 if state.terminated else 130)
    except MemoryError:
        report_error("out-of-memory", "ran out of memory", as_json)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001 - last line of defence: never a traceback by default
        raise_internal(err, as_json, state.verbose)


def _exit_now(code: int) -> None:
    """End the process after a command finished: atexit handlers run (they remove temporary blob
    dirs) and standard streams are flushed, then the process exits without the interpreter's
    teardown, which frees every module and object one by one: about 20 ms of each `inspectr run`
    (issue 14). Returns, for the ordinary exit, while another thread still runs: it is joined."""
    if threading.active_count() > 1:
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def raise_internal(err: Exception, as_json: bool, verbose: bool) -> None:
    """The last-resort report: one line, exit 2 (with --verbose, the traceback instead)."""
    if verbose:
        raise err
    report_error("internal", f"internal error: {type(err).__name__}: {err} (rerun with --verbose for a traceback)", as_json)
    sys.exit(2)
