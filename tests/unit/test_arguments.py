"""Argument checks that run before any tool: names, finiteness, one line per field."""

from __future__ import annotations

import math

import pytest

from audiolla_mcp.arguments import argument_problem
from audiolla_mcp.config import Settings
from audiolla_mcp.server import build_server


@pytest.fixture(scope="module")
def trim(tmp_path_factory):
    server = build_server(Settings.from_env(workspace=tmp_path_factory.mktemp("ws"), toolsets=["all"]))
    return server._tool_manager.get_tool("trim")


def problem(tool, arguments):
    return argument_problem("trim", tool.parameters, tool.fn_metadata, arguments)


def test_valid_arguments_pass(trim):
    assert problem(trim, {"input": "a.wav", "start_s": 1.0}) is None


def test_unknown_names_are_listed_with_the_real_ones(trim):
    text = problem(trim, {"input": "a.wav", "start": 1})
    assert text.startswith("trim does not take 'start'; its parameters are: ") and "start_s" in text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_by_name(trim, value):
    assert problem(trim, {"input": "a.wav", "end_s": value}) == "Invalid arguments for trim: end_s: must be a finite number."


def test_validation_errors_read_one_line_per_field(trim):
    text = problem(trim, {"input": "a.wav", "end_s": -3, "start_s": "soon"})
    assert "end_s: Input should be greater than 0 (got -3)" in text and "start_s:" in text and "http" not in text
