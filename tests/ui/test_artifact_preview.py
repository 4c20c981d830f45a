"""What the run page's artifact browser makes of a file, and where a run's artifacts lie."""

from __future__ import annotations

import doctest

import pytest

import triops.ml.artifact_paths
import triops.ui.artifact_preview
from triops.core.errors import InvalidInput
from triops.ml.artifact_paths import under
from triops.ui.artifact_preview import media_type, preview


def test_docstring_examples_run():
    for module in (triops.ui.artifact_preview, triops.ml.artifact_paths):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_kinds_by_content_and_name():
    assert preview("plots/roc.PNG", b"\x89PNG", 4).kind == "image"
    shown = preview("model/MLmodel", b"flavors:\n  sklearn: {}\n", 22)
    assert shown.kind == "text" and "sklearn" in shown.text and not shown.truncated
    assert preview("c.json", b'{"a":1}', 7).text == '{\n  "a": 1\n}'
    # A cut through a multi-byte character at the end of what was read is still text.
    cut = "é".encode() * 10
    assert preview("notes.txt", cut[:-1], 1000).kind == "text"
    assert preview("weights.bin", b"\xff\xfe\xfa", 3).kind == "binary"


def test_tables_keep_their_header_and_say_when_cut():
    body = "a\tb\n" + "".join(f"{i}\t{i * 2}\n" for i in range(150))
    shown = preview("x.tsv", body.encode(), len(body))
    assert shown.header == ["a", "b"] and len(shown.rows) == 100 and shown.truncated


def test_nothing_is_served_as_a_page():
    assert media_type("report.html") == "application/octet-stream"
    assert media_type("plot.svg") == "image/svg+xml"


def test_artifact_paths_stay_in_the_run():
    uri = "mlflow-artifacts:/1/abc/artifacts"
    assert under("p", uri, "model/MLmodel") == "mlflow/p/1/abc/artifacts/model/MLmodel"
    with pytest.raises(InvalidInput):
        under("p", uri, "../../other/secret")
    with pytest.raises(InvalidInput):
        under("p", "s3://bucket/elsewhere", "x")
