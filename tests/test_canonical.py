"""The canonical JSON every hash is computed over.

canonical_json takes a fast road (orjson) and a reference road (the stdlib
encoder with sorted keys, compact separators, no ASCII escaping). They must
write the same text for every value, or a log written by one would not
verify against a hash recomputed by the other.
"""

from __future__ import annotations

import enum
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overseer.canonical import NonCanonicalValue, canonical_json, event_body, sha256_hex


def reference(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Text across the planes: control characters, quotes, backslashes, the line
# separators JSON and JavaScript disagree on, astral characters.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",))
    | st.sampled_from('"\\\x00\x1f\x7f\u2028\u2029'),
    max_size=30,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_fast_road_writes_the_reference_text(value: object) -> None:
    assert canonical_json(value) == reference(value)


def test_keys_sort_by_code_point_across_planes() -> None:
    value = {"\U0001f600": 1, "\uffff": 2, "\ue000": 3, "z": 4, "é": 5, "": 6}
    assert canonical_json(value) == reference(value)
    assert list(json.loads(canonical_json(value))) == sorted(value)


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**70, "neg": -(2**64)},  # beyond 64 bits
        {1: "a", 2: "b"},  # non-string keys: the reference writes them as strings
    ],
)
def test_values_the_fast_road_refuses_take_the_reference_road(value: object) -> None:
    assert canonical_json(value) == reference(value)


def test_a_lone_surrogate_is_written_as_ascii_json_that_reads_back_the_same() -> None:
    value = {"args": {"text": "café \udc80 bytes"}, "n": 1}
    text = canonical_json(value)
    assert text.isascii() and json.loads(text) == value
    assert text == canonical_json(json.loads(text))  # stable
    sha256_hex(text)  # hashable: it has a UTF-8 form


def test_subclasses_are_written_as_the_reference_writes_them() -> None:
    class Colour(enum.StrEnum):
        RED = "red"

    class Count(int):
        pass

    value = {"c": Colour.RED, "n": Count(3), "ok": True}
    assert canonical_json(value) == reference(value)


def test_floats_are_refused() -> None:
    with pytest.raises(NonCanonicalValue):
        canonical_json({"x": [1, {"y": 0.5}]})


def test_event_body_is_the_canonical_form_of_its_parts() -> None:
    payload = {"b": "ü\n", "a": [1, None]}
    body = event_body('se"ss', 123, "action_finished", canonical_json(payload))
    parts = {"kind": "action_finished", "payload": payload, "session_id": 'se"ss', "ts": 123}
    assert body == reference(parts)
