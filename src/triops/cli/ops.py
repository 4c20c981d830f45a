"""``triops ops``: import series and logs into a store, detect anomalies, mine log templates,
rank root causes, forecast series."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from triops.cli import ops_detect, ops_forecast, ops_logs, ops_prometheus, ops_rca
from triops.cli.common import HomeOpt, StoreOpt, console, err_console, open_database, settings_from
from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ops import Sample
from triops.ops import logs as ops_logs_store
from triops.ops.logmining import CONTENT_FIELD, LogFormat, read_lines
from triops.server import DEFAULT_PROJECT, validate_name

ops_app = typer.Typer(help="AIOps: telemetry import, anomaly detection, log templates.",
                      no_args_is_help=True)
# The detection commands (``detect``) sit directly under ``triops ops``.
ops_app.registered_commands.extend(ops_detect.app.registered_commands)
ops_app.registered_commands.extend(ops_rca.app.registered_commands)
ops_app.registered_commands.extend(ops_forecast.app.registered_commands)
ops_app.add_typer(ops_logs.app, name="logs")
ops_app.add_typer(ops_prometheus.app, name="prometheus")

#: Rows per transaction: each batch is stored, scored and committed on its own, so an
#: interrupted import keeps every batch it reported.
BATCH = 5_000


def parse_time_ms(text: str) -> int:
    """Milliseconds from epoch seconds (a number) or an ISO-8601 date-time (UTC if naive)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(text)
    return int(seconds * 1000)


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--label {pair!r} is not KEY=VALUE")
        labels[key] = value
    return labels


def _progress(_total: int) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), console=err_console, transient=False)


def _csv_rows(path: Path, skipped: list[str]) -> Iterator[tuple[int, float]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader, [])]
            if "timestamp" not in header or "value" not in header:
                raise InvalidInput(f"{path} needs a header with columns 'timestamp' and 'value'")
            ti, vi = header.index("timestamp"), header.index("value")
            for n, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    ts = parse_time_ms(row[ti])
                    value = float(row[vi])
                    if not math.isfinite(value):
                        raise ValueError(row[vi])
                except (ValueError, IndexError, OverflowError):
                    skipped.append(f"line {n}")
                    continue
                yield ts, value
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"{path} is not a readable UTF-8 CSV file: {exc}") from None


def _import_series(db, project: str, name: str, labels: dict[str, str], path: Path) -> None:  # type: ignore[no-untyped-def]
    # The detectors (numpy, compiled kernels) load with the import that scores, not with
    # the command line.
    from triops.ops import ingest_samples

    skipped: list[str] = []
    with path.open("rb") as handle:
        rows = max(sum(1 for _ in handle) - 1, 1)
    stored = scored = late = anomalies = 0
    with _progress(rows) as progress:
        task = progress.add_task(f"series {name}", total=rows)
        batch: list[Sample] = []

        def flush() -> None:
            nonlocal stored, scored, late, anomalies
            with db.write() as session:
                report = ingest_samples(session, project, batch)
            stored, scored = stored + report.accepted, scored + report.scored
            late, anomalies = late + report.late, anomalies + len(report.anomalies)
            batch.clear()

        for i, (ts, value) in enumerate(_csv_rows(path, skipped), start=1):
            batch.append(Sample(name, ts, value, labels))
            if len(batch) >= BATCH:
                flush()
                progress.update(task, completed=i)
        if batch:
            flush()
        progress.update(task, completed=rows)
    if skipped:
        err_console.print(f"warning: skipped {len(skipped)} row(s) with an unreadable timestamp "
                          f"or a value that is not a finite number ({', '.join(skipped[:5])}...)")
    console.print(f"stored {stored} points of {name}: {scored} scored, {late} not newer than "
                  f"the newest scored point, {anomalies} anomaly signal(s)")


def _line_time(fields: dict[str, str] | None, fallback: int) -> int:
    """The line's own time when the format names a ``Timestamp`` or ``Date`` + ``Time``;
    lines without one take ``fallback`` (the import's start for the first line)."""
    if fields:
        text = fields.get("Timestamp") or (
            f"{fields['Date']} {fields['Time']}" if "Date" in fields and "Time" in fields else "")
        if text:
            try:
                return parse_time_ms(text.replace(",", "."))
            except (ValueError, OverflowError):
                pass
    return fallback


def _import_logs(db, project: str, stream: str, path: Path, fmt: LogFormat | None) -> None:  # type: ignore[no-untyped-def]
    ops_logs_store.check_stream(stream)
    size = path.stat().st_size or 1
    totals = ops_logs_store.LogReport()
    started = now_ms()
    with _progress(size) as progress, path.open("rb") as handle:
        task = progress.add_task(f"logs {stream}", total=size)
        batch: list[ops_logs_store.LogLine] = []

        def flush() -> None:
            with db.write() as session:
                report = ops_logs_store.ingest_lines(session, project, batch)
            totals.accepted += report.accepted
            totals.truncated += report.truncated
            totals.new_templates += report.new_templates
            totals.signals += report.signals
            batch.clear()
            progress.update(task, completed=handle.tell())

        last = started
        for line in read_lines(handle):
            if not line.strip():
                continue
            fields = fmt.split(line) if fmt else None
            # A line without a readable time takes the previous line's time.
            last = _line_time(fields, last)
            batch.append(ops_logs_store.LogLine(
                stream=stream, ts_ms=last, body=line,
                severity=(fields or {}).get("Level", ""),
                content=fields[CONTENT_FIELD] if fields else None,
            ))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
        progress.update(task, completed=size)
    console.print(f"stored {totals.accepted} lines of {stream}: {totals.new_templates} new "
                  f"template(s), {totals.signals} signal(s), {totals.truncated} cut to "
                  f"{ops_logs_store.MAX_BODY_CHARS} characters")


@ops_app.command("import")
def import_(
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV (timestamp,value) or log file")],
    series: Annotated[str | None, typer.Option("--series", help="Import a CSV as this series")] = None,
    logs: Annotated[str | None, typer.Option("--logs", help="Import a log file into this stream")] = None,
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", "-f", help="e.g. '<Date> <Time> <Level>: <Content>'"),
    ] = None,
    label: Annotated[list[str], typer.Option("--label", help="KEY=VALUE label of the series")] = [],  # noqa: B006
    project: Annotated[str, typer.Option("--project", "-p", help="Project")] = DEFAULT_PROJECT,
    store: StoreOpt = None,
    home: HomeOpt = None,
) -> None:
    """Import a series (stored and scored by its detector) or a log file (mined) into a store."""
    if (series is None) == (logs is None):
        raise InvalidInput("give exactly one of --series NAME or --logs STREAM")
    if not input.is_file():
        raise InvalidInput(f"the input {input} does not exist or is not a file")
    fmt = LogFormat.parse(log_format) if log_format else None
    if fmt is not None and series is not None:
        raise InvalidInput("--log-format applies to --logs imports only")
    project = validate_name(project)
    db = open_database(settings_from(store=store, home=home), create=True)
    try:
        if series is not None:
            _import_series(db, project, series, _labels(label), input)
        else:
            assert logs is not None
            _import_logs(db, project, logs, input, fmt)
    finally:
        db.dispose()
