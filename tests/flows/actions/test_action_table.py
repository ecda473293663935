"""The runtime's action table has one row per type of the language's table, with the language's parameters."""

from __future__ import annotations

import pytest

from compiler.language.model.actions import ACTION_SPECS
from flows.actions import ACTION_TYPES


def test_both_tables_name_the_same_types_in_the_same_order() -> None:
    assert list(ACTION_TYPES) == list(ACTION_SPECS)


@pytest.mark.parametrize("name", list(ACTION_SPECS))
def test_runtime_row_uses_the_language_parameters_model(name: str) -> None:
    spec, row = ACTION_SPECS[name], ACTION_TYPES[name]
    assert (row.name, row.description, row.parameters) == (spec.name, spec.description, spec.parameters)
