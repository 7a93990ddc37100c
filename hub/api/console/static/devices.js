// Devices and tags: drag across a trend to zoom into that stretch of time. Without this
// script the trend still zooms through its links (one per sixth of the plot) and its form.
(function () {
  "use strict";

  var MIN_DRAG = 8; // px: less is a click on a zoom link
  var drag = null;

  function chartOf(node) {
    return node instanceof Element ? node.closest(".trend-chart") : null;
  }

  function fraction(box, clientX) {
    return Math.min(1, Math.max(0, (clientX - box.left) / box.width));
  }

  function showSelection(chart, a, b) {
    var rect = chart.querySelector(".trend-selection");
    if (!rect) { return; }
    // the plot spans x 56..590 of the SVG's 600 units (devices_trend.py)
    var lo = Math.min(a, b), hi = Math.max(a, b);
    rect.setAttribute("x", String(56 + lo * 534));
    rect.setAttribute("width", String((hi - lo) * 534));
  }

  document.addEventListener("pointerdown", function (event) {
    var chart = chartOf(event.target);
    var overlay = chart && chart.querySelector(".zoom-slices");
    if (!overlay || event.button !== 0) { return; }
    // What the drag needs is taken now: a live trend may be replaced while it lasts.
    var box = overlay.getBoundingClientRect();
    drag = {
      chart: chart, box: box, x: event.clientX, from: fraction(box, event.clientX), moved: false,
      start: Number(chart.dataset.trendStart), end: Number(chart.dataset.trendEnd),
      base: chart.dataset.trendZoom || ""
    };
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    if (Math.abs(event.clientX - drag.x) >= MIN_DRAG) { drag.moved = true; }
    if (drag.moved) {
      event.preventDefault();
      showSelection(drag.chart, drag.from, fraction(drag.box, event.clientX));
    }
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag) { return; }
    var done = drag;
    drag = null;
    if (!done.moved) { return; } // a click: the zoom link under the pointer takes it
    var to = fraction(done.box, event.clientX);
    var start = done.start, end = done.end, base = done.base;
    var lo = Math.min(done.from, to), hi = Math.max(done.from, to);
    var from = new Date(start + lo * (end - start)), until = new Date(start + hi * (end - start));
    // a drag ends on a link: do not follow it as a click as well
    document.addEventListener("click", function (e) { e.preventDefault(); }, { once: true, capture: true });
    window.location.assign(base + (base.indexOf("?") < 0 ? "?" : "&") +
      "from=" + encodeURIComponent(from.toISOString()) + "&to=" + encodeURIComponent(until.toISOString()));
  });

  // Links are draggable by default: a drag over the zoom links would drag the link.
  document.addEventListener("dragstart", function (event) {
    if (chartOf(event.target)) { event.preventDefault(); }
  });
})();
