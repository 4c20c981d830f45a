"""Headless Chromium from Debian, driven by Playwright, for the web UI tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextmanager
def browser_page(base_url: str) -> Iterator[object]:
    """A fresh page with a viewport wide enough for the tables."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    SCREENSHOTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(base_url=base_url, viewport={"width": 1360, "height": 860})
            yield context.new_page()
        finally:
            browser.close()


def login(page, key: str) -> None:
    page.goto("/ui/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui")


def shot(page, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def charts(page, selector: str = "div.chart") -> list[dict]:
    """What each drawn chart of the page shows, read from its ECharts instance: the
    series' names, types and point counts, and the legend's entries."""
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(e => e.getAttribute('data-drawn'))"
        " && window.echarts", arg=selector)
    return page.evaluate("""sel => [...document.querySelectorAll(sel)].map(el => {
        const o = echarts.getInstanceByDom(el).getOption();
        return {title: el.getAttribute('aria-label'),
                series: o.series.map(s => ({name: s.name, type: s.type, points: s.data.length,
                                            data: s.data, markLine: (s.markLine || {}).data})),
                legend: o.legend && o.legend.length ? o.legend[0].data : [],
                yAxis: o.yAxis[0], xAxis: o.xAxis[0]};
    })""", selector)


def hover(page, chart, fraction: float = 0.5) -> str:
    """Moves the mouse over ``chart`` at ``fraction`` of its width and returns the
    tooltip's text."""
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.55)
    tip = chart.locator("div").filter(has_text=":").last
    tip.wait_for(state="visible")
    return tip.inner_text()


def click_point(page, chart, series: str, index: int = 0) -> None:
    """Clicks the ``index``-th point of the named series where the chart drew it."""
    x, y = chart.evaluate("""(el, [name, i]) => {
        const c = echarts.getInstanceByDom(el);
        const s = c.getOption().series.find(s => s.name === name);
        const d = s.data[i];
        const [x, y] = c.convertToPixel({seriesName: name}, Array.isArray(d) ? d : d.value);
        const box = el.querySelector("canvas").getBoundingClientRect();
        return [box.left + x, box.top + y];
    }""", [series, index])
    page.mouse.click(x, y)


def graph_nodes(page, selector: str = "div.chart") -> dict[str, dict]:
    """The nodes of the drawn graph under ``selector``, by key: where dagre placed them,
    their link and open-incident count."""
    page.wait_for_function(
        "sel => { const el = document.querySelector(sel);"
        " return el && el.getAttribute('data-drawn') && window.echarts && window.dagre; }",
        arg=selector)
    return page.evaluate("""sel => {
        const el = document.querySelector(sel);
        const s = echarts.getInstanceByDom(el).getOption().series[0];
        return Object.fromEntries(s.data.filter(n => !n.name.startsWith("__")).map(
            n => [n.name, {x: n.x, y: n.y, href: n.href, open: n.open, tip: n.tip}]));
    }""", selector)


def click_node(page, key: str, selector: str = "div.chart") -> None:
    """Clicks the node ``key`` of the graph under ``selector`` where it was drawn."""
    x, y = page.evaluate("""([sel, key]) => {
        const el = document.querySelector(sel);
        const c = echarts.getInstanceByDom(el);
        const n = c.getOption().series[0].data.find(n => n.name === key);
        const [x, y] = c.convertToPixel({seriesIndex: 0}, [n.x, n.y]);
        const box = el.querySelector("canvas").getBoundingClientRect();
        return [box.left + x, box.top + y];
    }""", [selector, key])
    page.mouse.click(x, y)
