"""The short-text cache: repeated short strings are computed once, long ones
(which the agent controls) are never kept, so the cache cannot grow with them."""

from __future__ import annotations

from overseer.textcache import ShortTextCache, short_text_cache


def test_short_texts_are_computed_once_and_long_ones_every_time():
    calls: list[str] = []

    @short_text_cache(maxsize=16, max_chars=8)
    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert upper("git st") == "GIT ST" and upper("git st") == "GIT ST"
    assert calls == ["git st"]
    long = "x" * 9
    assert upper(long) == long.upper() and upper(long) == long.upper()
    assert calls == ["git st", long, long]
    upper.cache_clear()
    upper("git st")
    assert calls[-1] == "git st" and len(calls) == 4


def test_the_cache_holds_no_long_text_however_many_arrive():
    cache: ShortTextCache[int] = ShortTextCache(len, maxsize=4, max_chars=100)
    for i in range(1000):
        assert cache(str(i) * 200) == len(str(i)) * 200
    assert cache._cached.cache_info().currsize == 0  # noqa: SLF001 - the point of the test


def test_the_policy_analysis_and_guard_words_use_it():
    from overseer.broker.guard import _words
    from overseer.policy import analyse

    assert isinstance(analyse, ShortTextCache) and isinstance(_words, ShortTextCache)
    huge = "echo " + "a" * 50_000
    assert analyse(huge).parts and _words(huge)[0] == "echo"
