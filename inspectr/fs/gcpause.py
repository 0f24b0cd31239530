"""Pause the cyclic garbage collector while a phase builds many long-lived objects.

Each full collection walks every live object. Building two 61k-entry trees set off enough of
them to cost 0.4 s of a 2.5 s warm diff (docs/benchmarks.md). Reference counting still frees
acyclic garbage during the pause; cyclic garbage waits until the phase ends. The switch is
process-wide, so a pause inside another pause leaves the collector as the outer one found it.
"""

from __future__ import annotations

import functools
import gc
from typing import Callable, ParamSpec, TypeVar

__all__ = ["gc_paused"]

P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper
