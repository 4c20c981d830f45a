"""Prometheus query_range sources on both backends, on a fake clock: which instants each
poll asks for, how label sets become series, one poll per due source across replicas,
and failures recorded on the source. The real Prometheus is in
tests/e2e/test_prometheus_query_range.py; here its answers are canned at the HTTP edge."""

from __future__ import annotations

import doctest

import httpx
import pytest
from tests.conftest import free_port
from tests.fake_clock import FakeClock

from triops.core.errors import InvalidInput
from triops.ops import list_series, prom_source_store, read_series
from triops.ops.prom_query import PromSources, PromSourceSpec

T0 = 1_750_000_020  # on a 15 s step


def answer(request: httpx.Request) -> httpx.Response:
    """A Prometheus over two label sets, one with a NaN, one without ``__name__``."""
    start, end, step = (float(request.url.params[k]) for k in ("start", "end", "step"))
    times = [start + i * step for i in range(int((end - start) // step) + 1)]
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix",
        "result": [
            {"metric": {"__name__": "queue_depth", "queue": "mail"},
             "values": [[t, "NaN" if i == 1 else str(i)] for i, t in enumerate(times)]},
            {"metric": {"queue": "sms"}, "values": [[t, "5"] for t in times]},
        ]}})


def add_source(db, name: str = "queues", **spec) -> None:
    spec = {"url": "http://prometheus:9090", "query": "queue_depth", "step": "15s",
            "lookback": "1m", **spec}
    with db.write() as session:
        prom_source_store.put(session, "default", name, PromSourceSpec.of(spec).spec(),
                              "test", 0)


def source(db, name: str = "queues"):
    with db.read() as session:
        return prom_source_store.get(session, "default", name)


def test_polls_fetch_each_instant_once_and_name_series_by_labels(db):
    asked: list[tuple[str, str]] = []

    def prometheus(request: httpx.Request) -> httpx.Response:
        asked.append((request.url.params["start"], request.url.params["end"]))
        return answer(request)

    clock = FakeClock(now=T0 + 7)
    add_source(db)
    duty = PromSources(db, clock=clock, transport=httpx.MockTransport(prometheus))
    assert duty.run_due() == 1
    clock.advance(10)
    assert duty.run_due() == 0  # not due for another 5 s
    clock.advance(20)
    assert duty.run_due() == 1
    # The first poll reaches back the lookback; the next starts one step after it.
    assert asked == [(str(T0 - 60), str(T0)), (str(T0 + 15), str(T0 + 30))]
    with db.read() as session:
        series = list_series(session, "default")
        mail = read_series(session, "default", 'queue_depth{queue="mail"}')
    assert series == ['queue_depth{queue="mail"}', 'queues{queue="sms"}']
    # Each answer's second instant is NaN: skipped, as detectors need numbers.
    assert [t for t, _ in mail] == [(T0 + s) * 1000 for s in (-60, -30, -15, 0, 15)]
    row = source(db)
    assert (row.series, row.points, row.last_error) == (2, 3, "")
    assert row.fetched_to_ms == (T0 + 30) * 1000


def test_one_replica_polls_a_due_source(db):
    clock = FakeClock(now=T0)
    add_source(db)
    replicas = [PromSources(db, clock=clock, transport=httpx.MockTransport(answer))
                for _ in range(3)]
    assert [r.run_due() for r in replicas] == [1, 0, 0]
    with db.read() as session:
        assert len(read_series(session, "default", 'queues{queue="sms"}')) == 5


@pytest.mark.parametrize("prometheus, why", [
    (None, "is unreachable"),
    (lambda r: httpx.Response(200, text="<html>hello</html>"), "not JSON"),
    (lambda r: httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                         "error": "parse error"}),
     "refused the query (400): parse error"),
    (lambda r: httpx.Response(200, json={"status": "success", "data": {
        "resultType": "vector", "result": []}}), "not a matrix"),
    (lambda r: httpx.Response(200, json={"status": "success", "data": {
        "resultType": "matrix", "result": [{"metric": {}, "values": [["x", "1"]]}]}}),
     "malformed matrix"),
])
def test_a_failed_poll_is_recorded_and_writes_nothing(db, prometheus, why):
    clock = FakeClock(now=T0)
    if prometheus is None:  # a port nothing listens on
        add_source(db, url=f"http://127.0.0.1:{free_port()}")
        duty = PromSources(db, clock=clock)
    else:
        add_source(db)
        duty = PromSources(db, clock=clock, transport=httpx.MockTransport(prometheus))
    assert duty.run_due() == 1
    row = source(db)
    assert why in row.last_error and row.last_error_ms == T0 * 1000
    assert row.last_ok_ms is None and row.fetched_to_ms is None
    with db.read() as session:
        assert list_series(session, "default") == []
    duty.close()


@pytest.mark.parametrize("spec, why", [
    ({"url": "prometheus:9090"}, "base URL"),
    ({"url": "ftp://prometheus"}, "base URL"),
    ({"url": "http://[::1"}, "base URL"),
    ({"url": "http://prometheus:port"}, "base URL"),
    ({"url": "http://prometheus\x00:9090"}, "base URL"),
    ({"query": "up\x00"}, "PromQL expression"),
    ({"query": " "}, "PromQL expression"),
    ({"step": "1m", "lookback": "30s"}, "at least one step"),
    ({"step": "1s", "lookback": "1d"}, "at most 11000"),
    ({"detector": "crystal_ball"}, "unknown detector"),
    ({"headers": {}}, "unknown Prometheus source field"),
    ({"bearer_token": "t", "username": "u"}, "not both"),
    ({"password": "p"}, "needs a username"),
    ({"bearer_token": "t\r\nX-Evil: 1"}, "printable text"),
    ({"username": ["u"]}, "printable text"),
    ({"tls_verify": "no"}, "true or false"),
])
def test_bad_specs_are_refused(spec, why):
    with pytest.raises(InvalidInput, match=why):
        PromSourceSpec.of({"url": "http://prometheus:9090", "query": "up", **spec})


def test_sources_over_the_api(client):
    body = {"url": "http://prometheus:9090", "query": "up", "step": "30s", "lookback": "2h"}
    r = client.put("/api/v1/ops/prometheus-sources/up-targets", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["spec"] == {"url": "http://prometheus:9090", "query": "up", "step": 30,
                                "lookback": 7200, "every": 30, "detector": "ensemble"}
    assert [s["name"] for s in client.get("/api/v1/ops/prometheus-sources").json()] == [
        "up-targets"]
    assert client.put("/api/v1/ops/prometheus-sources/1up", json=body).status_code == 400
    assert client.put("/api/v1/ops/prometheus-sources/x", json={
        **body, "lookback": "10s"}).status_code == 400
    assert client.delete("/api/v1/ops/prometheus-sources/up-targets").status_code == 200
    assert client.get("/api/v1/ops/prometheus-sources/up-targets").status_code == 404


@pytest.mark.parametrize("credentials, sent", [
    ({"bearer_token": "s3cret"}, "Bearer s3cret"),
    ({"username": "ops", "password": "hunter2"}, "Basic b3BzOmh1bnRlcjI="),
    ({}, None),
])
def test_polls_carry_the_sources_credentials(db, credentials, sent):
    seen: list[str | None] = []

    def prometheus(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return answer(request)

    add_source(db, **credentials)
    duty = PromSources(db, clock=FakeClock(now=T0),
                       transport=httpx.MockTransport(prometheus))
    assert duty.run_due() == 1 and source(db).last_error == ""
    assert seen == [sent]
    duty.close()


def test_credentials_are_write_only_over_the_api(client):
    body = {"url": "https://prometheus:9090", "query": "up", "username": "ops",
            "password": "hunter2", "tls_verify": False}
    r = client.put("/api/v1/ops/prometheus-sources/guarded", json=body)
    assert r.status_code == 200, r.text
    shown = [r.json()["spec"], client.get("/api/v1/ops/prometheus-sources/guarded").json()[
        "spec"], client.get("/api/v1/ops/prometheus-sources").json()[0]["spec"]]
    for spec in shown:
        assert spec["username"] == "ops" and spec["password"] == "***"
        assert spec["tls_verify"] is False


def test_docstring_examples_run():
    from triops.ops import prom_query

    result = doctest.testmod(prom_query)
    assert result.attempted > 0 and result.failed == 0
