// A small SVG line chart, written for this page (no library, nothing fetched from elsewhere).
// lineChart(element, times, series) draws each series {name: [values]} against times (epoch ms);
// a null value leaves a gap. The <svg> gets data-points="N" (points drawn), for tests.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#7f7f7f", "#bcbd22"];
  var W = 640, H = 220, L = 52, R = 10, T = 10, B = 24;

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var step = Math.pow(10, Math.floor(Math.log10(value)));
    var ratios = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < ratios.length; i++) if (ratios[i] * step >= value) return ratios[i] * step;
    return 10 * step;
  }

  function label(value) {
    if (value === 0) return "0";
    if (Math.abs(value) >= 1000) return (value / 1000).toFixed(1) + "k";
    if (Math.abs(value) < 0.01) return value.toExponential(0);
    return String(Math.round(value * 1000) / 1000);
  }

  function clock(ms) {
    var d = new Date(ms);
    return d.toTimeString().slice(0, 8);
  }

  function lineChart(container, times, series) {
    container.textContent = "";
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img"}, container);
    var names = Object.keys(series);
    var max = 0, drawn = 0;
    names.forEach(function (n) { series[n].forEach(function (v) { if (v != null && v > max) max = v; }); });
    max = niceMax(max);
    var t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 1;
    if (t1 <= t0) t1 = t0 + 1;
    var x = function (t) { return L + (W - L - R) * (t - t0) / (t1 - t0); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    for (var i = 0; i <= 4; i++) {  // horizontal grid with labels
      var v = max * i / 4;
      el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), "class": "axis"}, svg);
      el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, svg).textContent = label(v);
    }
    if (times.length) {
      el("text", {x: L, y: H - 6}, svg).textContent = clock(t0);
      el("text", {x: W - R, y: H - 6, "text-anchor": "end"}, svg).textContent = clock(t1);
    }
    names.forEach(function (name, k) {
      var d = "", pen = false, color = COLORS[k % COLORS.length], values = series[name];
      values.forEach(function (value, j) {
        if (value == null || j >= times.length) { pen = false; return; }
        var px = x(times[j]).toFixed(1), py = y(value).toFixed(1);
        d += (pen ? "L" : "M") + px + "," + py;
        var alone = !pen && (j + 1 >= values.length || values[j + 1] == null);
        if (alone) el("circle", {cx: px, cy: py, r: 3, fill: color}, svg);  // a point with no line
        pen = true;
        drawn++;
      });
      if (d) el("path", {d: d, "class": "series", stroke: color, "data-name": name}, svg);
    });
    svg.setAttribute("data-points", String(drawn));
    var legend = document.createElement("div");
    legend.className = "legend";
    names.forEach(function (name, k) {
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = COLORS[k % COLORS.length];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      legend.appendChild(item);
    });
    container.appendChild(legend);
    return drawn;
  }

  window.ColdstartCharts = {lineChart: lineChart};
})();
