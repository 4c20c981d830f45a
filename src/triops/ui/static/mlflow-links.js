/* The MLflow client prints links into MLflow's own UI, whose routes live in the URL's
 * fragment (http://host/#/experiments/1/runs/<id>): the fragment never reaches the
 * server, so the page at "/" reads it here and goes to the triops page that shows the
 * same thing. Anything else goes to the overview. */
(function () {
  "use strict";
  function target(hash) {
    var route = hash.replace(/^#!?\/?/, "");
    var query = "";
    var q = route.indexOf("?");
    if (q >= 0) { query = route.slice(q + 1); route = route.slice(0, q); }
    var p = route.split("/").map(function (s) {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
    var enc = encodeURIComponent;
    if (p[0] === "experiments" && p[1]) {
      if (p[2] === "runs" && p[3]) return "/ui/ml/runs/" + enc(p[3]);
      if (p[2] === "models" && p[3]) return "/ui/ml/logged-models/" + enc(p[3]);
      return "/ui/ml/experiments/" + enc(p[1]);
    }
    if (p[0] === "models" && p[1]) {
      if (p[2] === "versions" && p[3]) return "/ui/ml/models/" + enc(p[1]) + "/versions/" + enc(p[3]);
      return "/ui/ml/models/" + enc(p[1]);
    }
    if (p[0] === "models") return "/ui/ml/models";
    if (p[0] === "compare-runs") {
      var runs = new URLSearchParams(query).get("runs");
      try { runs = JSON.parse(runs || "[]"); } catch (e) { runs = []; }
      if (Array.isArray(runs) && runs.length) {
        return "/ui/ml/compare?" + runs.map(function (r) { return "runs=" + enc(r); }).join("&");
      }
    }
    if (p[0] === "experiments") return "/ui/ml";
    return "/ui";
  }
  window.location.replace(target(window.location.hash || ""));
})();
