using System.Text;
using Microsoft.AspNetCore.Http;

namespace Pgrelay.Http.Dashboard;

/// <summary>
/// The browser dashboard at GET /: one self-contained page (inline CSS and script, no CDN, no build step)
/// that polls GET /status every second and listens to GET /changes for recent transactions. The lag chart
/// is drawn as inline SVG from the samples this page has polled since it opened.
/// </summary>
internal static class DashboardPage
{
    private static readonly byte[] Utf8 = Encoding.UTF8.GetBytes(Html);

    public static Task Serve(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers.XContentTypeOptions = "nosniff";
        response.ContentLength = Utf8.Length;
        return response.Body.WriteAsync(Utf8, context.RequestAborted).AsTask();
    }

    private const string Html = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pgrelay</title>
<style>
  :root { --bg:#f4f6f9; --card:#fff; --ink:#1d2733; --muted:#66758a; --line:#dde3ea; --accent:#2f6fde; --warm:#e08a1e; --ok:#1f9d55; --bad:#d64545; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:var(--bg); color:var(--ink); }
  header { background:#17212e; color:#fff; padding:12px 24px; display:flex; align-items:center; gap:16px; flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
  header .meta { color:#b7c3d3; font-size:13px; }
  .badge { display:inline-block; padding:2px 10px; border-radius:999px; font-size:12px; font-weight:600; background:#445; color:#fff; }
  .badge.streaming, .badge.ready { background:var(--ok); }
  .badge.snapshotting, .badge.starting, .badge.reconnecting { background:var(--warm); }
  .badge.failed, .badge.stopped, .badge.offline, .badge.notready { background:var(--bad); }
  main { padding:20px 24px; display:grid; gap:16px; grid-template-columns: repeat(12, 1fr); }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; min-width:0; }
  section h2 { margin:0 0 10px; font-size:13px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted); }
  .span-12 { grid-column: span 12; } .span-8 { grid-column: span 8; } .span-6 { grid-column: span 6; } .span-4 { grid-column: span 4; }
  @media (max-width: 900px) { .span-8, .span-6, .span-4 { grid-column: span 12; } }
  .figures { display:grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap:12px; }
  .figure .value { font-size:22px; font-weight:600; }
  .figure .label { color:var(--muted); font-size:12px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:600; font-size:12px; }
  td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:13px; }
  .progress { height:16px; background:#e7ecf2; border-radius:8px; overflow:hidden; }
  .progress > div { height:100%; background:linear-gradient(90deg, var(--accent), #5b92f0); width:0%; transition: width .4s; }
  .muted { color:var(--muted); }
  .error { color:var(--bad); font-weight:600; }
  svg { width:100%; height:180px; display:block; }
  .legend { display:flex; gap:16px; font-size:12px; color:var(--muted); margin-top:4px; }
  .swatch { display:inline-block; width:12px; height:3px; vertical-align:middle; margin-right:4px; }
  #changes li { font-size:13px; padding:3px 0; border-bottom:1px dashed var(--line); list-style:none; }
  #changes { margin:0; padding:0; max-height:220px; overflow:auto; }
</style>
</head>
<body>
<header>
  <h1>pgrelay</h1>
  <span id="phase" class="badge">loading</span>
  <span id="ready" class="badge">…</span>
  <span class="meta">visible LSN <span id="visible-lsn" class="mono">–</span></span>
  <span class="meta" id="updated">waiting for the first status…</span>
</header>
<main>
  <section class="span-12">
    <h2>Overview</h2>
    <div class="figures">
      <div class="figure"><div class="value" id="total-rows">–</div><div class="label">rows held</div></div>
      <div class="figure"><div class="value" id="total-bytes">–</div><div class="label">memory</div></div>
      <div class="figure"><div class="value" id="bytes-per-row">–</div><div class="label">bytes per row</div></div>
      <div class="figure"><div class="value" id="lag-seconds">–</div><div class="label">replication lag</div></div>
      <div class="figure"><div class="value" id="lag-bytes">–</div><div class="label">WAL not yet applied</div></div>
      <div class="figure"><div class="value" id="transactions">–</div><div class="label">transactions applied</div></div>
    </div>
    <div id="last-error" class="error"></div>
  </section>

  <section class="span-8">
    <h2>Replication lag</h2>
    <svg id="lag-chart" viewBox="0 0 600 180" preserveAspectRatio="none" role="img" aria-label="replication lag over time"></svg>
    <div class="legend">
      <span><span class="swatch" style="background:var(--accent)"></span>lag seconds (max <span id="lag-max-seconds">0</span>)</span>
      <span><span class="swatch" style="background:var(--warm)"></span>lag bytes (max <span id="lag-max-bytes">0 B</span>)</span>
      <span id="lag-samples">0 samples</span>
    </div>
  </section>

  <section class="span-4">
    <h2>Initial snapshot</h2>
    <div class="progress" aria-label="snapshot progress"><div id="snapshot-bar"></div></div>
    <p id="snapshot-text" class="muted">–</p>
    <h2>Replication positions</h2>
    <table class="mono" id="positions"><tbody></tbody></table>
  </section>

  <section class="span-8">
    <h2>Tables</h2>
    <table id="tables">
      <thead><tr><th>publication</th><th>table</th><th class="num">rows</th><th class="num">memory</th><th class="num">bytes / row</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>

  <section class="span-4">
    <h2>Clients per protocol</h2>
    <table id="clients"><thead><tr><th>protocol</th><th class="num">connections</th></tr></thead><tbody></tbody></table>
    <h2 style="margin-top:14px">Sink checkpoints</h2>
    <div id="sinks" class="muted">–</div>
  </section>

  <section class="span-12">
    <h2>Recent transactions</h2>
    <ul id="changes"><li class="muted">listening for changes…</li></ul>
  </section>
</main>
<script>
"use strict";
const samples = [];          // {t, s, b}: one per poll, newest last
const maxSamples = 300;      // five minutes at one poll a second
const knownProtocols = ["redis", "memcached", "http-sse"];
const $ = id => document.getElementById(id);

function formatBytes(n) {
  if (!isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}
const formatCount = n => Number(n).toLocaleString("en-US");
function formatSeconds(s) { return s < 1 ? (s * 1000).toFixed(0) + " ms" : s < 120 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min"; }

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function renderTables(status) {
  const body = $("tables").tBodies[0];
  body.replaceChildren();
  for (const publication of status.publications) {
    for (const table of publication.tables) {
      const tr = body.insertRow();
      tr.dataset.publication = publication.name;
      tr.dataset.table = table.name;
      cell(tr, publication.name, "publication");
      cell(tr, table.name, "table-name");
      cell(tr, formatCount(table.rows), "num rows");
      cell(tr, formatBytes(table.bytes), "num bytes");
      cell(tr, table.bytes_per_row.toFixed(1), "num bytes-per-row");
    }
  }
  if (!body.rows.length) { const tr = body.insertRow(); cell(tr, "no tables yet", "muted").colSpan = 5; }
}

function renderClients(status) {
  const body = $("clients").tBodies[0];
  body.replaceChildren();
  const seen = new Map(status.clients.map(c => [c.protocol, c.connections]));
  const names = [...new Set([...knownProtocols, ...seen.keys()])];
  for (const name of names) {
    const tr = body.insertRow();
    tr.dataset.protocol = name;
    cell(tr, name);
    cell(tr, seen.has(name) ? formatCount(seen.get(name)) : "unknown", "num connections" + (seen.has(name) ? "" : " muted"));
  }
}

function renderSinks(status) {
  const target = $("sinks");
  if (!status.sinks.configured) { target.textContent = "No sinks configured."; return; }
  const table = document.createElement("table");
  for (const c of status.sinks.checkpoints) {
    const tr = table.insertRow();
    cell(tr, c.name); cell(tr, c.kind, "muted"); cell(tr, c.acknowledged_lsn, "mono num");
  }
  target.replaceChildren(table);
}

function renderPositions(status) {
  const r = status.replication;
  const rows = [["slot", r.slot || "–"], ["consistent point", r.consistent_point], ["received", r.received_lsn],
    ["applied", r.applied_lsn], ["confirmed", r.confirmed_lsn], ["server WAL end", r.server_wal_end],
    ["safe to confirm", r.safe_to_confirm_lsn], ["feed retains", status.feed.oldest_resumable_lsn + " … " + status.feed.newest_lsn],
    ["reconnects", formatCount(r.reconnects)]];
  const body = $("positions").tBodies[0];
  body.replaceChildren();
  for (const [name, value] of rows) { const tr = body.insertRow(); cell(tr, name, "muted"); cell(tr, value, "num"); }
}

function renderSnapshot(status) {
  const s = status.snapshot;
  let fraction = s.rows_estimated > 0 ? Math.min(1, s.rows_copied / s.rows_estimated) : 0;
  if (status.ready) fraction = 1;   // estimates are reltuples: the real count may differ
  $("snapshot-bar").style.width = (fraction * 100).toFixed(1) + "%";
  $("snapshot-text").textContent = (status.ready ? "complete — " : (fraction * 100).toFixed(0) + "% — ") +
    formatCount(s.rows_copied) + " of about " + formatCount(s.rows_estimated) + " rows, " +
    s.tables_done + " of " + s.tables_total + " tables";
}

function renderChart() {
  const svg = $("lag-chart");
  const W = 600, H = 180, pad = 6;
  const maxS = Math.max(1, ...samples.map(p => p.s));
  const maxB = Math.max(1024, ...samples.map(p => p.b));
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  for (let i = 1; i < 4; i++) {
    const y = (H / 4) * i, line = document.createElementNS(ns, "line");
    line.setAttribute("x1", 0); line.setAttribute("x2", W); line.setAttribute("y1", y); line.setAttribute("y2", y);
    line.setAttribute("stroke", "#e3e8ee"); svg.appendChild(line);
  }
  const x = i => samples.length < 2 ? W - pad : pad + (W - 2 * pad) * i / (maxSamples - 1) + (W - 2 * pad) * (maxSamples - samples.length) / (maxSamples - 1);
  const series = (value, max, colour, dash) => {
    const points = samples.map((p, i) => x(i).toFixed(1) + "," + (H - pad - (H - 2 * pad) * value(p) / max).toFixed(1)).join(" ");
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points); line.setAttribute("fill", "none"); line.setAttribute("stroke", colour);
    line.setAttribute("stroke-width", "2"); line.setAttribute("vector-effect", "non-scaling-stroke");
    if (dash) line.setAttribute("stroke-dasharray", "6 4");
    svg.appendChild(line);
  };
  if (samples.length) { series(p => p.b, maxB, "#e08a1e", true); series(p => p.s, maxS, "#2f6fde", false); }
  $("lag-max-seconds").textContent = formatSeconds(Math.max(0, ...samples.map(p => p.s)));
  $("lag-max-bytes").textContent = formatBytes(Math.max(0, ...samples.map(p => p.b)));
  $("lag-samples").textContent = samples.length + " samples";
}

function render(status) {
  const phase = $("phase");
  phase.textContent = status.phase; phase.className = "badge " + status.phase;
  const ready = $("ready");
  ready.textContent = status.ready ? "ready" : "not ready"; ready.className = "badge " + (status.ready ? "ready" : "notready");
  $("visible-lsn").textContent = status.visible_lsn;
  $("updated").textContent = "updated " + new Date(status.time).toLocaleTimeString("en-GB");
  $("total-rows").textContent = formatCount(status.memory.rows);
  $("total-bytes").textContent = formatBytes(status.memory.bytes);
  $("bytes-per-row").textContent = status.memory.bytes_per_row.toFixed(1);
  $("lag-seconds").textContent = formatSeconds(status.lag_seconds);
  $("lag-bytes").textContent = formatBytes(status.lag_bytes);
  $("transactions").textContent = formatCount(status.replication.transactions_applied);
  $("last-error").textContent = status.last_error ? "last error: " + status.last_error : "";
  samples.push({ t: Date.parse(status.time), s: status.lag_seconds, b: status.lag_bytes });
  if (samples.length > maxSamples) samples.shift();
  renderTables(status); renderClients(status); renderSinks(status); renderPositions(status); renderSnapshot(status); renderChart();
  document.body.dataset.loaded = "true";
}

async function poll() {
  try {
    const response = await fetch("status", { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
  } catch (e) {
    const phase = $("phase"); phase.textContent = "offline"; phase.className = "badge offline";
    $("updated").textContent = "cannot reach pgrelay: " + e.message;
  } finally {
    setTimeout(poll, 1000);
  }
}

function listen() {
  if (!window.EventSource || new URLSearchParams(location.search).get("feed") === "off") return;
  const list = $("changes");
  const source = new EventSource("changes");
  let first = true;
  source.addEventListener("transaction", event => {
    const txn = JSON.parse(event.data);
    if (first) { list.replaceChildren(); first = false; }
    const counts = {};
    for (const c of txn.changes) { const k = c.publication + "." + c.table; counts[k] = (counts[k] || 0) + 1; }
    const li = document.createElement("li");
    li.innerHTML = "<span class=mono></span> <span class=muted></span> <span></span>";
    li.children[0].textContent = txn.lsn;
    li.children[1].textContent = new Date(txn.commit_time).toLocaleTimeString("en-GB");
    li.children[2].textContent = Object.entries(counts).map(([k, n]) => k + " ×" + n).join(", ") + " (" + txn.changes.map(c => c.op).join("") + ")";
    list.prepend(li);
    while (list.children.length > 50) list.lastChild.remove();
  });
  source.addEventListener("reset", () => {
    const li = document.createElement("li"); li.className = "muted"; li.textContent = "feed reset: reloading state";
    list.prepend(li);
  });
}

poll();
listen();
</script>
</body>
</html>
""";
}
