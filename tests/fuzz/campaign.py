"""One fuzzing step: draw a mutant of a seed, write it, run every target command on it through
the CLI, and collect the anomalies. Shared by tests/test_fuzz.py (hypothesis, fixed seed) and
benchmarks/fuzz.py (the long run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .corpus import Seed, reference
from .draw import Draw
from .mutate import Mutant, make_mutant
from .runner import Run, Runner, cache_leftovers

__all__ = ["TARGETS", "ALL_TARGETS", "Outcome", "exercise", "command"]

TARGETS = ("ls", "inspect", "verify", "diff", "audit", "cat")
ALL_TARGETS = TARGETS + ("export",)


@dataclass
class Outcome:
    mutant: Mutant
    image: Path
    runs: list[Run] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"mutant {self.mutant.describe()}", f"  written at {self.image}"]
        for run in self.runs:
            lines.append(f"  inspectr {' '.join(run.argv)} -> {run.outcome()} ({run.seconds:.2f} s)")
            lines += [f"    ANOMALY {a}" for a in run.anomalies]
        lines += [f"  ANOMALY {a}" for a in self.anomalies if not any(a in r.anomalies for r in self.runs)]
        return "\n".join(lines)


def command(draw: Draw, target: str, seed: Seed, image: str, original: str, run_dir: Path) -> list[str]:
    """The command line of one target, with its options drawn."""
    strict = ["--strict"] if draw.chance(5) else []
    if target == "ls":
        extra = draw.choice(([], ["-f", "json"], ["--deleted"], ["-f", "json", "--deleted"], ["--layer", "0"], ["PATH"]))
        if extra == ["PATH"]:
            return ["ls", *strict, image, draw.choice(seed.cat_paths or ("etc/passwd",))]
        return ["ls", *extra, *strict, image]
    if target == "inspect":
        return ["inspect", *draw.choice(([], ["-f", "json"])), *strict, image]
    if target == "verify":
        keys = list(seed.verify_args) if seed.verify_args and draw.chance(70) else []
        return ["verify", *draw.choice(([], ["-f", "json"], ["-f", "sarif"], ["-f", "junit"])), *keys, image]
    if target == "diff":
        pair = [original, image] if draw.chance(60) else [image, original]
        fmt = draw.choice(("text", "json", "markdown", "sarif", "junit"))
        return ["diff", "-f", fmt, *pair]
    if target == "audit":
        return ["audit", *draw.choice(([], ["-f", "json"], ["-f", "sarif"], ["-f", "markdown"])), image]
    if target == "cat":
        return ["cat", *strict, image, draw.choice(seed.cat_paths or ("etc/passwd",))]
    if target == "export":
        dest = "-" if draw.chance(40) else str(run_dir / "rootfs")
        return ["export", image, dest]
    raise ValueError(target)


def exercise(draw: Draw, seed: Seed, workdir: Path, runner: Runner, targets: tuple[str, ...] = TARGETS,
             ci: bool = False) -> Outcome:
    """Everything for one mutant, in `workdir` (created here, left for the caller to remove)."""
    mutant = make_mutant(draw, seed, ci)
    workdir.mkdir(parents=True)
    image = mutant.write(workdir / ("image" if seed.container == "dir" else "image.tar"))
    outcome = Outcome(mutant, image)
    cache = workdir / "cache"
    options = ["--no-cache"] if draw.chance(15) else ["--cache-dir", str(cache)]
    ref, original = reference(seed, image), reference(seed, seed.source)
    for i, target in enumerate(targets):
        run_dir = workdir / f"run-{i}-{target}"
        argv = options + command(draw, target, seed, ref, original, run_dir)
        run = runner.run(target, argv, run_dir, allowed=[cache])
        outcome.runs.append(run)
        outcome.anomalies += [f"{target}: {a}" for a in run.anomalies]
    outcome.anomalies += [f"cache: temporary file left: {p}" for p in cache_leftovers(cache)]
    return outcome
