"""Per-run cgroups: memory, pids and devices limits, and what happened (OOM kill, pids limit).

cgroup v1 is used where its controllers are mounted (this machine's layout); v2 where the unified
hierarchy holds the controllers. Each run gets its own group under inspectr's own cgroup.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Limits", "RunCgroup", "Usage"]

_ROOT = Path("/sys/fs/cgroup")
# Devices a probe may use: null, zero, full, random, urandom, tty, ptmx and pts.
_ALLOWED_DEVICES = ("c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = 512 << 20
    pids: int | None = 1024
    extra_devices: tuple[str, ...] = ()  # v1 devices.allow rules beyond the standard nodes (--oci-config)


@dataclass
class Usage:
    oom_killed: bool = False
    memory_peak_bytes: int | None = None
    pids_limit_hit: bool = False
    notes: list[str] = field(default_factory=list)


def _own(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return "/"


def _v2() -> bool:
    return (_ROOT / "cgroup.controllers").is_file()


class RunCgroup:
    """Create with limits, `join(pid)` from the child, `usage()` after exit, then `remove()`."""

    def __init__(self, limits: Limits) -> None:
        self.dirs: dict[str, Path] = {}
        name = f"inspectr-{uuid.uuid4().hex[:12]}"
        self.notes: list[str] = []
        if _v2():
            base = _ROOT / _own("").lstrip("/") / name
            try:
                base.mkdir()
                self.dirs["unified"] = base
                if limits.memory_bytes:
                    (base / "memory.max").write_text(str(limits.memory_bytes))
                    (base / "memory.swap.max").write_text("0")
                if limits.pids:
                    (base / "pids.max").write_text(str(limits.pids))
            except OSError as err:
                self.notes.append(f"cgroup v2 limits not applied: {err.strerror}")
            return
        for controller in ("memory", "pids", "devices", "cpuacct"):
            root = _ROOT / controller
            if not root.is_dir():
                self.notes.append(f"cgroup v1 {controller} controller not mounted: not limited")
                continue
            d = root / _own(controller).lstrip("/") / name
            try:
                d.mkdir()
                self.dirs[controller] = d
                if controller == "memory" and limits.memory_bytes:
                    (d / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                    swap = d / "memory.memsw.limit_in_bytes"
                    if swap.exists():
                        swap.write_text(str(limits.memory_bytes))
                elif controller == "pids" and limits.pids:
                    (d / "pids.max").write_text(str(limits.pids))
                elif controller == "devices":
                    (d / "devices.deny").write_text("a")
                    for rule in _ALLOWED_DEVICES + limits.extra_devices:
                        (d / "devices.allow").write_text(rule)
            except OSError as err:
                self.notes.append(f"cgroup v1 {controller}: {err.strerror}")

    def join(self, pid: int = 0) -> None:
        """Called in the child before it forks the container: everything below inherits it."""
        for d in self.dirs.values():
            (d / "cgroup.procs").write_text(str(pid))  # 0: the writer itself, whatever its pid namespace

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by everything in the group (for a CPU-time limit)."""
        try:
            if "cpuacct" in self.dirs:
                return int((self.dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
            if "unified" in self.dirs:
                stats = dict(line.split() for line in (self.dirs["unified"] / "cpu.stat").read_text().splitlines())
                return int(stats["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            return None
        return None

    def usage(self) -> Usage:
        usage = Usage(notes=list(self.notes))
        for controller, d in self.dirs.items():
            try:
                if controller == "memory":
                    usage.memory_peak_bytes = int((d / "memory.max_usage_in_bytes").read_text())
                    for line in (d / "memory.oom_control").read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            usage.oom_killed = True
                elif controller == "pids":
                    events = (d / "pids.events").read_text().split()
                    usage.pids_limit_hit = len(events) >= 2 and int(events[1]) > 0
                elif controller == "unified":
                    counters = dict(line.split() for line in (d / "memory.events").read_text().splitlines())
                    usage.oom_killed = int(counters.get("oom_kill", "0")) > 0
                    peak = d / "memory.peak"
                    if peak.exists():
                        usage.memory_peak_bytes = int(peak.read_text())
                    pids = dict(line.split() for line in (d / "pids.events").read_text().splitlines())
                    usage.pids_limit_hit = int(pids.get("max", "0")) > 0
            except (OSError, ValueError) as err:
                usage.notes.append(f"{controller}: {err}")
        return usage

    def remove(self) -> None:
        for d in self.dirs.values():
            try:
                d.rmdir()
            except OSError:
                pass
