import json

import pytest

from triops.store import records
from triops.store.records import RecordRow


def test_append_then_scan_by_stream_and_time(db):
    rows = [RecordRow("cpu{host=\"a\"}", t, {"v": float(t)}) for t in range(0, 1000, 10)]
    rows += [RecordRow("cpu{host=\"b\"}", 5, {"v": -1.0})]
    with db.write() as session:
        assert records.append(session, "p1", "sample", rows) == 101
    with db.read() as session:
        got = list(records.scan(session, "p1", "sample", streams=['cpu{host="a"}'],
                                start_ms=100, end_ms=200))
        assert [r.ts_ms for r in got] == list(range(100, 200, 10))
        assert got[0].data == {"v": 100.0}
        assert records.streams(session, "p1", "sample") == ['cpu{host="a"}', 'cpu{host="b"}']
        # Projects isolate records.
        assert list(records.scan(session, "p2", "sample")) == []


def test_scan_newest_first_with_limit_and_prefix(db):
    with db.write() as session:
        records.append(session, "p", "span", [RecordRow(f"trace{i % 3}", i, {}) for i in range(30)])
    with db.read() as session:
        got = list(records.scan(session, "p", "span", stream_prefix="trace1", newest_first=True,
                                limit=3))
    assert [r.ts_ms for r in got] == [28, 25, 22]


def test_failed_transaction_writes_nothing(db):
    try:
        with db.write() as session:
            records.append(session, "p", "sample", [RecordRow("s", 1, {"v": 1})])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.read() as session:
        assert list(records.scan(session, "p", "sample")) == []


def test_large_batch_is_chunked(db):
    rows = [RecordRow("s", i, {"v": i}) for i in range(12_345)]
    with db.write() as session:
        records.append(session, "p", "sample", rows)
    with db.read() as session:
        assert sum(1 for _ in records.scan(session, "p", "sample")) == 12_345


def test_text_that_copy_must_escape_reads_back_as_written(db):
    """Tabs, newlines, carriage returns and backslashes in a stream or in the data, in a
    batch whose other rows need no escaping (PostgreSQL writes them through COPY)."""
    odd = {"text": "a\tb\nc\rd\\e", "v": 1.0}
    rows = [RecordRow("plain", 1, {"v": 1.0}), RecordRow("tab\tand\\slash", 2, odd),
            RecordRow("plain", 3, {"v": 3.0})]
    with db.write() as session:
        records.append(session, "p", "log", rows)
    with db.read() as session:
        got = [(r.stream, r.ts_ms, r.data) for r in records.scan(session, "p", "log")]
    assert got == [(r.stream, r.ts_ms, r.data) for r in rows]


@pytest.mark.parametrize("data", [
    {"empty": None, "rows": [[1.0, float("nan")], [2, float("inf")]], "n": [1, 2.5]},
    {"empty": None, "rows": [[1.0, 2.0]], "labels": ["a", None, True, -float("inf")]},
    {"empty": None, "rows": [[1.0, 2.0]], "labels": ["a", None, True]},
    {"huge": [10**400, None]},
])
def test_records_are_stored_as_json_writes_them(data):
    """orjson writes NaN and infinities as null: whatever holds one is written by json,
    nulls or not, and everything reads back as json.dumps would have written it."""
    written = records.dumps(data)
    assert json.loads(written) == json.loads(json.dumps(data)) or "NaN" in written
    assert ("NaN" in written or "Infinity" in written) == ("NaN" in json.dumps(data)
                                                           or "Infinity" in json.dumps(data))
