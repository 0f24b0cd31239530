"""Files a user names are regular files read with a cap (issue 20): a FIFO never blocks, /dev/zero
never fills memory, a deeply nested policy is an error, not a RecursionError. Each runs in a
child process with a timeout, so a regression fails instead of hanging the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
IMG = str(FIXTURES / "oci-busybox")


def _inspectr(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "f"
    os.mkfifo(path)
    return path


def _one_line_error(done: subprocess.CompletedProcess[str], error_class: str, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"error[{error_class}]" in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_a_fifo_as_the_image_is_refused_without_blocking(fifo: Path) -> None:
    _one_line_error(_inspectr("ls", str(fifo)), "image-not-found", str(fifo), "not a regular file")


@pytest.mark.parametrize("args,error_class,words", [
    (["diff", "--policy", "{fifo}", IMG, IMG], "usage", ["not a regular file"]),
    (["audit", "--rules", "{fifo}", IMG], "usage", ["not a regular file"]),
    (["verify", IMG, "--key", "{fifo}"], "usage", ["not a regular file"]),
])
def test_a_fifo_as_a_user_file_is_refused_without_blocking(fifo: Path, args: list[str], error_class: str,
                                                           words: list[str]) -> None:
    _one_line_error(_inspectr(*[a.format(fifo=fifo) for a in args]), error_class, str(fifo), *words)


@pytest.mark.parametrize("args", [
    ["verify", IMG, "--key", "/dev/zero"],
    ["verify", IMG, "--keyring", "/dev/urandom"],
    ["audit", "--rules", "/dev/zero", IMG],
    ["diff", "--policy", "/dev/zero", IMG, IMG],
    ["verify", IMG, "--policy", "/dev/zero"],
])
def test_endless_devices_are_refused_not_read(args: list[str]) -> None:
    _one_line_error(_inspectr(*args), "usage", "/dev/", "not a regular file")


def test_an_oversized_key_file_is_refused_by_size(tmp_path: Path) -> None:
    big = tmp_path / "big.pub"
    with open(big, "wb") as fp:
        fp.truncate(2 << 20)
    _one_line_error(_inspectr("verify", IMG, "--key", str(big)), "usage", str(big), "over the limit")


def test_a_deeply_nested_toml_policy_is_an_error_not_a_crash(tmp_path: Path) -> None:
    policy = tmp_path / "deep.toml"
    policy.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    _one_line_error(_inspectr("diff", "--policy", str(policy), IMG, IMG), "usage", str(policy), "invalid TOML")


@pytest.mark.parametrize("kind", ["broken", "missing", "fifo", "array"])
def test_a_named_authfile_is_checked_even_when_no_registry_asks(tmp_path: Path, fifo: Path, kind: str) -> None:
    # Issue 20: a broken --authfile used to be ignored until a registry asked for credentials,
    # so an anonymous pull or a local image never noticed it.
    path = {"broken": tmp_path / "a.json", "missing": tmp_path / "none.json", "fifo": fifo, "array": tmp_path / "b.json"}[kind]
    if kind == "broken":
        path.write_text("{bad")
    if kind == "array":
        path.write_text("[]")
    words = {"broken": "invalid JSON", "missing": "does not exist", "fifo": "not a regular file", "array": "not a JSON object"}[kind]
    _one_line_error(_inspectr("ls", "--authfile", str(path), IMG), "usage", str(path), words)


def test_a_good_authfile_is_accepted_for_a_local_image(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text('{"auths": {}}')
    done = _inspectr("ls", "--authfile", str(path), IMG)
    assert done.returncode == 0, done.stderr
