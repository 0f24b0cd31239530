"""Running the CLI in-process from tests: through click's runner, or through `main` (exit code,
stdout and stderr exactly as a shell would see them)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from inspectr.cli import cli, main


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err
