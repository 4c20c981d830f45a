/* Draws every <div class="chart" data-echarts> of a page with the vendored Apache ECharts.
 * The server writes each chart's option as JSON inside the div (triops/ui/charts.py);
 * this file adds what JSON cannot carry: number formatting, the tooltip text, clicks on
 * linked points and resizing with the page. ECharts is loaded only on pages with a chart,
 * and not at all when a page already carries it (a report saved as one HTML file). */
(function () {
  "use strict";
  var ECHARTS_SRC = "/static/vendor/echarts-6.1.0/echarts.min.js";
  var DAGRE_SRC = "/static/vendor/dagre-3.1.4/dagre.min.js";

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

  function when(x, axisType, axisName) {
    if (axisType !== "time") {
      var shown = typeof x === "number" ? fmt(x) : esc(x);
      return axisName ? esc(axisName) + " " + shown : shown;
    }
    return new Date(x).toISOString().replace("T", " ").replace(/\.000Z$|Z$/, "") + " UTC";
  }

  /* One line per series under the hovered x: a series' own "tip" (an interval, an
   * anomaly's score, a crossing's caption) replaces or follows its value. */
  function tooltip(axisType, axisName) {
    return function (params) {
      if (!Array.isArray(params)) params = [params];
      var shown = params.filter(function (p) { return p.seriesName.charAt(0) !== "_"; });
      if (!shown.length) return "";
      var first = shown[0];
      var x = Array.isArray(first.value) ? first.value[0] : first.name;
      var lines = ["<b>" + when(x, axisType, axisName) + "</b>"];
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

  function itemTip(p) { return esc((p.data && p.data.tip) || p.name); }

  /* A graph series marked triopsLayout "dagre" gets its nodes placed by dagre, layered
   * left to right, and the drawing is sized to the laid-out graph (its box scrolls), so
   * that nodes keep their size however large the graph. */
  function layOut(el, series) {
    var g = new window.dagre.graphlib.Graph();
    g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 50, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(function () { return {}; });
    var size = series.symbolSize;
    series.data.forEach(function (n) { g.setNode(n.name, { width: size[0], height: size[1] }); });
    series.links.forEach(function (l) { g.setEdge(l.source, l.target); });
    window.dagre.layout(g);
    series.data.forEach(function (n) { var p = g.node(n.name); n.x = p.x; n.y = p.y; });
    // ECharts stretches the nodes' bounding box over the series' box: two invisible
    // corner points make that bounding box dagre's whole drawing, and the series' box is
    // the same size in pixels, so nothing is stretched and every node keeps its size.
    var box = g.graph();
    var width = Math.max(el.parentElement ? el.parentElement.clientWidth - 2 : 0, box.width);
    var corner = { symbolSize: 0, label: { show: false }, tooltip: { show: false } };
    series.data.push(Object.assign({ name: "__corner-0", x: 0, y: 0 }, corner),
                     Object.assign({ name: "__corner-1", x: box.width, y: box.height }, corner));
    series.left = (width - box.width) / 2;
    series.top = 0;
    series.width = box.width;
    series.height = box.height;
    el.style.width = width + "px";
    el.style.height = box.height + "px";
    el.style.maxWidth = "none";
  }

  function draw(el) {
    if (el.getAttribute("data-drawn")) return;
    el.setAttribute("data-drawn", "1");
    var option = JSON.parse(el.querySelector("script[type='application/json']").textContent);
    var axisType = option.xAxis && option.xAxis.type;
    (option.series || []).forEach(function (s) { if (s.triopsLayout === "dagre") layOut(el, s); });
    if (option.tooltip && !option.tooltip.formatter) {
      option.tooltip.formatter = option.tooltip.trigger === "item" ? itemTip
        : tooltip(axisType, option.xAxis && option.xAxis.name);
    }
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

  /* Runs then() once the global ``name`` exists, loading ``src`` at most once. */
  function need(name, src, then) {
    if (window[name]) return then();
    var script = document.querySelector("script[data-loads='" + name + "']");
    if (!script) {
      script = document.createElement("script");
      script.src = src;
      script.setAttribute("data-loads", name);
      document.head.appendChild(script);
    }
    script.addEventListener("load", then);
  }

  function drawAll(root) {
    var charts = (root || document).querySelectorAll("div.chart[data-echarts]");
    if (!charts.length) return;
    var go = function () { charts.forEach(draw); };
    var graphs = [].some.call(charts, function (el) {
      return el.querySelector("script[type='application/json']").textContent.indexOf('"triopsLayout":"dagre"') >= 0;
    });
    need("echarts", ECHARTS_SRC, graphs ? function () { need("dagre", DAGRE_SRC, go); } : go);
  }

  window.triopsCharts = { drawAll: drawAll, format: fmt };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  else drawAll();
})();
