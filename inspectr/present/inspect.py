"""`inspect`: the image summary as terminal text or versioned JSON (docs/formats/inspect.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..summary import ImageSummary
from .json import dump_document
from .text import render_summary

if TYPE_CHECKING:
    from .table import Target

__all__ = ["present_text", "present_json"]


def present_text(summary: ImageSummary, to: Target) -> None:
    render_summary(summary, to.console())


def present_json(summary: ImageSummary, to: Target) -> None:
    dump_document("inspect", summary.to_json(), to.out)
