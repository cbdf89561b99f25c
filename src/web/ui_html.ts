/**
 * The web UI: one page, no build step and no external assets, kept in a module so
 * `deno compile` embeds it. It talks to the JSON API of web_app.ts.
 */
export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>snoop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg:#fafafa; --fg:#1d1d1f; --muted:#6b7280; --line:#e5e7eb; --accent:#2563eb;
          --s2:#16a34a; --s3:#0891b2; --s4:#d97706; --s5:#dc2626; --s0:#9ca3af; }
  * { box-sizing: border-box; }
  body { margin:0; font:13px/1.4 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; gap:1rem; align-items:center; padding:.5rem 1rem; background:#111827; color:#fff; }
  header h1 { font-size:15px; margin:0; }
  header a { color:#93c5fd; }
  #live { margin-left:auto; font-size:12px; }
  #live.on::before { content:"● "; color:#4ade80; }
  form { display:flex; flex-wrap:wrap; gap:.4rem; padding:.5rem 1rem; border-bottom:1px solid var(--line); background:#fff; }
  input, select, button { font:inherit; padding:.25rem .4rem; border:1px solid var(--line); border-radius:4px; }
  button { background:var(--accent); color:#fff; border:0; cursor:pointer; }
  #charts { display:grid; grid-template-columns:2fr 1fr; gap:1rem; padding:.5rem 1rem; }
  .card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.5rem; }
  .card h2 { font-size:12px; margin:0 0 .3rem; color:var(--muted); font-weight:600; }
  main { display:grid; grid-template-columns: minmax(0,3fr) minmax(0,2fr); gap:1rem; padding:0 1rem 1rem; }
  table { width:100%; border-collapse:collapse; background:#fff; }
  th, td { text-align:left; padding:.25rem .4rem; border-bottom:1px solid var(--line); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; max-width:28rem; }
  tbody tr { cursor:pointer; } tbody tr:hover { background:#eff6ff; } tr.sel { background:#dbeafe; }
  .st2 { color:var(--s2) } .st3 { color:var(--s3) } .st4 { color:var(--s4) } .st5, .err { color:var(--s5) }
  #detail { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.5rem .75rem; overflow:auto; max-height:80vh; }
  #detail h3 { font-size:12px; margin:.8rem 0 .2rem; color:var(--muted); text-transform:uppercase; }
  pre { background:#f3f4f6; padding:.4rem; border-radius:4px; white-space:pre-wrap; word-break:break-all; margin:0; max-height:24rem; overflow:auto; }
  dl { display:grid; grid-template-columns:max-content 1fr; gap:.1rem .6rem; margin:0; }
  dt { color:var(--muted); } dd { margin:0; word-break:break-all; }
  img.body { max-width:100%; border:1px solid var(--line); }
  .muted { color:var(--muted); }
  #more { margin:.5rem 0; }
</style>
</head>
<body>
<header>
  <h1>snoop</h1>
  <a id="har" href="/api/har" download="snoop.har">Export HAR</a>
  <a href="/ca.crt">CA certificate</a>
  <span id="live">connecting…</span>
</header>
<form id="filters">
  <input name="q" placeholder="search URI and headers" size="24">
  <input name="host" placeholder="host (*.example.com)" size="18">
  <input name="status" placeholder="status (404, 5xx)" size="12">
  <input name="method" placeholder="method" size="7">
  <select name="proto"><option value="">any kind</option><option>http</option><option>tls</option><option>dns</option><option>websocket</option><option>connect</option><option>tcp</option></select>
  <input name="service" placeholder="service" size="10">
  <input name="client" placeholder="client IP" size="12">
  <label><input type="checkbox" name="errors" value="1"> errors only</label>
  <button>Filter</button>
</form>
<section id="charts">
  <div class="card"><h2>Traffic per minute by status (last hour)</h2><svg id="traffic" width="100%" height="90"></svg></div>
  <div class="card"><h2>Top hosts (last hour)</h2><div id="hosts"></div></div>
</section>
<main>
  <div>
    <table id="records"><thead><tr><th>time</th><th>kind</th><th>method</th><th>status</th><th>host</th><th>uri</th><th>bytes</th><th>ms</th></tr></thead><tbody></tbody></table>
    <button id="more" hidden>Older records</button>
  </div>
  <div id="detail"><p class="muted">Select a record.</p></div>
</main>
<script>
const $ = (s) => document.querySelector(s);
const tbody = $("#records tbody");
let next = null;
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&":"&amp;", "<":"&lt;", ">":"&gt;", '"':"&quot;" }[c]));
function params() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (v) p.set(k, v);
  return p;
}
function matches(r, p) {
  if (p.get("host") && !new RegExp("^" + p.get("host").replace(/[.+?^$()|[\\]\\\\]/g, "\\\\$&").replace(/\\*/g, ".*") + "(:\\\\d+)?$").test(r.host)) return false;
  const st = p.get("status");
  if (st && (/xx$/i.test(st) ? Math.floor(r.status / 100) !== Number(st[0]) : r.status !== Number(st))) return false;
  if (p.get("method") && r.method !== p.get("method").toUpperCase()) return false;
  if (p.get("proto") && r.kind !== p.get("proto") && r.proto !== p.get("proto")) return false;
  if (p.get("service") && r.service !== p.get("service")) return false;
  if (p.get("client") && r.client !== p.get("client")) return false;
  if (p.get("errors") && !(r.err || r.status >= 500)) return false;
  if (p.get("q") && !(r.uri + " " + r.host).includes(p.get("q"))) return false;
  return true;
}
function row(r) {
  const tr = document.createElement("tr");
  tr.dataset.id = r.id;
  const cls = r.err ? "err" : r.status ? "st" + Math.floor(r.status / 100) : "";
  tr.innerHTML = "<td>" + esc(r.time.slice(11, 23)) + "</td><td>" + esc(r.kind) + "</td><td>" + esc(r.method) +
    "</td><td class='" + cls + "'>" + (r.status || (r.err ? "err" : "")) + "</td><td>" + esc(r.host) + "</td><td title='" +
    esc(r.uri) + "'>" + esc(r.uri) + "</td><td>" + (r.inputBytes + r.outputBytes) + "</td><td>" + r.durationMs.toFixed(1) + "</td>";
  tr.onclick = () => show(r.id, tr);
  return tr;
}
async function load(append) {
  const p = params();
  if (append && next) p.set("before", next);
  const res = await (await fetch("/api/records?" + p)).json();
  if (!append) tbody.replaceChildren();
  for (const r of res.records) tbody.append(row(r));
  next = res.next;
  $("#more").hidden = !next;
  $("#har").href = "/api/har?" + params();
  charts();
}
async function charts() {
  // Charts cover the last hour unless the filter sets a time range (aggregates over a large
  // store are slow until rollups exist).
  const p = params();
  if (!p.has("since") && !p.has("until")) p.set("since", String(Date.now() - 3600000));
  const s = await (await fetch("/api/stats?" + p)).json();
  const svg = $("#traffic");
  const w = svg.clientWidth || 600, h = 80, n = Math.max(s.perMinute.length, 1);
  const step = Math.min(w / n, 24), bw = Math.max(2, step - 2);
  const max = Math.max(1, ...s.perMinute.map((m) => m.total));
  const colors = [["s2xx", "--s2"], ["s3xx", "--s3"], ["s4xx", "--s4"], ["s5xx", "--s5"], ["s1xx", "--s0"], ["none", "--s0"]];
  let out = "";
  s.perMinute.forEach((m, i) => {
    let y = h;
    for (const [k, c] of colors) {
      const bh = (m[k] || 0) / max * h;
      if (!bh) continue;
      y -= bh;
      out += "<rect x='" + (i * step) + "' y='" + y + "' width='" + bw + "' height='" + bh + "' fill='var(" + c + ")'><title>" + new Date(m.minute).toLocaleTimeString() + " " + k + ": " + m[k] + "</title></rect>";
    }
  });
  svg.innerHTML = out + "<text x='4' y='88' font-size='10' fill='#6b7280'>" + s.total + " records, " + (s.errorRate * 100).toFixed(1) + "% errors</text>";
  const top = s.topHostsByCount;
  const hmax = Math.max(1, ...top.map((t) => t.count));
  $("#hosts").innerHTML = top.map((t) => "<div title='" + esc(t.host) + "'><div style='background:#bfdbfe;width:" + (t.count / hmax * 100) + "%;white-space:nowrap'>" + esc(t.host) + " <b>" + t.count + "</b></div></div>").join("") || "<span class='muted'>none</span>";
}
function headers(h) {
  if (!h) return "<p class='muted'>none</p>";
  return "<dl>" + Object.entries(h).map(([k, v]) => "<dt>" + esc(k) + "</dt><dd>" + esc(v.join(", ")) + "</dd>").join("") + "</dl>";
}
async function bodyView(id, side, msg) {
  if (!msg || !msg.body) return "<p class='muted'>" + (msg && msg.contentLength ? msg.contentLength + " bytes, not captured" : "empty") + "</p>";
  const res = await fetch("/api/records/" + id + "/body/" + side);
  const type = res.headers.get("content-type") || "";
  const decoded = res.headers.get("x-snoop-decoded");
  const note = decoded && decoded !== "identity" ? "<p class='muted'>decoded from " + esc(decoded) + "</p>" : "";
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (type.startsWith("image/")) {
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    return note + "<img class='body' src='" + url + "'>";
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (/json/.test(type)) {
    try { return note + "<pre class='json'>" + esc(JSON.stringify(JSON.parse(text), null, 2)) + "</pre>"; } catch {}
  }
  if (/^text\\/|xml|javascript|x-www-form-urlencoded/.test(type) || !/[\\x00-\\x08\\x0e-\\x1f]/.test(text)) {
    return note + "<pre>" + esc(text) + "</pre>";
  }
  let hex = "";
  for (let i = 0; i < Math.min(bytes.length, 4096); i += 16) {
    const line = Array.from(bytes.slice(i, i + 16));
    hex += i.toString(16).padStart(6, "0") + "  " + line.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(48) + "  " +
      line.map((b) => b >= 32 && b < 127 ? String.fromCharCode(b) : ".").join("") + "\\n";
  }
  return note + "<pre class='hex'>" + esc(hex) + "</pre>";
}
async function show(id, tr) {
  document.querySelectorAll("tr.sel").forEach((e) => e.classList.remove("sel"));
  tr?.classList.add("sel");
  const r = await (await fetch("/api/records/" + id)).json();
  const h = r.http;
  let html = "<dl><dt>time</dt><dd>" + esc(r.time) + "</dd><dt>service</dt><dd>" + esc(r.service) +
    "</dd><dt>client</dt><dd>" + esc(r.remote) + "</dd><dt>host</dt><dd>" + esc(r.host) + "</dd><dt>proto</dt><dd>" + esc(r.proto) +
    "</dd><dt>bytes</dt><dd>" + r.inputBytes + " in, " + r.outputBytes + " out</dd><dt>duration</dt><dd>" + (r.duration / 1e6).toFixed(2) +
    " ms</dd><dt>sid</dt><dd>" + esc(r.sid) + "</dd>" + (r.err ? "<dt>err</dt><dd class='err'>" + esc(r.err) + "</dd>" : "") + "</dl>";
  if (h) {
    html += "<h3>Request</h3><p><b>" + esc(h.method) + "</b> " + esc(h.uri) + " " + esc(h.proto) + "</p>" + headers(h.request && h.request.header);
    html += "<h3>Request body</h3>" + await bodyView(id, "request", h.request);
    html += "<h3>Response " + h.statusCode + "</h3>" + headers(h.response && h.response.header);
    html += "<h3>Response body</h3><div id='response-body'>" + await bodyView(id, "response", h.response) + "</div>";
  }
  for (const k of ["tls", "dns", "websocket"]) if (r[k]) html += "<h3>" + k + "</h3><pre>" + esc(JSON.stringify(r[k], null, 2)) + "</pre>";
  $("#detail").innerHTML = html;
}
$("#filters").onsubmit = (e) => { e.preventDefault(); load(false); };
$("#more").onclick = () => load(true);
const source = new EventSource("/api/events");
source.onopen = () => { $("#live").textContent = "live"; $("#live").className = "on"; };
source.onerror = () => { $("#live").textContent = "reconnecting…"; $("#live").className = ""; };
let chartTimer;
source.addEventListener("record", (e) => {
  const r = JSON.parse(e.data);
  if (!matches(r, params())) return;
  tbody.prepend(row(r));
  clearTimeout(chartTimer);
  chartTimer = setTimeout(charts, 500);
});
load(false);
</script>
</body>
</html>
`;
