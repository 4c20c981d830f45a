"""The MLflow filter and order_by parser."""

import doctest

import pytest

import triops.ml._filters as filters
from triops.core.errors import InvalidInput
from triops.ml import parse_filter, parse_order_by
from triops.store.repos.ml_search import Clause, SortKey, decode_page_token, encode_page_token


def test_docstring_examples_run():
    assert doctest.testmod(filters).failed == 0


def test_full_grammar():
    got = parse_filter(
        "metrics.rmse < 0.5 and params.alpha = '0.1' AND tags.team = 'x' "
        "and attributes.status IN ('FINISHED', 'FAILED') and attribute.run_name ILIKE '%cv%' "
        "and tags.`my key` != \"v\" and tags.mlflow.source.type LIKE 'LOC%' "
        "and metric.\"val loss\" >= -1e-3 and run.start_time > 5 and params.x NOT IN ('a')"
    )
    assert got == [
        Clause("metric", "rmse", "<", 0.5),
        Clause("param", "alpha", "=", "0.1"),
        Clause("tag", "team", "=", "x"),
        Clause("attribute", "status", "IN", ("FINISHED", "FAILED")),
        Clause("attribute", "run_name", "ILIKE", "%cv%"),
        Clause("tag", "my key", "!=", "v"),
        Clause("tag", "mlflow.source.type", "LIKE", "LOC%"),
        Clause("metric", "val loss", ">=", -1e-3),
        Clause("attribute", "start_time", ">", "5"),
        Clause("param", "x", "NOT IN", ("a",)),
    ]


def test_bare_identifier_is_an_attribute_and_quotes_escape():
    assert parse_filter("name LIKE 'it''s%'") == [Clause("attribute", "name", "LIKE", "it's%")]
    assert parse_filter("  ") == []


@pytest.mark.parametrize("bad", [
    "metrics.rmse < 'a'",          # metric compared with a string
    "params.alpha = 0.1",          # param value must be quoted
    "metrics.rmse LIKE 1",         # LIKE on a metric
    "foo.bar = 'x'",               # unknown entity
    "params.a = 'x' or params.b = 'y'",
    "params.a = 'x' and",
    "params.a = 'unterminated",
    "metrics.x ~ 1",
    "params.a IN 'x'",
])
def test_bad_filters_are_invalid_input(bad):
    with pytest.raises(InvalidInput):
        parse_filter(bad)


def test_order_by():
    assert parse_order_by(["metrics.rmse DESC", "start_time", "params.`a b` asc"]) == [
        SortKey("metric", "rmse", False), SortKey("attribute", "start_time", True),
        SortKey("param", "a b", True),
    ]
    with pytest.raises(InvalidInput):
        parse_order_by(["metrics.rmse sideways"])


def test_page_tokens_round_trip_and_refuse_garbage():
    assert decode_page_token(encode_page_token(40)) == 40
    assert decode_page_token(None) == 0
    for bad in ("nope", "eyJ4IjogMX0=", encode_page_token(-1)):
        with pytest.raises(InvalidInput):
            decode_page_token(bad)
