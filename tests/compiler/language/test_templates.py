"""Templates: what parses (and what is refused, with where), how values render, and what never happens."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from compiler.language.templates import (
    MissingVariable,
    Placeholder,
    TemplateSyntaxError,
    iter_placeholders,
    lookup,
    parse_template,
    render_string,
    render_value,
)

VALID = [
    ("no-braces", "plain text", ("plain text",)),
    ("empty", "", ()),
    ("one-name", "{name}", (Placeholder(("name",), 0),)),
    ("dotted-in-text", "Hi {user.name}!", ("Hi ", Placeholder(("user", "name"), 3), "!")),
    ("digit-and-dash-segments", "{outputs.scan.items.0.file-name}",
     (Placeholder(("outputs", "scan", "items", "0", "file-name"), 0),)),
    ("escaped-braces", "{{literal}}", ("{literal}",)),
    ("escape-around-placeholder", "{{{name}}}", ("{", Placeholder(("name",), 2), "}")),
    ("secret", "Bearer {secret:api.token-1}", ("Bearer ", Placeholder((), 7, secret="api.token-1"))),
    ("two-placeholders", "{a}{b}", (Placeholder(("a",), 0), Placeholder(("b",), 3))),
]

_ALLOWED = "allowed are {name}, dotted {a.b.c} and {secret:NAME} (no indexing, conversions, format specs or spaces)"
INVALID = [
    ("indexing", "{a[0]}", f"invalid placeholder '{{a[0]}}': {_ALLOWED}", 0),
    ("conversion", "x {a!r}", f"invalid placeholder '{{a!r}}': {_ALLOWED}", 2),
    ("format-spec", "{a:>3}", f"invalid placeholder '{{a:>3}}': {_ALLOWED}", 0),
    ("attribute-call", "{a.b()}", f"invalid placeholder '{{a.b()}}': {_ALLOWED}", 0),
    ("spaces", "{ name }", f"invalid placeholder '{{ name }}': {_ALLOWED}", 0),
    ("empty-braces", "{}", f"invalid placeholder '{{}}': {_ALLOWED}", 0),
    ("empty-segment", "{a..b}", f"invalid placeholder '{{a..b}}': {_ALLOWED}", 0),
    ("leading-digit", "{0}", f"invalid placeholder '{{0}}': {_ALLOWED}", 0),
    ("secret-without-name", "{secret:}", f"invalid placeholder '{{secret:}}': {_ALLOWED}", 0),
    ("single-closing-brace", "done }", "single '}': write '}}' for a literal brace", 5),
    ("unclosed-brace", "at {timestamp", "unclosed '{': write '{{' for a literal brace", 3),
    ("nested-brace", "{a{b}}", "'{' inside a placeholder: write '{{' for a literal brace", 0),
]


@pytest.mark.parametrize(("text", "parts"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_template_parses_into_parts(text: str, parts: tuple[Any, ...]) -> None:
    assert parse_template(text).parts == parts


@pytest.mark.parametrize(("text", "message", "offset"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_template_names_the_problem_and_where(text: str, message: str, offset: int) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse_template(text)
    assert (str(caught.value), caught.value.offset) == (message, offset)


VARIABLES: dict[str, Any] = {
    "n": 3,
    "ratio": 0.5,
    "flag": True,
    "nothing": None,
    "name": "api",
    "data": {"b": 1, "a": [1, "x"]},
    "items": ["first", "second"],
}

RENDER = [
    ("int-keeps-type", "{n}", 3),
    ("float-keeps-type", "{ratio}", 0.5),
    ("bool-keeps-type", "{flag}", True),
    ("null-keeps-type", "{nothing}", None),
    ("mapping-keeps-type", "{data}", {"b": 1, "a": [1, "x"]}),
    ("nested-key", "{data.b}", 1),
    ("list-index-segment", "{items.1}", "second"),
    ("int-in-text", "n={n}", "n=3"),
    ("bool-in-text-is-json", "flag={flag}", "flag=true"),
    ("null-in-text-is-json", "v={nothing}", "v=null"),
    ("mapping-in-text-is-sorted-json", "d={data}", 'd={"a": [1, "x"], "b": 1}'),
    ("several", "{name}:{n}/{items.0}", "api:3/first"),
    ("escapes", "{{name}} is {name}", "{name} is api"),
    ("no-template", "just text", "just text"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in RENDER], ids=[c[0] for c in RENDER])
def test_render(text: str, expected: Any) -> None:
    result = render_string(text, VARIABLES)
    assert (result, type(result)) == (expected, type(expected))


def test_missing_variable_names_the_first_missing_part() -> None:
    with pytest.raises(MissingVariable) as caught:
        render_string("{data.c.d}", VARIABLES)
    assert str(caught.value) == "template variable '{data.c.d}' is not defined ('data.c' is missing)"


def test_list_index_out_of_range_is_missing() -> None:
    with pytest.raises(MissingVariable):
        render_string("{items.2}", VARIABLES)


def test_secret_is_resolved_by_the_given_function() -> None:
    assert render_string("Bearer {secret:token}", {}, secret={"token": "s3cr3t"}.__getitem__) == "Bearer s3cr3t"


def test_secret_stays_a_reference_without_a_resolver() -> None:
    assert render_string("Bearer {secret:token}", {}) == "Bearer {secret:token}"


INJECTED = [
    ("secret-in-text", "got {payload}", {"payload": "{secret:db_password}"}, "got {secret:db_password}"),
    ("secret-alone", "{payload}", {"payload": "{secret:db_password}"}, "{secret:db_password}"),
    ("builtin-in-text", "id {payload}", {"payload": "{run_id}", "run_id": "r-1"}, "id {run_id}"),
    ("nested-in-mapping", "{event}", {"event": {"title": "{run_id} {secret:x}"}, "run_id": "r-1"},
     {"title": "{run_id} {secret:x}"}),
    ("broken-template-in-value", "v={payload}", {"payload": "{unclosed"}, "v={unclosed"),
]


@pytest.mark.parametrize(("text", "variables", "expected"), [c[1:] for c in INJECTED], ids=[c[0] for c in INJECTED])
def test_substituted_values_are_never_parsed_again(text: str, variables: dict[str, Any], expected: Any) -> None:
    leaked = {"db_password": "LEAKED", "x": "LEAKED"}
    assert render_string(text, variables, secret=leaked.__getitem__) == expected


class Spy:
    """An object with an attribute and str/format hooks that record being called."""

    calls: ClassVar[list[str]] = []  # shared by every Spy: a test clears it, renders, then reads it

    def __init__(self) -> None:
        self.token = "attribute value"

    def __str__(self) -> str:
        Spy.calls.append("__str__")
        return "stringified"

    def __format__(self, spec: str) -> str:
        Spy.calls.append("__format__")
        return "formatted"

    def __repr__(self) -> str:
        Spy.calls.append("__repr__")
        return "repr"


@pytest.mark.parametrize("attribute", ["token", "__class__", "__dict__"])
def test_lookup_never_reads_attributes(attribute: str) -> None:
    with pytest.raises(MissingVariable) as caught:
        render_string(f"{{obj.{attribute}}}", {"obj": Spy()})
    assert caught.value.missing_at == f"obj.{attribute}"


def test_lookup_reads_keys_of_plain_data() -> None:
    assert lookup({"a": {"b": [10, 20]}}, ("a", "b", "1")) == 20


OBJECT_PLACES = [
    ("alone", "{obj}", {"obj": Spy()}),
    ("in-text", "value: {obj}", {"obj": Spy()}),
    ("inside-a-mapping", "{data}", {"data": {"inner": [Spy()]}}),
    ("inside-a-mapping-in-text", "value: {data}", {"data": {"inner": Spy()}}),
]


@pytest.mark.parametrize(("text", "variables"), [c[1:] for c in OBJECT_PLACES], ids=[c[0] for c in OBJECT_PLACES])
def test_object_in_variables_is_refused_without_calling_it(text: str, variables: dict[str, Any]) -> None:
    Spy.calls.clear()
    with pytest.raises(TypeError, match="holds a Spy, not plain data"):
        render_string(text, variables)
    assert Spy.calls == []


def test_render_value_renders_values_and_keeps_keys() -> None:
    raw = {"{name}": "{n}", "list": ["{name}", 1, {"deep": "x{n}"}], "flag": False}
    assert render_value(raw, VARIABLES) == {"{name}": 3, "list": ["api", 1, {"deep": "x3"}], "flag": False}


def test_iter_placeholders_gives_location_of_every_string() -> None:
    value = {"url": "https://{host}/x", "headers": {"Authorization": "{secret:tok}"}, "tags": ["a", "{name}"]}
    found = [(loc, ph.reference) for loc, ph in iter_placeholders(value)]
    assert found == [(("url",), "host"), (("headers", "Authorization"), "secret:tok"), (("tags", 1), "name")]
