/* Draws every <div class="chart" data-echarts> of a page with the vendored Apache ECharts.
 * The server writes each chart's option as JSON inside the div (triops/ui/charts.py);
 * this file adds what JSON cannot carry: number formatting, the tooltip text, clicks on
 * linked points and resizing with the page. ECharts is loaded only on pages with a chart,
 * and not at all when a page already carries it (a report saved as one HTML file). */
(function () {
  "use strict";
  var ECHARTS_SRC = "/static/vendor/echarts-6.1.0/echarts.min.js";

  function fmt(v) {
    if (typeof v !== "number" || !isFinite(v)) return v === null || v === undefined ? "–" : String(v);
    if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) return v.toPrecision(4).replace(/\.?0+e/, "e");
    return String(parseFloat(v.toPrecision(4)));
  }

  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  function when(x, axisType) {
    if (axisType !== "time") return typeof x === "number" ? fmt(x) : esc(x);
    return new Date(x).toISOString().replace("T", " ").replace(/\.000Z$|Z$/, "") + " UTC";
  }

  /* One line per series under the hovered x: a series' own "tip" (an interval, an
   * anomaly's score, a crossing's caption) replaces or follows its value. */
  function tooltip(axisType) {
    return function (params) {
      if (!Array.isArray(params)) params = [params];
      var shown = params.filter(function (p) { return p.seriesName.charAt(0) !== "_"; });
      if (!shown.length) return "";
      var first = shown[0];
      var x = Array.isArray(first.value) ? first.value[0] : first.name;
      var lines = ["<b>" + when(x, axisType) + "</b>"];
      shown.forEach(function (p) {
        var d = p.data || {};
        var y = Array.isArray(p.value) ? p.value[1] : p.value;
        var text = d.tip !== undefined && d.tip !== "" ? esc(d.tip) : fmt(y);
        if (d.tip && p.seriesType === "scatter") text = fmt(y) + " · " + esc(d.tip);
        lines.push(p.marker + esc(p.seriesName) + ": <b>" + text + "</b>");
      });
      return lines.join("<br>");
    };
  }

  function draw(el) {
    if (el.getAttribute("data-drawn")) return;
    el.setAttribute("data-drawn", "1");
    var option = JSON.parse(el.querySelector("script[type='application/json']").textContent);
    var axisType = option.xAxis && option.xAxis.type;
    if (option.tooltip && !option.tooltip.formatter) option.tooltip.formatter = tooltip(axisType);
    [].concat(option.yAxis || [], axisType === "value" ? [option.xAxis] : []).forEach(function (a) {
      if (a && a.type === "value") a.axisLabel = Object.assign({ formatter: fmt }, a.axisLabel || {});
    });
    (option.series || []).forEach(function (s) {
      if (s.type === "bar" && s.label && s.label.show) s.label.formatter = function (p) { return fmt(p.value); };
    });
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    chart.on("click", function (p) {
      var href = p.data && p.data.href;
      if (href) window.location.href = href;
    });
    if (window.ResizeObserver) new ResizeObserver(function () { chart.resize(); }).observe(el);
  }

  function drawAll(root) {
    var charts = (root || document).querySelectorAll("div.chart[data-echarts]");
    if (!charts.length) return;
    var go = function () { charts.forEach(draw); };
    if (window.echarts) return go();
    var script = document.querySelector("script[data-echarts-loader]");
    if (!script) {
      script = document.createElement("script");
      script.src = ECHARTS_SRC;
      script.setAttribute("data-echarts-loader", "1");
      document.head.appendChild(script);
    }
    script.addEventListener("load", go);
  }

  window.triopsCharts = { drawAll: drawAll, format: fmt };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  else drawAll();
})();
