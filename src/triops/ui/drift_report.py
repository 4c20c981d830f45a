"""The drift report of one monitor run, as a page and as one self-contained HTML file.

Per feature: the reference and current distributions side by side (histogram bins or
categories, as the monitor recorded them), the test, its score and threshold, and the
verdict. The exported file carries its styles, the charting library and the chart
script inline, so it opens anywhere without triops or a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from triops.ui.charts import grouped_bars
from triops.ui.rendering import STATIC_DIR, templates

ECHARTS_FILE = STATIC_DIR / "vendor" / "echarts-6.1.0" / "echarts.min.js"


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    test: str
    score: float | None
    threshold: float | None
    drifted: bool
    rule: str  # how the score becomes a verdict, e.g. "drift when p-value < 0.05"
    n_reference: int | None
    n_current: int | None
    chart: Markup | None


def higher_is_drift(test: str) -> bool | None:
    """Whether a high score of ``test`` means drift (a distance) or not (a p-value);
    None for a test this server no longer has."""
    from triops.ml.monitoring import REGISTRY  # numpy and pandas: loaded on use

    try:
        return REGISTRY.get(test).higher_is_drift
    except Exception:  # noqa: BLE001 - a plugin test since uninstalled: say nothing
        return None


def rule_of(test: str, threshold: float | None) -> str:
    if threshold is None:
        return ""
    higher = higher_is_drift(test)
    if higher is None:
        return f"threshold {threshold:g}"
    return (f"drift when score ≥ {threshold:g}" if higher
            else f"drift when p-value < {threshold:g}")


def features(drift: dict[str, Any]) -> list[FeatureDrift]:
    """The report's rows, drifted features first, from a monitor result's ``drift``."""
    out = []
    for name, d in drift.items():
        if not isinstance(d, dict):
            continue
        dist = d.get("distribution") or {}
        chart = None
        if dist.get("labels"):
            chart = grouped_bars(dist["labels"], [("reference", dist["reference"]),
                                                  ("current", dist["current"])],
                                 width=640, height=240, title=f"distribution of {name}")
        out.append(FeatureDrift(name, str(d.get("test", "")), d.get("score"),
                                d.get("threshold"), bool(d.get("drifted")),
                                rule_of(str(d.get("test", "")), d.get("threshold")),
                                d.get("n_reference"), d.get("n_current"), chart))
    return sorted(out, key=lambda f: (not f.drifted, f.name))


def standalone(context: dict[str, Any]) -> str:
    """The report as one HTML file: the page's styles and scripts inlined."""
    css = (STATIC_DIR / "triops.css").read_text()
    scripts = [ECHARTS_FILE.read_text(), (STATIC_DIR / "triops-charts.js").read_text()]
    # Neither file contains "</script", but a later version might: keep the element shut.
    inline = [Markup(s.replace("</script", "<\\/script")) for s in scripts]
    return templates.get_template("drift_report_file.html").render(
        css=Markup(css.replace("</style", "<\\/style")), scripts=inline, **context)
