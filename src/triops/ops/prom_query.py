"""Prometheus ``query_range`` sources: detection and forecasting over series that live in
a Prometheus, not in triops.

A source names a Prometheus (base URL), one PromQL expression, a step, a lookback and how
often to poll. Each poll asks ``GET /api/v1/query_range`` for the evaluation times since
the last one it fetched (the whole lookback the first time), and each label set in the
answer becomes its own series — named by its ``__name__`` (or the source's name when the
expression drops it, as ``rate(...)`` does) and its other labels — stored, scored by its
detector and projected by capacity rules like samples from any other intake, so the
detector's signals name the series by its labels.

A Prometheus behind a proxy that asks for credentials takes a bearer token or a user name
and password; they are stored with the source and never shown again (the API masks them).
``tls_verify: false`` accepts a self-signed certificate.

Polls are a duty of every server (:class:`PromSources`, driven by the server's duty
loop); a compare-and-set on each source's ``last_run_ms`` gives every poll to exactly one
replica. A poll that fails (Prometheus unreachable, a query it refuses, an answer that is
not a matrix) writes nothing and records the error on the source, where the API shows it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from triops.core.errors import InvalidInput, TriopsError, UpstreamError
from triops.core.ids import now_ms
from triops.ops.capacity import parse_duration
from triops.ops.detection import DetectorCache
from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS
from triops.ops.sample_intake import store_samples
from triops.ops.telemetry import MetricSample
from triops.store.engine import Database
from triops.store.repos import prom_sources as repo

log = logging.getLogger("triops.ops.prom_query")

#: A source's name doubles as the series name of expressions without ``__name__``.
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.\-]{0,127}$")
#: Prometheus refuses a range query of more points than this per series.
MAX_POINTS = 11_000
MAX_SERIES = 500
TIMEOUT_S = 10.0
#: Credential fields: stored with the source, masked wherever a source is shown.
SECRETS = ("bearer_token", "password")
MASK = "***"


@dataclass(frozen=True)
class PromSourceSpec:
    url: str
    query: str
    step: int
    lookback: int
    every: int
    detector: str = DEFAULT_DETECTOR
    bearer_token: str = ""
    username: str = ""
    password: str = ""
    tls_verify: bool = True

    @classmethod
    def of(cls, spec: dict[str, Any]) -> PromSourceSpec:
        """A checked spec; durations as ``"15s"``, ``"1h"`` or seconds. ``every`` (how
        often to poll) defaults to ``step``.

        >>> PromSourceSpec.of({"url": "http://prom:9090/", "query": "up", "step": "15s",
        ...                    "lookback": "1h"}).every
        15
        """
        known = {"url", "query", "step", "lookback", "every", "detector", "bearer_token",
                 "username", "password", "tls_verify"}
        unknown = set(spec) - known
        if unknown:
            raise InvalidInput(f"unknown Prometheus source field(s) {sorted(unknown)}; "
                               f"known: {', '.join(sorted(known))}")
        url = str(spec.get("url") or "").rstrip("/")
        if not _is_base_url(url):
            raise InvalidInput(f"url {url!r} must be a Prometheus base URL such as "
                               "http://prometheus:9090")
        query = str(spec.get("query") or "").strip()
        if not query or len(query) > 4000 or "\x00" in query:
            raise InvalidInput("query must be a PromQL expression of 1 to 4000 characters")
        step = parse_duration(spec.get("step", 60))
        lookback = parse_duration(spec.get("lookback", "1h"))
        if lookback < step:
            raise InvalidInput(f"lookback ({lookback} s) must be at least one step ({step} s)")
        if lookback // step > MAX_POINTS:
            raise InvalidInput(f"lookback / step is {lookback // step} points; Prometheus "
                               f"answers at most {MAX_POINTS}: raise step or shorten lookback")
        every = parse_duration(spec.get("every", step))
        detector = str(spec.get("detector") or DEFAULT_DETECTOR)
        DETECTORS.get(detector)  # an unknown one is a 400 naming the known ones
        token, user, password = (_credential(spec, k) for k in ("bearer_token", "username",
                                                                "password"))
        if token and (user or password):
            raise InvalidInput("give either bearer_token or username and password, not both")
        if password and not user:
            raise InvalidInput("password needs a username")
        tls_verify = spec.get("tls_verify", True)
        if not isinstance(tls_verify, bool):
            raise InvalidInput("tls_verify must be true or false")
        return cls(url=url, query=query, step=step, lookback=lookback, every=every,
                   detector=detector, bearer_token=token, username=user, password=password,
                   tls_verify=tls_verify)

    def spec(self) -> dict[str, Any]:
        """What is stored: credentials and ``tls_verify`` only where set."""
        stored = asdict(self)
        for name in ("bearer_token", "username", "password"):
            if not stored[name]:
                del stored[name]
        if self.tls_verify:
            del stored["tls_verify"]
        return stored

    def credentials(self) -> dict[str, Any]:
        """Keyword arguments that make an httpx request carry the source's credentials."""
        if self.bearer_token:
            return {"headers": {"Authorization": f"Bearer {self.bearer_token}"}}
        if self.username:
            return {"auth": httpx.BasicAuth(self.username, self.password)}
        return {}


def masked(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec as it may be shown: credentials masked.

    >>> masked({"url": "http://prom:9090", "username": "ops", "password": "hunter2"})
    {'url': 'http://prom:9090', 'username': 'ops', 'password': '***'}
    """
    return {k: MASK if k in SECRETS else v for k, v in spec.items()}


def _credential(spec: dict[str, Any], name: str) -> str:
    value = spec.get(name) or ""
    # A header value cannot hold a line break or a control character.
    if not isinstance(value, str) or len(value) > 4096 or not value.isprintable():
        raise InvalidInput(f"{name} must be printable text of at most 4096 characters")
    return value


def _is_base_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return (parts.scheme in ("http", "https") and bool(parts.hostname)
                and not parts.query and url.isprintable()
                and (parts.port is None or parts.port > 0))
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        return False


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"source name {name!r} must start with a letter or '_' and hold "
                           "letters, digits, '_', '.', '-' (at most 128)")
    return name


def fetch(client: httpx.Client, spec: PromSourceSpec, start_s: int, end_s: int
          ) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    """The matrix Prometheus answers for ``[start_s, end_s]``: per label set, its finite
    points in milliseconds. Raises :class:`UpstreamError` saying what went wrong."""
    where = f"Prometheus at {spec.url}"
    try:
        answer = client.get(f"{spec.url}/api/v1/query_range", timeout=TIMEOUT_S, params={
            "query": spec.query, "start": start_s, "end": end_s, "step": spec.step},
            **spec.credentials())
    except httpx.HTTPError as exc:
        raise UpstreamError(f"{where} is unreachable: {type(exc).__name__}: {exc}") from exc
    try:
        body = answer.json()
    except ValueError:
        raise UpstreamError(f"{where} answered {answer.status_code} with a body that is not "
                            "JSON: is the URL a Prometheus?") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise UpstreamError(f"{where} refused the query ({answer.status_code}): "
                            f"{error or 'no error given'}")
    data = body.get("data") or {}
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise UpstreamError(f"{where} answered a {data.get('resultType')!r}, not a matrix")
    result = data["result"]
    if len(result) > MAX_SERIES:
        raise UpstreamError(f"the query returned {len(result)} series, more than "
                            f"{MAX_SERIES}: narrow its selector")
    try:
        return [_series(item) for item in result]
    except (AttributeError, TypeError, ValueError) as exc:
        raise UpstreamError(f"{where} answered a malformed matrix: {exc}") from None


def _series(item: dict[str, Any]) -> tuple[dict[str, str], list[tuple[int, float]]]:
    labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
    points = []
    for ts, value in item.get("values") or []:
        number = float(value)
        if math.isfinite(number):  # Prometheus writes NaN and ±Inf; detectors cannot
            points.append((round(float(ts) * 1000), number))
    return labels, points


def samples_of(name: str, matrix: list[tuple[dict[str, str], list[tuple[int, float]]]]
               ) -> list[MetricSample]:
    samples = []
    for labels, points in matrix:
        metric = labels.pop("__name__", None) or name
        samples.extend(MetricSample(metric, ts, value, labels) for ts, value in points)
    return samples


@dataclass(frozen=True)
class Poll:
    series: int
    points: int
    anomalies: int


def poll(db: Database, client_for: Callable[[bool], httpx.Client], project: str, name: str,
         at_ms: int, *, cache: DetectorCache | None = None,
         capacity_interval_ms: int = 0) -> Poll:
    """Fetch what the source has not fetched yet up to ``at_ms``, store and score it, and
    move the source on; raises (having written nothing) when the poll fails.
    ``client_for(tls_verify)`` gives the HTTP client to ask with."""
    with db.read() as session:
        row = repo.get(session, project, name)
        spec, fetched_to = PromSourceSpec.of(row.spec), row.fetched_to_ms
    step_ms = spec.step * 1000
    # Aligned to the step, so every poll evaluates the same instants and none twice.
    end = at_ms - at_ms % step_ms
    start = end - spec.lookback * 1000
    if fetched_to is not None:
        start = max(start, fetched_to + step_ms)
    if start > end:
        return Poll(0, 0, 0)
    matrix = fetch(client_for(spec.tls_verify), spec, start // 1000, end // 1000)
    samples = samples_of(name, matrix)
    with db.write() as session:
        report = store_samples(session, project, samples, cache=cache, detector=spec.detector,
                               capacity_interval_ms=capacity_interval_ms)
        row = repo.get(session, project, name)
        row.fetched_to_ms, row.last_ok_ms = end, at_ms
        row.last_error, row.last_error_ms = "", None
        row.series, row.points = len(matrix), len(samples)
        row.anomalies += len(report.anomalies)
    return Poll(len(matrix), len(samples), len(report.anomalies))


class PromSources:
    """The duty: poll each due source once across all replicas. ``clock`` returns epoch
    seconds (tests pass a fake one)."""

    def __init__(self, db: Database, *, cache: DetectorCache | None = None,
                 capacity_interval_ms: int = 0, clock: Callable[[], float] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.db, self.cache, self.clock = db, cache, clock
        self.capacity_interval_ms = capacity_interval_ms
        self.transport = transport
        self.clients: dict[bool, httpx.Client] = {}

    def client_for(self, tls_verify: bool) -> httpx.Client:
        # httpx fixes certificate checking per client, so sources that skip it get their own.
        if tls_verify not in self.clients:
            self.clients[tls_verify] = httpx.Client(transport=self.transport, verify=tls_verify,
                                                    follow_redirects=True)
        return self.clients[tls_verify]

    def run_due(self) -> int:
        """Poll the due sources this process claimed; returns how many."""
        at = now_ms() if self.clock is None else int(self.clock() * 1000)
        with self.db.read() as session:
            due = [(r.project, r.name, r.last_run_ms) for r in repo.everything(session)
                   if r.last_run_ms is None
                   or at - r.last_run_ms >= int(r.spec.get("every", 60)) * 1000]
        done = 0
        for project, name, seen in due:
            with self.db.write() as session:
                if not repo.claim(session, project, name, seen, at):
                    continue
            try:
                poll(self.db, self.client_for, project, name, at, cache=self.cache,
                     capacity_interval_ms=self.capacity_interval_ms)
            except Exception as exc:
                message = exc.message if isinstance(exc, TriopsError) else (
                    f"{type(exc).__name__}: {exc}")
                if not isinstance(exc, TriopsError):
                    log.exception("Prometheus source %s/%s failed", project, name)
                with self.db.write() as session:
                    try:
                        row = repo.get(session, project, name)
                    except TriopsError:
                        continue  # deleted meanwhile
                    row.last_error, row.last_error_ms = message[:2000], at
            done += 1
        return done

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
