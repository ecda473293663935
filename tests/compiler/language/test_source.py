"""Tests for compiler.language.source: safe loading with positions, and one located problem per rule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import compiler.language.source.yaml_loader as source_module
from compiler.language.source import Position, SourceDocument, SourceError, SourceLimits, SourceProblem, load_source


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def load(tmp_path: Path, content: bytes | str, name: str = "automation.yaml", limits: SourceLimits = SourceLimits()) -> SourceDocument:
    return load_source(write(tmp_path, name, content), limits=limits)


def problems_of(tmp_path: Path, content: bytes | str, name: str = "automation.yaml", limits: SourceLimits = SourceLimits()) -> list[SourceProblem]:
    with pytest.raises(SourceError) as caught:
        load(tmp_path, content, name, limits)
    return caught.value.problems


# 9 anchors, each a list of 9 aliases to the previous one: ~430 million nodes if expanded.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@dataclass(frozen=True)
class Invalid:
    id: str
    content: bytes | str
    line: int
    col: int
    message: str
    name: str = "automation.yaml"
    limits: SourceLimits = SourceLimits()


INVALID = [
    # Counting nodes: root, 5 keys, a..e (10+91+820+7381+66430), 'f', its list, then 66430 per
    # alias: the second alias on line 6 is the first to pass 200000.
    Invalid("alias-bomb", ALIAS_BOMB, 6, 12, "document expands to more than 200000 nodes through aliases (alias bomb?)"),
    Invalid(
        "python-object-apply",
        'name: x\nrun: !!python/object/apply:os.system ["echo hi"]\n',
        2,
        6,
        "tag '!!python/object/apply:os.system' is not allowed; only plain YAML values",
    ),
    Invalid("custom-tag", "name: !custom x\n", 1, 7, "tag '!custom' is not allowed"),
    Invalid("tag-after-anchor", "name: &n !custom x\n", 1, 10, "tag '!custom' is not allowed"),
    Invalid("binary-tag", "data: !!binary aGk=\n", 1, 7, "tag '!!binary' is not allowed"),
    Invalid("wrong-kind-tag", "name: !!map x\n", 1, 7, "tag '!!map' is for a mapping, not a scalar"),
    Invalid("invalid-int-tag", "retries: !!int many\n", 1, 10, "'many' is not an integer"),
    Invalid("duplicate-key", "name: a\ntrigger: {}\nname: b\n", 3, 1, "duplicate key 'name' (first defined at line 1)"),
    Invalid("nested-duplicate-key", "a:\n  b: 1\n  b: 2\n", 3, 3, "duplicate key 'b' (first defined at line 2)"),
    Invalid("tab-indentation", "name: x\ntrigger:\n\ttype: manual\n", 3, 1, "tab character in indentation; indent with spaces"),
    Invalid("tab-after-spaces", "a:\n  b:\n  \tc: 1\n", 3, 3, "tab character in indentation"),
    Invalid("tab-in-flow-list", "a: [1,\n\t2]\n", 2, 1, "tab character in indentation"),
    Invalid("two-documents", "name: a\n---\nname: b\n", 2, 1, "file holds more than one YAML document; put one automation per file"),
    Invalid("empty-file", "", 1, 1, "file is empty: expected a mapping with name, trigger and actions"),
    Invalid("comments-only", "# just a comment\n   \n# another\n", 1, 1, "file is empty"),
    Invalid("document-marker-only", "---\n# nothing here\n", 1, 1, "file is empty"),
    Invalid("not-utf8", b"name: ok\nbad: caf\xe9\n", 2, 9, "file is not valid UTF-8 (byte 0xe9 at offset 17); save it as UTF-8"),
    Invalid("too-big", "name: abcdef\n", 1, 1, "file is 13 bytes; the limit is 10 bytes", limits=SourceLimits(max_bytes=10)),
    Invalid("too-deep", "a:\n  b:\n    c:\n      d: 1\n", 4, 7, "nesting is deeper than 3 levels", limits=SourceLimits(max_depth=3)),
    Invalid("too-deep-default", "[" * 70 + "]" * 70, 1, 65, "nesting is deeper than 64 levels"),
    Invalid("int-key", "name: x\n1: a\n", 2, 1, "keys must be strings; got int 1 — quote it"),
    Invalid("bool-key", "true: x\n", 1, 1, "keys must be strings; got bool true — quote it"),
    Invalid("complex-key", "? [a, b]\n: c\n", 1, 3, "keys must be strings; got a list"),
    Invalid("syntax-error", "name: x\ntrigger: a: b\n", 2, 11, "YAML syntax error: mapping values are not allowed"),
    Invalid("unclosed-flow", "a: [1, 2\nb: 3\n", 2, 2, "YAML syntax error"),
    Invalid("too-many-aliases", "a: &x 1\nb: [*x, *x, *x]\n", 2, 13, "more than 2 aliases", limits=SourceLimits(max_aliases=2)),
    Invalid("too-many-nodes", "[1,2,3,4,5,6]", 1, 10, "document has more than 5 nodes", limits=SourceLimits(max_nodes=5)),
    Invalid("undefined-alias", "a: *nope\n", 1, 4, "alias '*nope' is not defined"),
    Invalid("recursive-alias", "a: &r [1, *r]\n", 1, 11, "recursive structures are not allowed"),
    Invalid("bad-merge", "a:\n  <<: 3\n", 2, 7, "merge key '<<' takes a mapping or a list of mappings; got int"),
    Invalid("control-character", "é: \x07\n", 1, 4, "control character 0x07 is not allowed in YAML"),
    Invalid("json-syntax-error", '{\n  "name": "x",\n}\n', 3, 1, "JSON syntax error: Expecting property name", name="automation.json"),
    Invalid(
        "json-duplicate-key", '{\n  "name": "a",\n  "name": "b"\n}\n', 3, 3, "duplicate key 'name' (first defined at line 2)", name="automation.json"
    ),
    Invalid("json-empty", " \n", 1, 1, "file is empty", name="automation.json"),
    Invalid("json-too-deep", "[[[[1]]]]", 1, 4, "nesting is deeper than 3 levels", name="automation.json", limits=SourceLimits(max_depth=3)),
    Invalid("unsupported-extension", "name: x\n", 1, 1, "unsupported file extension '.txt': use .yaml, .yml or .json", name="automation.txt"),
]


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_file_reports_located_problem(tmp_path: Path, case: Invalid) -> None:
    problems = problems_of(tmp_path, case.content, case.name, case.limits)
    assert [(p.line, p.col) for p in problems] == [(case.line, case.col)], problems
    assert case.message in problems[0].message


def test_pure_python_loader_reports_the_same_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "_Loader", yaml.SafeLoader)
    monkeypatch.setattr(source_module, "_LOADER_IS_C", False)
    found = {}
    for case in INVALID:
        if case.name.endswith(".yaml"):
            problems = problems_of(tmp_path, case.content, case.name, case.limits)
            found[case.id] = (problems[0].line, problems[0].col)
    assert found == {case.id: (case.line, case.col) for case in INVALID if case.name.endswith(".yaml")}


def test_all_problems_in_a_file_are_reported_together(tmp_path: Path) -> None:
    content = "name: a\nname: b\nrun: !!python/name:os.system x\nlist:\n  - {k: 1, k: 2}\n1: x\n"
    problems = problems_of(tmp_path, content)
    assert [(p.line, p.col) for p in problems] == [(2, 1), (3, 6), (5, 12), (6, 1)]


def test_source_error_message_names_file_line_and_col(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "name: a\nname: b\n")
    with pytest.raises(SourceError) as caught:
        load_source(path)
    assert str(caught.value) == f"{path}:2:1: duplicate key 'name' (first defined at line 1)"


def test_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    import time

    started = time.perf_counter()
    problems_of(tmp_path, ALIAS_BOMB)
    assert time.perf_counter() - started < 1.0


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_source(tmp_path / "missing.yaml")


NESTED = """\
name: nightly
trigger:
  type: schedule
  cron: "0 2 * * *"
actions:
  - name: fetch
    parameters:
      url: https://example.com
      tags: [a, b]
  - name: notify
"""


def test_nested_document_data(tmp_path: Path) -> None:
    doc = load(tmp_path, NESTED)
    assert doc.data == {
        "name": "nightly",
        "trigger": {"type": "schedule", "cron": "0 2 * * *"},
        "actions": [
            {"name": "fetch", "parameters": {"url": "https://example.com", "tags": ["a", "b"]}},
            {"name": "notify"},
        ],
    }


@pytest.mark.parametrize(
    ("loc", "line", "col"),
    [
        ((), 1, 1),
        (("name",), 1, 7),
        (("trigger",), 3, 3),
        (("trigger", "cron"), 4, 9),
        (("actions",), 6, 3),
        (("actions", 0), 6, 5),
        (("actions", 0, "parameters", "url"), 8, 12),
        (("actions", 0, "parameters", "tags", 1), 9, 17),
        (("actions", 1, "name"), 10, 11),
    ],
)
def test_nested_document_value_positions(tmp_path: Path, loc: tuple[str | int, ...], line: int, col: int) -> None:
    assert load(tmp_path, NESTED).value_positions[loc] == Position(line, col)


def test_key_position_differs_from_value_position(tmp_path: Path) -> None:
    doc = load(tmp_path, NESTED)
    loc = ("actions", 0, "parameters", "url")
    assert (doc.position_of(loc, key=True), doc.position_of(loc)) == (Position(8, 7), Position(8, 12))


def test_position_of_falls_back_to_nearest_ancestor(tmp_path: Path) -> None:
    doc = load(tmp_path, NESTED)
    assert doc.position_of(("actions", 0, "parameters", "missing", 3)) == Position(8, 7)


def test_position_of_key_falls_back_to_value_position(tmp_path: Path) -> None:
    doc = load(tmp_path, NESTED)
    assert doc.position_of(("actions", 0), key=True) == Position(6, 5)


def test_position_of_unknown_root_is_1_1() -> None:
    assert SourceDocument("x.yaml", None, {}, {}).position_of(("a", 0)) == Position(1, 1)


def test_columns_count_characters_not_bytes(tmp_path: Path) -> None:
    doc = load(tmp_path, "größe: [é, ü]\n")
    assert doc.value_positions[("größe", 1)] == Position(1, 12)


def test_json_document_data(tmp_path: Path) -> None:
    doc = load(tmp_path, '{"name": "x", "n": [1, 2.5, 1e5, null, true], "s": "\\ud83d\\ude00"}', "automation.json")
    assert doc.data == {"name": "x", "n": [1, 2.5, 100000.0, None, True], "s": "\U0001f600"}


def test_json_document_positions(tmp_path: Path) -> None:
    doc = load(tmp_path, '{\n\t"name": "x",\n\t"actions": [\n\t\t{"type": "http"}\n\t]\n}\n', "automation.json")
    assert (doc.position_of(("actions", 0, "type"), key=True), doc.position_of(("actions", 0, "type"))) == (Position(4, 4), Position(4, 12))


def test_root_may_be_a_list(tmp_path: Path) -> None:
    doc = load(tmp_path, "- a\n- b\n")
    assert (doc.data, doc.value_positions[(1,)]) == (["a", "b"], Position(2, 3))


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    doc = load(tmp_path, b"\xef\xbb\xbfname: x\n")
    assert (doc.data, doc.value_positions[("name",)]) == ({"name": "x"}, Position(1, 7))


def test_text_argument_is_used_instead_of_reading(tmp_path: Path) -> None:
    doc = load_source(tmp_path / "not-written.yml", text=b"name: x\n")
    assert (doc.path, doc.data) == (str(tmp_path / "not-written.yml"), {"name": "x"})


def test_tabs_inside_quoted_and_block_scalars_are_allowed(tmp_path: Path) -> None:
    doc = load(tmp_path, 'quoted: "a\n\tb"\nscript: |\n  all:\n  \techo hi\nafter: 1\n')
    assert doc.data == {"quoted": "a b", "script": "all:\n\techo hi\n", "after": 1}


def test_merge_key_matches_safe_load(tmp_path: Path) -> None:
    content = "x: &a {p: 1, r: 0}\ny: &b {p: 2, q: 3}\nz:\n  <<: [*a, *b]\n  r: 9\n"
    assert load(tmp_path, content).data == yaml.safe_load(content)


def test_merged_key_position_points_at_alias(tmp_path: Path) -> None:
    doc = load(tmp_path, "base: &base {retries: 3}\nstep:\n  <<: *base\n  name: s\n")
    assert doc.position_of(("step", "retries")) == Position(3, 7)


def test_aliased_value_position_points_at_alias(tmp_path: Path) -> None:
    doc = load(tmp_path, "base: &base {headers: {a: 1}}\nuse: *base\n")
    assert doc.position_of(("use", "headers", "a")) == Position(2, 6)


def test_timestamps_stay_strings(tmp_path: Path) -> None:
    assert load(tmp_path, "when: 2024-01-01\nat: 2024-01-01 10:00:00\n").data == {"when": "2024-01-01", "at": "2024-01-01 10:00:00"}


SCALARS = ["1", "-7", "+3", "0", "0755", "0x1F", "0b101", "1_000", "1:30", "1.5", "1.", ".5", "1.5e+3", "1e5", "6.8523015e+5",
           ".inf", "-.Inf", "yes", "No", "ON", "off", "y", "True", "FALSE", "null", "Null", "~", "abc", "12ab", "3.14.15", "0o17"]  # fmt: skip


@pytest.mark.parametrize("scalar", SCALARS)
def test_plain_scalars_resolve_like_safe_load(tmp_path: Path, scalar: str) -> None:
    expected = yaml.safe_load(f"v: {scalar}")["v"]
    got = load(tmp_path, f"v: {scalar}\n").data["v"]
    assert (type(got), got) == (type(expected), expected)


def test_nan_becomes_float(tmp_path: Path) -> None:
    assert math.isnan(load(tmp_path, "v: .nan\n").data["v"])


def test_standard_tags_convert_values(tmp_path: Path) -> None:
    data = load(tmp_path, "a: !!str 5\nb: !!int '7'\nc: !!float 1\nd: !!bool yes\ne: !!null x\nf: !!map {k: v}\ng: !!seq [1]\n").data
    assert data == {"a": "5", "b": 7, "c": 1.0, "d": True, "e": None, "f": {"k": "v"}, "g": [1]}
