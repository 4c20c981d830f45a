"""``triops ops import``: CSV series and log files into a store, with awkward input."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from triops.cli.main import app
from triops.ops import logs as ops_logs
from triops.ops.telemetry import list_series, read_series
from triops.store.repos import ops as ops_repo

runner = CliRunner()


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_import_series_csv_with_gaps_text_nan_and_unsorted_rows(db, store_url, tmp_path: Path):
    csv_path = tmp_path / "s.csv"
    rows = ["timestamp,value", "2024-01-01 00:00:00,1.0", "2024-01-01 00:01:00,2.0",
            "2024-01-01 00:05:00,3.0",  # a gap
            "2024-01-01 00:06:00,oops", "2024-01-01 00:07:00,nan", "not a time,4",
            "2024-01-01 00:03:00,9.0",  # unsorted: a batch is scored in time order
            "2024-01-01 00:08:00,5.0", "2024-01-01 00:08:00,5.5"]  # duplicate time
    csv_path.write_text("\n".join(rows) + "\n")
    result = run("ops", "import", "--series", "cpu", "--label", "host=a", "--input",
                 str(csv_path), "--store", store_url)
    assert result.exit_code == 0, result.output
    assert "stored 6 points of cpu: 5 scored, 1 not newer" in result.output
    assert "skipped 3 row(s)" in result.output
    with db.read() as session:
        points = read_series(session, "default", 'cpu{host="a"}')
        assert [v for _, v in points] == [1.0, 2.0, 9.0, 3.0, 5.0, 5.5]
        assert ops_repo.get_series_state(session, "default", 'cpu{host="a"}').points == 5


def test_import_logs_with_format_invalid_utf8_and_a_huge_line(db, store_url, tmp_path: Path):
    log_path = tmp_path / "app.log"
    lines = [f"2024-01-01 10:00:{i:02d} INFO worker {i} started".encode() for i in range(5)]
    lines.append(b"2024-01-01 10:00:09 WARN bad byte \xff\xfe in name")
    lines.append(b"2024-01-01 10:00:10 INFO " + b"x" * (1024 * 1024))
    lines.append(b"this line does not match the format")
    log_path.write_bytes(b"\n".join(lines) + b"\n")
    result = run("ops", "import", "--logs", "worker", "--input", str(log_path),
                 "--log-format", "<Date> <Time> <Level> <Content>", "--store", store_url)
    assert result.exit_code == 0, result.output
    assert "stored 8 lines of worker" in result.output and "1 cut" in result.output
    with db.read() as session:
        stored = ops_logs.query_lines(session, "default", stream="worker")
        templates = {t.template for t in ops_logs.templates(session, "default", "worker")}
    assert stored[0].ts_ms == 1704103200000 and stored[0].data["severity"] == "INFO"
    assert "worker <*> started" in templates
    assert any("\ufffd" in line.data["body"] for line in stored)  # replaced, not refused
    assert max(len(line.data["body"]) for line in stored) == ops_logs.MAX_BODY_CHARS


def test_import_refuses_bad_arguments_with_one_line(store_url, tmp_path: Path):
    good = tmp_path / "s.csv"
    good.write_text("timestamp,value\n1,2\n")
    no_header = tmp_path / "n.csv"
    no_header.write_text("a,b\n1,2\n")
    cases = [
        (["--input", str(good)], "exactly one of"),
        (["--series", "a", "--logs", "b", "--input", str(good)], "exactly one of"),
        (["--series", "a", "--input", str(tmp_path / "missing.csv")], "does not exist"),
        (["--series", "a", "--input", str(no_header)], "timestamp"),
        (["--series", "bad name!", "--input", str(good)], "not valid"),
        (["--logs", "w", "--input", str(good), "--log-format", "<Date>"], "<Content>"),
        (["--series", "a", "--label", "novalue", "--input", str(good)], "KEY=VALUE"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["ops", "import", *args, "--store", store_url])
        assert result.exit_code != 0, args
        assert message in str(result.exception) + result.output, (args, result.output)


def test_mounted_detection_and_log_commands(tmp_path: Path):
    result = run("ops", "--help")
    assert result.exit_code == 0
    for command in ("import", "detect", "logs"):
        assert command in result.output


def test_import_lands_in_the_ops_store_listing(db, store_url, tmp_path: Path):
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("timestamp,value\n" + "".join(f"{60 * i},{i % 5}\n" for i in range(300)))
    assert run("ops", "import", "--series", "x", "--input", str(csv_path), "--store",
               store_url).exit_code == 0
    with db.read() as session:
        assert list_series(session, "default") == ["x"]
