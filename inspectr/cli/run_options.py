"""The runtime's options, shared by `run` and `behave`: each difference from Docker's default
environment is one flag away (docs/security.md), and --oci-config mirrors a production config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..errors import UsageError
from ..runtime.spec import capability_number, parse_ulimit

__all__ = ["runtime_options", "runtime_settings"]

F = TypeVar("F", bound=Callable[..., Any])
_SIZE = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _bytes(text: str) -> int | None:
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    if value in ("0", "none", "unlimited"):
        return None
    try:
        return int(float(value[:-1]) * _SIZE[value[-1]]) if value[-1:] in _SIZE else int(value)
    except (ValueError, KeyError):
        raise UsageError(f"--disk {text!r}: expected a size such as 512M or 2G, or 0 for no limit") from None


def runtime_options(func: F) -> F:
    options = [
        click.option("--hostname", default="inspectr", show_default=True, help="The container's hostname."),
        click.option("--disk", "disk", default="256M", show_default=True, metavar="SIZE",
                     help="Size limit of what the container writes (a tmpfs: it counts toward --memory); 0: none."),
        click.option("--read-only", "read_only", is_flag=True, help="Mount the container's root read-only."),
        click.option("--cap-add", "cap_add", multiple=True, metavar="CAP", help="Add a capability to Docker's default set."),
        click.option("--cap-drop", "cap_drop", multiple=True, metavar="CAP", help="Drop a capability from the set."),
        click.option("--ulimit", "ulimits", multiple=True, metavar="NAME=SOFT[:HARD]",
                     help="Set a resource limit (over inspectr's fixed defaults, docs/security.md)."),
        click.option("--allow-new-privileges", is_flag=True,
                     help="Do not set no_new_privs (Docker's default): setuid binaries can gain privileges."),
        click.option("--seccomp", "seccomp", type=click.Choice(["default", "unconfined"]), default="default",
                     show_default=True, help="Docker's default seccomp profile, or none."),
        click.option("--oci-config", "oci_config", type=click.Path(dir_okay=False, path_type=Path),
                     help="Apply a runtime-spec config.json's process and linux sections; what cannot be honoured is refused."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def runtime_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """RunOptions fields from the options above (popped from the command's keyword arguments)."""
    oci_path = kw.pop("oci_config")
    settings: dict[str, Any] = {
        "hostname": kw.pop("hostname"),
        "disk_bytes": _bytes(kw.pop("disk")),
        "read_only_root": kw.pop("read_only"),
        "cap_add": tuple(capability_number(c, "--cap-add") for c in kw.pop("cap_add")),
        "cap_drop": tuple(capability_number(c, "--cap-drop") for c in kw.pop("cap_drop")),
        "ulimits": tuple(parse_ulimit(u) for u in kw.pop("ulimits")),
        "no_new_privs": not kw.pop("allow_new_privileges"),
        "seccomp": kw.pop("seccomp") == "default",
    }
    if oci_path is not None:
        from ..runtime.ociconfig import load_oci_config

        settings["oci"] = load_oci_config(oci_path)
    return settings
