/**
 * The dashboard's only script, served as a file (the Content-Security-Policy forbids inline
 * script): every 2 seconds it fetches the page's live fragment and swaps it in (the server
 * escaped it), and on the overview it draws the throughput from the workers' counters.
 *
 * @module
 */

/** The JavaScript served at `/assets/app.js`. */
export const SCRIPT_JS: string = `
"use strict";
(function () {
  var POLL_MS = 2000;
  var history = [];
  var last = null;
  var SVG = "http://www.w3.org/2000/svg";

  function totals(root) {
    var el = root.querySelector("[data-processed]");
    if (!el) return null;
    return { at: Date.now(), processed: Number(el.getAttribute("data-processed")),
      failed: Number(el.getAttribute("data-failed")) };
  }

  function line(points, max, cls, width, height) {
    var path = document.createElementNS(SVG, "polyline");
    var step = width / Math.max(1, 59);
    var coords = points.map(function (v, i) {
      return (i * step).toFixed(1) + "," + (height - 4 - (v / max) * (height - 8)).toFixed(1);
    });
    path.setAttribute("points", coords.join(" "));
    path.setAttribute("class", cls);
    return path;
  }

  function draw() {
    var svg = document.getElementById("throughput");
    if (!svg) return;
    var width = 600, height = 80;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var max = 1;
    history.forEach(function (h) { max = Math.max(max, h.processed, h.failed); });
    svg.appendChild(line(history.map(function (h) { return h.processed; }), max, "processed", width, height));
    svg.appendChild(line(history.map(function (h) { return h.failed; }), max, "failed", width, height));
    var now = history[history.length - 1] || { processed: 0, failed: 0 };
    var p = document.getElementById("rate-processed");
    var f = document.getElementById("rate-failed");
    if (p) p.textContent = now.processed.toFixed(1);
    if (f) f.textContent = now.failed.toFixed(1);
  }

  function sample(root) {
    var t = totals(root);
    if (!t) return;
    if (last) {
      var seconds = Math.max(0.001, (t.at - last.at) / 1000);
      history.push({ processed: Math.max(0, t.processed - last.processed) / seconds,
        failed: Math.max(0, t.failed - last.failed) / seconds });
      if (history.length > 60) history.shift();
    }
    last = t;
    draw();
  }

  function busy() {
    var active = document.activeElement;
    return active && active.closest && active.closest("[data-live]") &&
      /^(INPUT|BUTTON|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  function poll() {
    var live = document.querySelector("[data-live]");
    if (!live || document.hidden || busy()) return;
    fetch(location.pathname + location.search, { headers: { "x-dashboard-fragment": "1" },
      credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var doc = new DOMParser().parseFromString("<div>" + text + "</div>", "text/html");
        var fresh = doc.body.firstElementChild;
        live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
        sample(live);
        var stamp = document.getElementById("updated");
        if (stamp) stamp.textContent = new Date().toLocaleTimeString("en-GB");
      })
      .catch(function () {});
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  var live = document.querySelector("[data-live]");
  if (live) {
    sample(live);
    setInterval(poll, POLL_MS);
  }
})();
`;
