// The live page: polls /api/overview, draws the charts and tables, looks one user up.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value == null ? "" : String(value);
    if (cls) node.className = cls;
    return node;
  }

  function rows(tableId, list) {  // list of arrays of cells (strings or nodes)
    var body = $(tableId).querySelector("tbody");
    body.textContent = "";
    list.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (c) {
        var td = document.createElement("td");
        if (c instanceof Node) td.appendChild(c); else td.textContent = c;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function time(ms) { return ms ? new Date(ms).toTimeString().slice(0, 8) : ""; }

  function list(id, entries, render, empty) {
    var ul = $(id);
    ul.textContent = "";
    if (!entries.length) ul.appendChild(text("li", empty, "muted"));
    entries.forEach(function (e) { ul.appendChild(text("li", render(e))); });
  }

  function draw(data) {
    $("group").textContent = "group " + data.group;
    var ready = data.workers.filter(function (w) { return w.ready; }).length;
    $("summary").textContent = ready + " of " + data.workers.length + " workers ready · model " +
      (data.models.join(", ") || "none yet") + " · " + data.catalogue_items + " items" +
      (data.feed_error ? " · " + data.feed_error : "");
    var s = data.series, throughput = {"events in": s.events_in};
    Object.keys(s.outputs).forEach(function (t) { throughput[t] = s.outputs[t]; });
    ColdstartCharts.lineChart($("throughput-chart"), s.times, throughput);
    ColdstartCharts.lineChart($("latency-chart"), s.times, s.latency);
    rows("workers", data.workers.map(function (w) {
      return [w.name, text("span", w.ready ? "ready" : (w.error || "not ready"), w.ready ? "ok" : "bad"),
              w.model || ""];
    }));
    rows("lag", Object.keys(data.lag).map(function (t) { return [t, String(data.lag[t])]; }));
    rows("dead-letter-counts", Object.keys(data.dead_letter_counts).map(function (k) {
      return [k, String(data.dead_letter_counts[k])];
    }));
    list("dead-letters", data.dead_letters, function (d) {
      return time(d.ts) + "  " + d.source_topic + "[" + d.partition + "]@" + d.offset + ": " + d.error;
    }, "no dead letters seen");
    list("recommendations", data.recommendations, function (r) {
      return time(r.ts) + "  " + r.user_id + "  " + r.trigger + " → " + r.count + " items" +
        (r.latency_ms != null ? " (" + r.latency_ms + " ms)" : "") + ": " + r.top.join(" · ");
    }, "no recommendations yet");
    list("ad-slots", data.ad_slots, function (a) {
      return time(a.ts) + "  " + a.user_id + "  " + a.page_id + ": " +
        a.placements.map(function (p) { return p.slot_id + "=" + p.ad_id; }).join(", ");
    }, "no ad slots yet");
  }

  function poll() {
    fetch("/api/overview").then(function (r) { return r.json(); }).then(function (data) {
      draw(data);
      setTimeout(poll, (data.poll_s || 2) * 1000);
    }).catch(function (err) {
      $("summary").textContent = "cannot reach the dashboard: " + err;
      setTimeout(poll, 3000);
    });
  }

  function lookUp(event) {
    event.preventDefault();
    var id = $("user-id").value.trim(), out = $("user-result");
    if (!id) return;
    out.textContent = "…";
    fetch("/api/user?id=" + encodeURIComponent(id)).then(function (r) { return r.json(); }).then(function (u) {
      out.textContent = "";
      if (!u.found) { out.appendChild(text("p", "no list seen for " + id + " yet", "muted")); return; }
      out.appendChild(text("p", u.trigger + " " + u.trigger_event_id + " at " + time(u.ts) +
        " · model " + u.model_version + (u.latency_ms != null ? " · " + u.latency_ms + " ms" : ""), "muted"));
      var ol = document.createElement("ol");
      ol.id = "user-items";
      u.items.forEach(function (item) {
        var li = text("li", (item.title || item.item_id) + " ");
        li.appendChild(text("span", "— " + item.reason, "reason"));
        ol.appendChild(li);
      });
      out.appendChild(ol);
    }).catch(function (err) { out.textContent = "lookup failed: " + err; });
  }

  $("user-search").addEventListener("submit", lookUp);
  poll();
})();
