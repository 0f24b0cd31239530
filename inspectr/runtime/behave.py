"""behave: run the same probes in two images under one determinism recipe and compare what
they did. A field that varies between repeated runs of A is nondeterministic, not a difference."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..session import Session
from ..fs.build import build_tree
from ..image import Image
from .run import RunOptions, RunResult, run_image

__all__ = ["Probe", "ProbeOutcome", "BehaviourReport", "default_probes", "load_probes", "behave"]

FIELDS = ("exit", "stdout", "stderr", "side_effects")


@dataclass(frozen=True)
class Probe:
    name: str
    argv: tuple[str, ...] | None  # None: the image's own command
    timeout_s: float = 10.0


@dataclass
class ProbeOutcome:
    probe: Probe
    verdict: str  # same | different | nondeterministic-only | error
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {a, b}
    nondeterministic: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"probe": self.probe.name, "argv": list(self.probe.argv) if self.probe.argv else None,
                "verdict": self.verdict, "differences": self.differences, "nondeterministic": self.nondeterministic,
                "error": self.error}


@dataclass
class BehaviourReport:
    a: str
    b: str
    outcomes: list[ProbeOutcome]

    @property
    def same(self) -> bool:
        return all(o.verdict in ("same", "nondeterministic-only") for o in self.outcomes)


def default_probes(image: Image) -> list[Probe]:
    """The entrypoint with --version and --help, then the default command for a bounded time."""
    entry = list(image.config.entrypoint or image.config.cmd or ())[:1]
    probes = []
    if entry:
        probes += [Probe("version", tuple(entry + ["--version"]), 5.0), Probe("help", tuple(entry + ["--help"]), 5.0)]
    probes.append(Probe("default-command", None, 5.0))
    return probes


def load_probes(path: Path) -> list[Probe]:
    """A TOML file of `[[probe]]` tables: name, and either `sh = "CMD"` or `argv = [..]`."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"--probes {path}: {err}") from None
    out = []
    for i, p in enumerate(doc.get("probe", [])):
        where = f"--probes {path}: probe[{i}]"
        if not isinstance(p, dict) or set(p) - {"name", "sh", "argv", "timeout"}:
            raise UsageError(f"{where}: fields are name, sh or argv, timeout")
        if ("sh" in p) == ("argv" in p):
            raise UsageError(f"{where}: give exactly one of sh and argv")
        argv = ("/bin/sh", "-c", p["sh"]) if "sh" in p else tuple(p["argv"])
        if not argv or not all(isinstance(a, str) for a in argv):
            raise UsageError(f"{where}.argv: must be a non-empty list of strings")
        out.append(Probe(str(p.get("name", f"probe {i}")), argv, float(p.get("timeout", 10.0))))
    if not out:
        raise UsageError(f"--probes {path}: no [[probe]] tables")
    return out


def _observe(result: RunResult, normalisers: list[re.Pattern[bytes]]) -> dict[str, Any]:
    def norm(data: bytes) -> bytes:
        for rx in normalisers:
            data = rx.sub(b"<normalised>", data)
        return data

    out, err = norm(result.stdout), norm(result.stderr)
    return {
        "exit": "timeout" if result.timed_out else (result.exit_code if result.exit_code is not None else f"signal {result.signal}"),
        "stdout": {"sha256": hashlib.sha256(out).hexdigest(), "text": out[:2000].decode("utf-8", "replace")},
        "stderr": {"sha256": hashlib.sha256(err).hexdigest(), "text": err[:2000].decode("utf-8", "replace")},
        "side_effects": sorted((e.path, e.change, e.type, e.mode, e.uid, e.gid, e.sha256) for e in result.side_effects),
    }


def _key(field_: str, obs: dict[str, Any]) -> Any:
    value = obs[field_]
    return value["sha256"] if isinstance(value, dict) else repr(value)


def behave(a: Image, b: Image, probes: list[Probe], repeat: int = 2, normalisers: list[str] | None = None, *,
           session: Session | None = None, userns: bool = False, base: RunOptions = RunOptions()) -> BehaviourReport:
    """Each probe runs `repeat` times in A (to learn its noise), then once in B, under `base`
    (the runtime settings: capabilities, rlimits, an OCI config…) with the determinism recipe."""
    rx = [re.compile(n.encode()) for n in (normalisers or [])]
    session = session or Session(limits=a.limits)
    tree_a, tree_b = build_tree(a, session=session), build_tree(b, session=session)
    outcomes = []
    for probe in probes:
        options = dataclasses.replace(base, argv=probe.argv, timeout_s=probe.timeout_s, deterministic=True,
                                      userns=userns or base.userns)
        try:
            runs_a = [_observe(run_image(a, options, session=session, tree=tree_a), rx) for _ in range(max(1, repeat))]
            run_b = _observe(run_image(b, options, session=session, tree=tree_b), rx)
        except Exception as err:  # noqa: BLE001 - one probe that cannot run is reported, the others go on
            outcomes.append(ProbeOutcome(probe, "error", error=str(err)))
            continue
        noisy = [f for f in FIELDS if len({_key(f, r) for r in runs_a}) > 1]
        diffs = {f: {"a": runs_a[0][f], "b": run_b[f]} for f in FIELDS if f not in noisy and _key(f, runs_a[0]) != _key(f, run_b)}
        verdict = "different" if diffs else ("nondeterministic-only" if noisy else "same")
        outcomes.append(ProbeOutcome(probe, verdict, diffs, noisy))
    return BehaviourReport(a.reference, b.reference, outcomes)
