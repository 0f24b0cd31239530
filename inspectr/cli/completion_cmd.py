"""`inspectr completion bash|zsh|fish`."""

from __future__ import annotations

import sys

import click


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> None:
    """Print the shell completion script for SHELL, as click writes it for
    `_INSPECTR_COMPLETE=SHELL_source inspectr`.

    Example: `eval "$(inspectr completion bash)"` in ~/.bashrc, or
    `inspectr completion fish > ~/.config/fish/completions/inspectr.fish`.
    """
    from click.shell_completion import get_completion_class

    from . import cli

    completion = get_completion_class(shell)
    assert completion is not None  # click ships all three
    sys.stdout.write(completion(cli, {}, "inspectr", "_INSPECTR_COMPLETE").source() + "\n")
