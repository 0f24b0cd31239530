"""All resource caps in one value (R24). Units are in the names."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "parse_limit"]

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied while reading untrusted images. Defaults are safe for multi-GB images."""

    max_layer_bytes: int = 64 * GiB  # uncompressed bytes per layer (bombs cost time, never memory)
    max_total_bytes: int = 256 * GiB  # uncompressed bytes over all layers of an image
    max_member_bytes: int = 32 * GiB  # one tar member's content
    max_entries_per_layer: int = 2_000_000
    max_entries_total: int = 5_000_000
    max_path_bytes: int = 4096  # PATH_MAX
    max_path_depth: int = 256
    # The bytes of every path in a merged tree, implied parents included: a 100 KB path 50 000
    # levels deep implies 50 000 parents of up to 100 KB each (issue 20: raised path limits).
    max_tree_path_bytes: int = 512 * MiB
    max_pax_bytes: int = 1 * MiB  # one PAX/GNU long-name header (Go CVE-2022-2879)
    max_json_bytes: int = 16 * MiB  # index, manifest, config
    max_symlink_hops: int = 40  # the kernel's MAXSYMLINKS
    max_layers: int = 1000
    max_sparse_segments: int = 100_000
    # A compressed layer blob cannot be larger than the largest layer it may inflate to, give or
    # take compression's overhead on incompressible data (well under 1%): a larger descriptor is
    # refused before a byte is hashed, instead of hashing a 1 TB sparse file for many minutes.
    max_blob_bytes: int = 65 * GiB

    def with_overrides(self, overrides: dict[str, int]) -> "Limits":
        """A copy with some caps replaced; unknown names raise ValueError."""
        from dataclasses import fields, replace

        known = {f.name for f in fields(self)}
        for name in overrides:
            if name not in known:
                raise ValueError(f"unknown limit {name!r}; known: {', '.join(sorted(known))}")
        return replace(self, **overrides)

    def scaled(self, factor: int) -> "Limits":
        """Every byte and count cap multiplied by `factor` (for `--limit-scale`)."""
        from dataclasses import fields, replace

        return replace(self, **{f.name: getattr(self, f.name) * factor for f in fields(self)})


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_limit(text: str) -> tuple[str, int]:
    """'max_layer_bytes=100G' -> ('max_layer_bytes', 107374182400). Raises ValueError."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"{text!r}: expected NAME=VALUE, e.g. max_layer_bytes=100G")
    value = value.strip().lower().removesuffix("ib").removesuffix("b")
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] else ""
    number = value[: len(value) - len(unit)] if unit else value
    if not number.isdigit():
        raise ValueError(f"{text!r}: value must be a whole number with an optional K/M/G/T suffix")
    return name.strip().replace("-", "_"), int(number) * _UNITS[unit]
