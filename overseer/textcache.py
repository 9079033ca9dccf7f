"""A cache for functions of one string that keeps only short strings.

The policy and the guard see the same commands again and again, so caching
their analysis pays. But the agent chooses those strings: a cache of
thousands of 100 KB commands would itself exhaust the runtime's memory
(invariant 7), so longer strings are computed each time and never kept.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, update_wrapper
from typing import Generic, TypeVar

T = TypeVar("T")


class ShortTextCache(Generic[T]):
    """``fn(text)``, cached (LRU, ``maxsize`` entries) for texts up to ``max_chars``."""

    def __init__(self, fn: Callable[[str], T], *, maxsize: int, max_chars: int) -> None:
        self._fn = fn
        self._cached = lru_cache(maxsize=maxsize)(fn)
        self.max_chars = max_chars
        update_wrapper(self, fn)

    def __call__(self, text: str) -> T:
        if len(text) <= self.max_chars:
            return self._cached(text)
        return self._fn(text)

    def cache_clear(self) -> None:
        self._cached.cache_clear()


def short_text_cache(
    *, maxsize: int, max_chars: int = 4096
) -> Callable[[Callable[[str], T]], ShortTextCache[T]]:
    """Decorator form of ``ShortTextCache``."""

    def wrap(fn: Callable[[str], T]) -> ShortTextCache[T]:
        return ShortTextCache(fn, maxsize=maxsize, max_chars=max_chars)

    return wrap
