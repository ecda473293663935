"""Condition semantics for every JSON value: one row per vector, the expected fire / not-fire and the exact reason.

``problem`` is True when the document could not answer the condition (the watcher logs it as a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from compiler.language.model.triggers import ConditionSpec
from flows.conditions.evaluate import evaluate_condition

SERVICES = {"services": [{"name": "api", "health": 80}, {"name": "db", "health": 40}, {"name": "web", "health": 95}]}


@dataclass(frozen=True)
class Vector:
    id: str
    path: str
    operator: str
    threshold: Any
    document: Any
    fired: bool
    reason: str
    problem: bool = False
    match: str = "any"


V = Vector
VECTORS = [
    # --- several matches: any (default) / all ----------------------------------------------------------
    V("any-one-of-several-fires", "$.services[*].health", "lt", 50, SERVICES, True,
      "$.services[*].health matched 3 values; any: lt 50 holds for $.services[1].health = 40"),
    V("any-none-of-several", "$.services[*].health", "lt", 10, SERVICES, False,
      "$.services[*].health matched 3 values; any: lt 10 holds for none of them"),
    V("all-not-every-one", "$.services[*].health", "lt", 90, SERVICES, False,
      "$.services[*].health matched 3 values; all: lt 90 does not hold for $.services[2].health = 95", match="all"),
    V("all-every-one", "$.services[*].health", "gt", 10, SERVICES, True,
      "$.services[*].health matched 3 values; all: gt 10 holds for every one", match="all"),
    V("any-skips-a-non-number", "$.services[*].health", "lt", 50,
      {"services": [{"health": "n/a"}, {"health": 30}]}, True,
      "$.services[*].health matched 2 values; any: lt 50 holds for $.services[1].health = 30"),
    V("all-names-the-non-number", "$.services[*].health", "lt", 50,
      {"services": [{"health": "n/a"}, {"health": 30}]}, False,
      "$.services[*].health matched 2 values; all: lt 50 does not hold for $.services[0].health = \"n/a\""
      " ($.services[0].health = \"n/a\": \"n/a\" is not a number)", problem=True, match="all"),
    V("recursive-descent", "$..health", "gte", 95, SERVICES, True,
      "$..health matched 3 values; any: gte 95 holds for $.services[2].health = 95"),
    V("filter-expression", "$.services[?(@.name == 'db')].health", "lt", 50, SERVICES, True,
      "$.services[?(@.name == 'db')].health = 40: lt 50 holds"),
    # --- eq / ne are type-strict --------------------------------------------------------------------
    V("true-is-not-1", "$.up", "eq", 1, {"up": True}, False, "$.up = true: eq 1 does not hold"),
    V("1-is-not-true", "$.up", "eq", True, {"up": 1}, False, "$.up = 1: eq true does not hold"),
    V("false-is-not-0-ne", "$.up", "ne", 0, {"up": False}, True, "$.up = false: ne 0 holds"),
    V("int-equals-float", "$.n", "eq", 1.0, {"n": 1}, True, "$.n = 1: eq 1.0 holds"),
    V("string-is-not-number", "$.n", "eq", 1, {"n": "1"}, False, "$.n = \"1\": eq 1 does not hold"),
    V("null-equals-null-only", "$.n", "eq", "null", {"n": None}, False, "$.n = null: eq \"null\" does not hold"),
    V("list-equality-is-strict", "$.l", "eq", [1, 2], {"l": [True, 2]}, False,
      "$.l = [true, 2]: eq [1, 2] does not hold"),
    V("mapping-equality", "$.m", "eq", {"a": 1}, {"m": {"a": 1.0}}, True, "$.m = {\"a\": 1.0}: eq {\"a\": 1} holds"),
    # --- contains on strings, lists and mappings -----------------------------------------------------
    V("string-contains-text", "$.s", "contains", "err", {"s": "an error"}, True,
      "$.s = \"an error\": contains \"err\" holds"),
    V("string-contains-a-number", "$.s", "contains", 5, {"s": "version 5"}, False,
      "$.s = \"version 5\": contains 5 does not hold: 5 is not a string (a string value contains only text)",
      problem=True),
    V("list-contains-strictly", "$.l", "contains", 1, {"l": [True, "1"]}, False,
      "$.l = [true, \"1\"]: contains 1 does not hold"),
    V("list-contains-a-mapping", "$.l", "contains", {"a": 1}, {"l": [{"a": 1}]}, True,
      "$.l = [{\"a\": 1}]: contains {\"a\": 1} holds"),
    V("mapping-contains-a-key", "$.m", "contains", "a", {"m": {"a": 0}}, True, "$.m = {\"a\": 0}: contains \"a\" holds"),
    V("mapping-contains-a-sub-mapping", "$.m", "contains", {"a": {"b": 1}}, {"m": {"a": {"b": 1}, "c": 2}}, True,
      "$.m = {\"a\": {\"b\": 1}, \"c\": 2}: contains {\"a\": {\"b\": 1}} holds"),
    V("mapping-lacks-the-sub-mapping", "$.m", "contains", {"a": 2}, {"m": {"a": 1}}, False,
      "$.m = {\"a\": 1}: contains {\"a\": 2} does not hold"),
    V("mapping-contains-a-number", "$.m", "contains", 5, {"m": {"5": 1}}, False,
      "$.m = {\"5\": 1}: contains 5 does not hold: 5 is not a string or mapping (a mapping contains keys or"
      " sub-mappings)", problem=True),
    V("number-contains", "$.n", "contains", "1", {"n": 10}, False,
      "$.n = 10: contains \"1\" does not hold: 10 is not a string, list or mapping", problem=True),
    # --- numbers of any size, NaN, Infinity -----------------------------------------------------------
    V("400-digit-integer", "$.n", "gt", 5, {"n": 10**400}, True, "$.n = 1.00000e+400 (401 digits): gt 5 holds"),
    V("400-digit-integer-exact", "$.n", "lt", 10**400, {"n": 10**400 - 1}, True,
      "$.n = 9.99999e+399 (400 digits): lt 1.00000e+400 (401 digits) holds"),
    V("float-against-huge-integer", "$.n", "lt", 10**400, {"n": 1.5e300}, True,
      "$.n = 1.5e+300: lt 1.00000e+400 (401 digits) holds"),
    V("infinity-is-above-every-number", "$.n", "gt", 10**400, {"n": float("inf")}, True,
      "$.n = Infinity: gt 1.00000e+400 (401 digits) holds"),
    V("lte-on-the-boundary", "$.n", "lte", 2.5, {"n": 2.5}, True, "$.n = 2.5: lte 2.5 holds"),
    V("minus-infinity", "$.n", "lt", -1, {"n": float("-inf")}, True, "$.n = -Infinity: lt -1 holds"),
    V("nan-never-compares", "$.n", "gt", 0, {"n": float("nan")}, False,
      "$.n = NaN: gt 0 does not hold: NaN is not comparable", problem=True),
    V("nan-is-not-unequal-either", "$.n", "ne", 0, {"n": float("nan")}, False,
      "$.n = NaN: ne 0 does not hold: NaN is not comparable", problem=True),
    V("boolean-is-not-a-number", "$.n", "gt", 0, {"n": True}, False,
      "$.n = true: gt 0 does not hold: true is not a number", problem=True),
    # --- missing paths, exists, odd documents ----------------------------------------------------------
    V("missing-path", "$.a.b", "gt", 0, {"a": {}}, False, "$.a.b not found in the metrics document", problem=True),
    V("exists-several", "$.services[*].health", "exists", None, SERVICES, True,
      "$.services[*].health exists (3 matches)"),
    V("exists-missing", "$.nope", "exists", None, SERVICES, False, "$.nope does not exist"),
    V("document-is-a-list", "$.a", "gt", 0, [1, 2], False, "$.a not found in the metrics document", problem=True),
    V("document-is-a-scalar", "$.a", "eq", 1, 42, False, "$.a not found in the metrics document", problem=True),
    V("control-characters-escaped", "$.s", "eq", "x", {"s": "a\x00b\x1b[31m"}, False,
      "$.s = \"a\\u0000b\\u001b[31m\": eq \"x\" does not hold"),
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_condition_vector(vector: Vector) -> None:
    spec = ConditionSpec.model_validate(
        {"metric_path": vector.path, "operator": vector.operator, "threshold": vector.threshold, "match": vector.match}
    )
    result = evaluate_condition(spec, vector.document)
    assert (result.fired, result.reason, result.problem is not None) == (vector.fired, vector.reason, vector.problem)


def test_the_table_covers_every_operator_and_both_match_modes() -> None:
    assert {v.operator for v in VECTORS} == {"gt", "lt", "gte", "lte", "eq", "ne", "contains", "exists"}
    assert {v.match for v in VECTORS} == {"any", "all"}


def test_trigger_data_keeps_huge_and_non_finite_numbers_as_text() -> None:
    spec = ConditionSpec.model_validate({"metric_path": "$.n[*]", "operator": "gt", "threshold": 0})
    result = evaluate_condition(spec, {"n": [float("inf"), 10**30]})
    data = result.as_trigger_data(spec, "check-1")
    assert (data["value"], data["values"], data["match"]) == ("inf", ["inf", str(10**30)], "any")
