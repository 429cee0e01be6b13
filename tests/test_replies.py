"""Templates and reply rules: pure parsers and matchers, by tables."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsctl.errors import InvalidInput
from wsctl.replies import Replier, parse_reply
from wsctl.templates import check_template, parse_template

ENV = {"TOKEN": "s3cret", "EMPTY": ""}


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("plain", {}, "plain"),
        ("${a}-${b}", {"a": "x", "b": 2}, "x-2"),
        ("token=${env.TOKEN}", {}, "token=s3cret"),
        ("cost $5 and $${literal}", {}, "cost $5 and ${literal}"),
        ("${obj}", {"obj": {"k": [1, True]}}, '{"k": [1, true]}'),
        ("${1}${name}", {"1": "one", "name": "N"}, "oneN"),
        ("$", {}, "$"),
        ("${env.EMPTY}|", {}, "|"),
    ],
)
def test_templates_render(source: str, values: dict[str, object], expected: str) -> None:
    template = parse_template(source)
    check_template(template, values.keys(), ENV)
    assert template.render(values, ENV) == expected


def test_uuid_and_now_are_fresh_values() -> None:
    template = parse_template("${uuid} ${now}")
    first, now = template.render({}, ENV).split(" ")
    assert re.fullmatch(r"[0-9a-f-]{36}", first)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now)
    assert template.render({}, ENV).split(" ")[0] != first


def test_regex_escape_applies_to_filled_in_values_only() -> None:
    template = parse_template("^id=${id}$")
    assert template.render({"id": "a.b"}, ENV, escape=re.escape) == r"^id=a\.b$"


@pytest.mark.parametrize(
    ("source", "known", "problem"),
    [
        ("${", (), "no closing"),
        ("abc ${name", (), "no closing"),
        ("${}", (), "is not a name"),
        ("${a b}", (), "is not a name"),
        ("${env.}", (), "not a valid environment variable name"),
        ("${env.A-B}", (), "not a valid environment variable name"),
        ("${nope}", ("first",), "unknown name (known here: first)"),
        ("${env.NOT_SET_ANYWHERE}", (), "is not set"),
    ],
)
def test_bad_templates_are_rejected(source: str, known: tuple[str, ...], problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        check_template(parse_template(source), known, ENV)


@pytest.mark.parametrize(
    ("spec", "message", "answer"),
    [
        ("^2$=>3", "2", "3"),
        ("^2$=>3", "22", None),
        ("^2$=>3", b"2", "3"),  # binary read as UTF-8
        (r"^ping (\d+)$=>pong ${1}", "ping 41", "pong 41"),
        (r"^(?P<op>\w+):(?P<n>\d+)=>${op} ok ${n}", "add:7", "add ok 7"),
        ('json:type=ping=>{"type":"pong"}', '{"type":"ping","t":1}', '{"type":"pong"}'),
        ('json:type=ping=>{"type":"pong"}', '{"type":"pong"}', None),
        ('json:type=ping=>{"type":"pong"}', "not json", None),
        ("json:id=7=>got ${0}", '{"id":7}', 'got {"id":7}'),
        ("x=>${env.TOKEN}", "x", "s3cret"),
        ("a=>b=>c", "a", "b=>c"),  # the first => splits
    ],
)
def test_replies_answer_matching_messages(
    spec: str, message: str | bytes, answer: str | None
) -> None:
    assert parse_reply(spec, ENV).answer(message, ENV) == answer


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no separator", "is not MATCH=>RESPONSE"),
        ("=>3", "MATCH of a reply is empty"),
        ("(=>3", "not a valid regular expression"),
        ("json:=1=>x", "bad path"),
        ("json:type=>x", "not PATH=VALUE"),
        (r"^(\d)$=>${2}", "unknown name"),
        ("^a$=>${nope}", "unknown name"),
        ("^a$=>${env.NOT_SET_ANYWHERE}", "is not set"),
        ("^a$=>${", "no closing"),
    ],
)
def test_bad_reply_specs_are_rejected(spec: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        parse_reply(spec, ENV)


def test_replier_uses_the_first_matching_rule_and_counts() -> None:
    replier = Replier([parse_reply("^2$=>3", ENV), parse_reply("^2=>other", ENV)], ENV)
    assert [replier.respond(m) for m in ("2", "2", "25", "9")] == ["3", "3", "other", None]
    assert replier.summary() == [
        {"reply": "^2$=>3", "count": 2},
        {"reply": "^2=>other", "count": 1},
    ]


@given(st.text())
def test_text_without_references_renders_as_itself(text: str) -> None:
    plain = text.replace("${", "$ {")
    assert parse_template(plain).render({}, ENV) == plain


@given(st.text(), st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_escaped_references_and_values_survive(literal: str, value: str) -> None:
    """``$${`` is a literal ``${``; a value is inserted as it is, whatever it contains."""
    plain = literal.replace("${", "$ {")
    template = parse_template(plain + "$${x}${x}")
    assert template.render({"x": value}, ENV) == plain + "${x}" + value


@given(st.text())
def test_parse_template_never_crashes(text: str) -> None:
    try:
        parse_template(text)
    except InvalidInput as exc:
        assert "template" in str(exc)
