"""Hostile values get a 400 (or 413) that says what was wrong, never a 500, on both
store backends: NUL characters, lone surrogates, integers beyond 64 bits, NaN and
infinities, JSON nested a thousand deep, and gzip bodies that inflate a thousandfold."""

from __future__ import annotations

import gzip
import json
import re
import time
import tracemalloc
import zlib

import pytest

MLFLOW = "/api/2.0/mlflow"
DEEP = b"[" * 1000 + b"]" * 1000


def _refused(response, *words: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message
    return message


def _post_sample(client, ts_ms: str = "1", value: str = "1"):
    """One sample to /ops/samples, its numbers written as the given JSON literals."""
    return _post_raw(client, "/api/v1/ops/samples",
                     f'{{"samples": [{{"name": "cpu", "ts_ms": {ts_ms}, "value": {value}}}]}}')


def _post_raw(client, path: str, text: str):
    """Sends ``text`` as JSON exactly as written (json= would re-encode lone surrogates)."""
    return client.post(path, content=text.encode("utf-8", "surrogatepass"),
                       headers={"content-type": "application/json"})


@pytest.fixture
def run_id(client) -> str:
    response = client.post(f"{MLFLOW}/runs/create", json={"experiment_id": "0"})
    assert response.status_code == 200, response.text
    return response.json()["run"]["info"]["run_id"]


@pytest.mark.parametrize("path,body,field", [
    (f"{MLFLOW}/experiments/create", {"name": "a\x00b"}, "body.name"),
    ("/api/v1/signals", {"source": "ops", "kind": "k", "subject": "s\x00"}, "body.subject"),
    ("/api/v1/ops/logs", {"lines": [{"body": "line\x00one"}]}, "body.lines[0].body"),
    ("/api/v1/prompts/p/versions", {"messages": [{"role": "user", "content": "hi\x00"}]},
     "body.messages[0].content"),
    (f"{MLFLOW}/runs/search", {"experiment_ids": ["0"], "filter": "tags.a = '\x00'"},
     "body.filter"),
])
def test_nul_in_json_text_is_refused(client, path, body, field):
    _refused(client.post(path, json=body), field, "NUL")


def test_nul_in_tags_and_params_is_refused(client, run_id):
    for route in ("set-tag", "log-parameter"):
        response = client.post(f"{MLFLOW}/runs/{route}",
                               json={"run_id": run_id, "key": "k", "value": "v\x00"})
        _refused(response, "body.value", "NUL")
    run = client.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert not run["data"].get("tags", []) or all(t["key"] != "k" for t in run["data"]["tags"])
    assert not run["data"].get("params")


def test_nul_in_path_and_query_is_refused(client):
    _refused(client.get("/api/v1/incidents/a%00b"), "path", "NUL")
    _refused(client.get("/api/v1/ops/logs", params={"stream": "a\x00b"}), "query", "NUL")


def test_nul_in_a_form_field_is_refused_by_the_store_mapping(db):
    """What the edge does not parse (form fields, CLI values) meets the store's own
    mapping: PostgreSQL's refusal of NUL (SQLite keeps it) and either driver's refusal of
    integers beyond 64 bits become InvalidInput, not a database error."""
    from sqlalchemy import text

    from triops.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot be stored"), db.read() as session:
        session.execute(text("SELECT CAST(:v AS BIGINT)"), {"v": 2**70}).all()
    if db.is_sqlite:
        return
    with pytest.raises(InvalidInput, match="NUL"), db.read() as session:
        session.execute(text("SELECT CAST(:v AS TEXT)"), {"v": "a\x00b"}).all()


def test_lone_surrogate_in_set_tag_is_refused(client, run_id):
    response = _post_raw(client, f"{MLFLOW}/runs/set-tag",
                         f'{{"run_id": "{run_id}", "key": "k", "value": "\\ud800"}}')
    _refused(response, "body.value", "surrogate")
    response = _post_raw(client, f"{MLFLOW}/runs/set-tag",
                         f'{{"run_id": "{run_id}", "key": "\\udfff", "value": "v"}}')
    _refused(response, "body.key", "surrogate")


@pytest.mark.parametrize("literal", [str(2**64), str(-(2**63) - 1), str(10**30)])
def test_integers_beyond_64_bits_are_refused(client, run_id, literal):
    response = _post_raw(client, f"{MLFLOW}/runs/log-metric",
                         f'{{"run_id": "{run_id}", "key": "m", "value": 1, '
                         f'"timestamp": {literal}, "step": 0}}')
    _refused(response, "body.timestamp", "64-bit")
    response = _post_sample(client, ts_ms=literal)
    _refused(response, "body.samples[0].ts_ms", "64-bit")


def test_integers_beyond_64_bits_in_a_query_are_refused(client):
    response = client.get("/api/v1/ops/logs", params={"limit": str(2**70)})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(client, literal):
    response = _post_raw(client, "/api/v1/signals",
                         f'{{"source": "ops", "kind": "k", "subject": "s", "value": {literal}}}')
    _refused(response, "body.value", "finite")
    response = _post_sample(client, value=literal)
    _refused(response, "body.samples[0].value", "finite")


def test_non_finite_number_in_a_filter_is_refused(client):
    for clause in ("attributes.start_time > -1e400", "metrics.loss < 1e400"):
        response = client.post(f"{MLFLOW}/runs/search",
                               json={"experiment_ids": ["0"], "filter": clause})
        _refused(response, "not a finite number")
    response = client.post(f"{MLFLOW}/runs/search", json={
        "experiment_ids": ["0"], "filter": "attributes.start_time > NaN"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/v1/metrics",
                                  "/api/v1/signals", f"{MLFLOW}/experiments/create"])
def test_json_nested_a_thousand_deep_is_refused(client, path):
    body = b'{"resourceSpans": ' + DEEP + b"}"
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    _refused(response, "nested deeper than 64")


def test_deep_json_inside_gzip_is_refused(client):
    response = client.post("/v1/traces", content=gzip.compress(b'{"a": ' + DEEP + b"}"),
                           headers={"content-type": "application/json",
                                    "content-encoding": "gzip"})
    _refused(response, "nested deeper than 64")


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """About 1 MiB of gzip that inflates to 1 GiB of zeros, built without holding 1 GiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(1024)]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.mark.parametrize("path,media", [("/v1/traces", "application/x-protobuf"),
                                        ("/v1/metrics", "application/json"),
                                        ("/v1/logs", "application/x-protobuf")])
def test_gzip_bomb_is_refused_quickly_in_bounded_memory(client, gzip_bomb, path, media):
    assert len(gzip_bomb) < 2 << 20
    tracemalloc.start()
    started = time.perf_counter()
    try:
        response = client.post(path, content=gzip_bomb,
                               headers={"content-type": media, "content-encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    _refused(response, "inflates to more than the limit", status=413)
    assert elapsed < 5, f"refusing the bomb took {elapsed:.1f} s"
    assert peak < 64 << 20, f"refusing the bomb held {peak >> 20} MiB"


def test_gzip_within_the_limit_is_still_read(client):
    body = json.dumps({"resourceSpans": []}).encode()
    for payload in (gzip.compress(body), gzip.compress(body[:10]) + gzip.compress(body[10:])):
        response = client.post("/v1/traces", content=payload,
                               headers={"content-type": "application/json",
                                        "content-encoding": "gzip"})
        assert response.status_code == 200, response.text
    truncated = gzip.compress(body)[:-12]
    _refused(client.post("/v1/traces", content=truncated,
                         headers={"content-type": "application/json",
                                  "content-encoding": "gzip"}), "gzip")


@pytest.mark.parametrize("body, field", [
    (b'{"a": [1.5, 2.5, 99999999999999999999]}', "body.a[2]"),
    (b'{"a": -9223372036854775809}', "body.a"),
    (b'{"a": [1.5, 2.5, 1e400]}', "body.a[2]"),
    (b'{"a": [1e308, 1e308, NaN]}', "body.a[2]"),
    (b'{"a": {"b": [0.5, -1e400]}}', "body.a.b[1]"),
])
def test_hostile_values_among_plain_numbers_are_named(body, field):
    """A list of floats is checked in one pass (a tensor's data); what hides in one is
    still found and named, as is an integer orjson would read as a float."""
    from triops.core.errors import InvalidInput
    from triops.server.input_guard import load_json

    with pytest.raises(InvalidInput, match=rf"^{re.escape(field)}: "):
        load_json(body)
    assert load_json(b'{"a": [1.5, 2.5e10, -3.0]}') == {"a": [1.5, 2.5e10, -3.0]}


def _rows(hostile: bytes, field: str = "value", at: int = 7) -> bytes:
    """A log-batch body of 50 metrics, as the stock client writes them, with ``hostile``
    as the JSON literal of one metric's ``field``."""
    rows = []
    for i in range(50):
        fields = {"key": b'"loss"', "value": b"%d.5" % i, "timestamp": b"%d" % (1000 + i),
                  "step": b"%d" % i}
        if i == at:
            fields[field] = hostile
        rows.append(b"{" + b", ".join(b'"%s": %s' % (k.encode(), v)
                                      for k, v in fields.items()) + b"}")
    return b'{"run_id": "r", "metrics": [' + b", ".join(rows) + b"]}"


@pytest.mark.parametrize("field, value, reason", [
    ("value", b"1e400", "not finite"), ("value", b"NaN", "not finite"),
    ("timestamp", b"-9223372036854775809", "64-bit"), ("step", b"18446744073709551615", "64-bit"),
    ("step", b"99999999999999999999", "64-bit"), ("key", b'"lo\\u0000ss"', "NUL"),
    ("key", b'"\\ud800"', "surrogate"),
])
def test_hostile_values_among_rows_are_named(field, value, reason):
    """A list of objects of the same keys (a log-batch's metrics) in a body read for its
    route is checked column by column; what hides in one column is still found and named
    as the walk over each value (the byte checks' fallback) names it."""
    from triops.core.errors import InvalidInput
    from triops.server.input_guard import check_body, load_json

    body = _rows(value, field)
    for check in (lambda raw: load_json(raw, {}), load_json, check_body):
        with pytest.raises(InvalidInput, match=rf"^body\.metrics\[7\]\.{field}: .*{reason}"):
            check(body)


@pytest.mark.parametrize("body", [
    _rows(b"9223372036854775807", "timestamp"), _rows(b"1e300"), _rows(b"true"),
    _rows(b"null", "step"), _rows(b'{"a": 1}'), _rows(b'"x"'),
    b'{"metrics": [{"key": "a", "value": 1}, {"key": "b", "step": 1}]}',
    b'{"metrics": [{"key": "a"}, {"key": "b", "value": 1}]}', b'{"metrics": [{}, {}]}',
])
def test_rows_that_are_not_plain_are_walked(body):
    """Rows the column check cannot clear (a number at the edge of 64 bits, mixed types
    in a column, differing keys) go to the walk, which finds nothing wrong with them."""
    from triops.server.input_guard import load_json

    seen = {}
    assert load_json(body, seen) == json.loads(body)
    assert seen == {}


def test_the_guard_hands_the_columns_it_checked_to_the_route():
    """For a body it reads for its route, the guard leaves the columns of each list of
    objects it checked column by column (``checked_columns``), for that list only; the
    MLflow shortcut reads a log-batch's metrics from them as from the list itself."""
    import asyncio

    from triops.api.mlflow.runs import plain_metrics
    from triops.server.input_guard import InputGuard, checked_columns, checked_json, columns_of

    seen = {}

    async def app(scope, receive, send):
        seen["scope"] = scope

    body = _rows(b"7.5")
    scope = {"type": "http", "path": "/x", "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop()

    asyncio.run(InputGuard(app, reads_json=lambda _scope: True)(scope, receive, None))
    value = checked_json(seen["scope"])
    metrics = value["metrics"]
    columns = checked_columns(seen["scope"], metrics)
    assert columns == columns_of(metrics)
    assert columns["value"].values[7] == 7.5 and columns["step"].types == frozenset((int,))
    assert checked_columns(seen["scope"], list(metrics)) is None  # an equal list, not it
    assert plain_metrics(metrics, columns) == plain_metrics(metrics)
    assert plain_metrics(metrics).values[7] == 7.5


def test_hostile_values_in_log_batch_are_refused_and_nothing_is_written(client, run_id):
    """The guard reads a log-batch body for the MLflow shortcut: a hostile metric is
    refused with the field named, a clean one is served from that reading."""
    for field, value, reason in [("value", b"1e400", "not finite"),
                                 ("key", b'"lo\\u0000ss"', "NUL")]:
        body = _rows(value, field).replace(b'"run_id": "r"', f'"run_id": "{run_id}"'.encode())
        _refused(client.post(f"{MLFLOW}/runs/log-batch", content=body,
                             headers={"content-type": "application/json"}),
                 f"body.metrics[7].{field}", reason)
    run = client.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert not run["data"].get("metrics")
    body = _rows(b"7.5").replace(b'"run_id": "r"', f'"run_id": "{run_id}"'.encode())
    response = client.post(f"{MLFLOW}/runs/log-batch", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    run = client.get(f"{MLFLOW}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["data"]["metrics"] == [{"key": "loss", "value": 49.5, "timestamp": 1049,
                                       "step": 49}]


@pytest.mark.parametrize("value", [b"1e400", b"-12345678901234567890", b"NaN", b"Infinity",
                                   b'"\\u0000"', b"-9223372036854775809"])
def test_hostile_values_in_a_large_tensor_are_refused(value):
    """A float tensor's long fractions are not integers: such a body passes on its bytes
    alone, and every hostile value in or after it is still refused."""
    from triops.core.errors import InvalidInput
    from triops.server.input_guard import _suspect, check_body

    numbers = b", ".join([b"0.00012345678901234567", b"123.5", b"-7"] * 400)
    check_body(b'{"data": [' + numbers + b"]}")
    assert not _suspect(b'{"data": [' + numbers + b"]}")
    with pytest.raises(InvalidInput):
        check_body(b'{"data": [' + numbers + b", " + value + b"]}")
    with pytest.raises(InvalidInput):  # a long fraction before it hides nothing
        check_body(b'{"data": [0.00012345678901234567, ' + value + b"]}")
