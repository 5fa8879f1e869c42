// Footfall console: small progressive enhancement over server-rendered pages (no inline scripts: CSP).
// Charts: every [data-chart] element plots the JSON of the <script type="application/json"> it names.
// Live feed: woken by the account's event stream (/console/stream, Server-Sent Events), it reads
// /console/feed for the new rows; without EventSource, or as a fallback, it polls. Builder: see builder.js.
"use strict";

(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  window.footfallCsrf = csrf;

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  var charts = [];

  function plot(el) {
    var data = readJson(el.getAttribute("data-chart"));
    if (!data || typeof uPlot === "undefined") return;
    var spark = el.classList.contains("spark");
    var width = Math.max(el.clientWidth, 120);
    var height = spark ? 36 : 280;
    var series = [{}];
    var columns = [data.x];
    data.series.forEach(function (s, i) {
      var color = ["#2563eb", "#16a34a", "#dc2626"][i % 3];
      series.push({ label: s.label, stroke: color, width: spark ? 1.5 : 2, fill: spark ? "rgba(37,99,235,0.12)" : "rgba(37,99,235,0.08)", points: { show: !spark && data.x.length < 60 } });
      columns.push(s.values);
    });
    var opts = {
      width: width, height: height, series: series,
      legend: { show: !spark }, cursor: { show: !spark },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: spark ? [{ show: false }, { show: false }] : [{}, { size: 60 }],
    };
    if (data.utc) opts.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); };
    el.innerHTML = "";
    var chart = new uPlot(opts, columns, el);
    charts.push({ el: el, chart: chart, spark: spark });
    el.setAttribute("data-plotted", String(data.x.length));
  }

  function plotAll() {
    document.querySelectorAll("[data-chart]").forEach(plot);
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) { c.chart.setSize({ width: Math.max(c.el.clientWidth, 120), height: c.spark ? 36 : 280 }); });
    }, 150);
  });

  function text(tag, value, href) {
    var cell = document.createElement(tag);
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = value;
      cell.appendChild(a);
    } else {
      cell.textContent = value;
    }
    return cell;
  }

  function liveFeed() {
    var table = document.getElementById("live-feed");
    if (!table) return;
    var body = table.querySelector("tbody");
    var after = table.getAttribute("data-after") || "";
    var lastStored = Number(table.getAttribute("data-stored") || "0");
    var lastAt = null;
    var rate = document.getElementById("ingest-rate");
    var busy = false;
    var again = false;
    function poll() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(table.getAttribute("data-feed-url") + (after ? "?after=" + encodeURIComponent(after) : ""),
            { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          var events = data.events;
          for (var i = events.length - 1; i >= 0; i--) {
            var e = events[i];
            var row = document.createElement("tr");
            row.setAttribute("data-event-id", e.id);
            row.appendChild(text("td", e.time.slice(0, 19).replace("T", " ")));
            row.appendChild(text("td", e.metric, "/console/metrics/" + e.metric_id));
            row.appendChild(text("td", e.email || e.profile_id, "/console/profiles/" + e.profile_id));
            body.insertBefore(row, body.firstChild);
          }
          while (body.children.length > 50) body.removeChild(body.lastChild);
          if (events.length) {
            after = events[0].id;
            var empty = document.getElementById("feed-empty");
            if (empty) empty.remove();
          }
          if (lastAt !== null && rate) {
            var seconds = Math.max(data.at - lastAt, 0.001);
            rate.textContent = ((data.stored - lastStored) / seconds).toFixed(1);
          }
          lastStored = data.stored;
          lastAt = data.at;
        })
        .catch(function () { /* the next wake-up or poll retries */ })
        .then(function () {
          busy = false;
          if (again) { again = false; poll(); }
        });
    }
    var streamUrl = table.getAttribute("data-stream-url");
    var source = streamUrl && window.EventSource ? new EventSource(streamUrl) : null;
    if (source) {
      source.onmessage = poll;
      source.onopen = poll; // whatever committed before the stream began (or while it reconnected)
    }
    poll();
    setInterval(poll, source ? 10000 : 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    plotAll();
    liveFeed();
  });
})();
