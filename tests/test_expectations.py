"""The pure expectation parsers and the matcher: tables, then hypothesis for the edges."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsctl.errors import InvalidInput
from wsctl.expectations import (
    WILDCARD,
    CloseExpectation,
    Matcher,
    json_equal,
    parse_close_expectation,
    parse_json_expectation,
    parse_regex,
    resolve,
)

# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "path", "value"),
    [
        ("type=pong", ("type",), "pong"),
        ("data.items[0].id=7", ("data", "items", 0, "id"), 7),
        ("id=7.5", ("id",), 7.5),
        ('id="7"', ("id",), "7"),
        ("ok=true", ("ok",), True),
        ("gone=null", ("gone",), None),
        ('tags=["a","b"]', ("tags",), ["a", "b"]),
        ('obj={"a": 1}', ("obj",), {"a": 1}),
        ("name=hello world", ("name",), "hello world"),
        ("name=", ("name",), ""),
        ("eq=a=b", ("eq",), "a=b"),
        ("items[-1]=3", ("items", -1), 3),
        ("$=1", (), 1),
        ("$.type=pong", ("type",), "pong"),
        ("$[0]=x", (0,), "x"),
        ("[0].id=1", (0, "id"), 1),
        ("items[*].id=2", ("items", WILDCARD, "id"), 2),
        ("prices.*=3", ("prices", WILDCARD), 3),
        ('["a.b"]=1', ("a.b",), 1),
        ("['a[0]'].x=1", ("a[0]", "x"), 1),
        ('["*"]=1', ("*",), 1),
        ('["say \\"hi\\""]=1', ('say "hi"',), 1),
        ("ünïcode.kéy=ok", ("ünïcode", "kéy"), "ok"),
    ],
)
def test_json_expectation_paths_and_values(source: str, path: tuple[Any, ...], value: Any) -> None:
    expectation = parse_json_expectation(source)
    assert expectation.path == path
    assert expectation.value == value and type(expectation.value) is type(value)
    assert expectation.option == f"--expect-json '{source}'" or "'" in source


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("type", "is not PATH=VALUE"),
        ("=1", "a path before '='"),
        ("", "a path before '='"),
        ("a..b=1", "a key name after '.'"),
        ("a.=1", "a key name after '.'"),
        (".a=1", "a key name"),
        ("a[x]=1", "a number, * or a quoted key"),
        ("a[0=1", "a number, * or a quoted key"),
        ("a[]=1", "a number, * or a quoted key"),
        ('a["x]=1', 'a quoted key ending in "]'),
        ("a]=1", "'.', '[' or '='"),
        ("a[0]x=1", "'.', '[' or '='"),
        ("$x=1", "after '$'"),
        (" a=1", "a key name"),
        ("a =1", "a key name"),
    ],
)
def test_bad_json_paths_are_rejected_with_the_position(source: str, complaint: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_json_expectation(source)
    assert complaint in str(error.value)


def test_bad_regex_names_the_problem() -> None:
    with pytest.raises(InvalidInput, match=r"not a valid regular expression: .*position 1"):
        parse_regex("a(")
    with pytest.raises(InvalidInput, match="repetition number is too large"):
        parse_regex("a{9999999999}")
    assert parse_regex("p[io]ng").matches("ping!")


@pytest.mark.parametrize(
    ("text", "code"),
    [("1000", 1000), ("normal", 1000), ("going-away", 1001), ("GOING_AWAY", 1001),
     ("abnormal-closure", 1006), ("4000", 4000), (" 1011 ", 1011)],
)  # fmt: skip
def test_close_expectation_accepts_numbers_and_names(text: str, code: int) -> None:
    assert parse_close_expectation(text) == CloseExpectation(code)


@pytest.mark.parametrize("text", ["999", "5000", "nope", "", "-1000"])
def test_close_expectation_rejects_the_rest(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_close_expectation(text)


# -- evaluation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (7, 7.0, True),
        (1, True, False),
        (0, False, False),
        (True, True, True),
        ("7", 7, False),
        (None, None, True),
        (None, "null", False),
        ([1, {"a": 2.0}], [1.0, {"a": 2}], True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": [True]}, {"a": [1]}, False),
    ],
)
def test_json_equality_is_json_not_python(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


def test_resolve_follows_indexes_wildcards_and_misses_quietly() -> None:
    document = {"items": [{"id": 1}, {"id": 2}, {"name": "x"}], "n": 3}
    assert list(resolve(document, ("items", 1, "id"))) == [2]
    assert list(resolve(document, ("items", -1, "name"))) == ["x"]
    assert list(resolve(document, ("items", WILDCARD, "id"))) == [1, 2]
    assert list(resolve(document, ("items", 9))) == []
    assert list(resolve(document, ("n", "deeper"))) == []
    assert list(resolve(document, ("n", 0))) == []
    assert list(resolve([1, 2], (WILDCARD,))) == [1, 2]


# -- the matcher -----------------------------------------------------------------------------


def matcher(*options: str) -> Matcher:
    """Build a matcher from command-line-like strings: ``re:X``, ``json:P=V``, ``close:C``."""
    built = []
    for option in options:
        kind, _, text = option.partition(":")
        if kind == "re":
            built.append(parse_regex(text))
        elif kind == "json":
            built.append(parse_json_expectation(text))
        else:
            built.append(parse_close_expectation(text))
    return Matcher(built)


def test_patterns_are_met_in_order_and_one_message_may_meet_several() -> None:
    m = matcher("re:hello", "re:world", "re:again")
    assert m.feed("hello world") is False  # meets the first two at once
    assert m.feed("unrelated") is False
    assert m.feed("hello again") is True
    assert [o.message_number for o in m.outcomes()] == [1, 1, 3]


def test_several_conditions_may_describe_one_reply() -> None:
    m = matcher("json:type=pong", "json:id=7")
    assert m.feed('{"type": "pong", "id": 7}')


def test_out_of_order_is_unmet_and_says_so() -> None:
    m = matcher("re:^a$", "re:^b$")
    m.feed("b")
    m.feed("a")
    assert not m.satisfied
    assert [e.option for e in m.unmet] == ["--expect '^b$'"]
    assert m.describe_unmet() == (
        "--expect '^b$' (a message matched it earlier, out of order) (1 of 2 met)"
    )


def test_regex_and_json_lists_advance_independently() -> None:
    m = matcher("re:ready", "json:type=update", "json:seq=2")
    assert not m.feed('{"type": "other", "seq": 2}')  # seq=2 before type=update: too early
    assert not m.feed('{"type": "update", "seq": 1}')
    assert not m.feed('{"type": "update", "seq": 2}')
    assert m.feed("ready")


def test_json_expectation_ignores_what_is_not_json() -> None:
    m = matcher("json:data.items[0].id=7")
    assert not m.feed("not json")
    assert not m.feed(b"\xff\xfe binary")
    assert not m.feed('{"data": {"items": [{"id": "7"}]}}')  # a string is not the number 7
    assert m.feed(b'{"data": {"items": [{"id": 7.0}]}}')  # binary UTF-8 JSON counts


def test_binary_messages_are_searched_as_utf8() -> None:
    m = matcher("re:caf.")
    assert m.feed("café".encode())


def test_close_expectation_needs_the_code() -> None:
    m = matcher("re:bye", "close:4000")
    assert not m.feed("bye")
    assert m.expects_close
    assert not m.close(1000, "")
    assert m.describe_unmet() == "--expect-close 4000 (closed with 1000 normal) (1 of 2 met)"
    m2 = matcher("close:going-away")
    assert m2.close(1001, "restart")


def test_recent_keeps_the_last_five_messages() -> None:
    m = matcher("re:never")
    for n in range(8):
        m.feed(f"m{n}")
    assert list(m.recent) == ["m3", "m4", "m5", "m6", "m7"]
    assert m.received == 8


# -- properties ------------------------------------------------------------------------------

KEYS = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(key=KEYS, inner=KEYS, value=JSON_VALUES)
def test_a_json_value_written_as_json_matches_itself(key: str, inner: str, value: Any) -> None:
    expectation = parse_json_expectation(f"{key}.{inner}={json.dumps(value)}")
    assert expectation.matches({key: {inner: value}})
    assert Matcher([expectation]).feed(json.dumps({key: {inner: value}}))


@given(st.text(max_size=40))
def test_any_text_parses_or_is_invalid_input(text: str) -> None:
    for parse in (parse_json_expectation, parse_regex, parse_close_expectation):
        try:
            parse(text)
        except InvalidInput as error:
            assert "\n" not in str(error).replace(text, "")
