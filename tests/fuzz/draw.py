"""Where a mutator's choices come from: hypothesis (CI, shrinkable) or a seeded `random.Random`
(the long run, which keeps going after an anomaly). Mutators only ever ask a `Draw`, so one
mutator serves both, and a mutant is a pure function of its draws."""

from __future__ import annotations

import random
from typing import Any, Protocol, Sequence, TypeVar

T = TypeVar("T")

__all__ = ["Draw", "RandomDraw", "HypothesisDraw"]


class Draw(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...
    def choice(self, items: Sequence[T]) -> T: ...
    def chance(self, percent: int) -> bool: ...
    def blob(self, max_size: int) -> bytes: ...


class RandomDraw:
    """Uniform choices from a seeded generator."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.rng.randrange(len(items))]

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent

    def blob(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


class HypothesisDraw:
    """Choices drawn from hypothesis's `st.data()`. Every draw shrinks towards the simplest
    answer: the first item, the low bound, "no" for a chance, an empty blob."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._st = st
        self._data = data

    def integer(self, lo: int, hi: int) -> int:
        return int(self._data.draw(self._st.integers(lo, hi)))

    def choice(self, items: Sequence[T]) -> T:
        return items[self.integer(0, len(items) - 1)]

    def chance(self, percent: int) -> bool:
        # 0 (the shrink target) means no.
        return self.integer(0, 99) >= 100 - percent

    def blob(self, max_size: int) -> bytes:
        return bytes(self._data.draw(self._st.binary(max_size=max_size)))
