// @ts-check
/// <reference lib="dom" />
/**
 * The web UI's script. Everything it shows was recorded from the network and is hostile, so
 * the page is built with createElement/textContent only: no HTML strings, no inline handlers
 * (the Content-Security-Policy allows only this file). Bodies are shown as text or hex;
 * only raster images are rendered, as blob: URLs of a fixed type. SVG and HTML never are.
 */

/** @typedef {{ id: number, time: string, timeMs: number, kind: string, proto: string, method: string,
 *   status: number, host: string, uri: string, service: string, client: string, err: string,
 *   inputBytes: number, outputBytes: number, durationMs: number }} Summary */
/** @typedef {Record<string, string[]>} Headers */
/** @typedef {{ contentLength?: number, header?: Headers, body?: string | null }} Message */

/** @param {string} s */
const $ = (s) => {
  const e = document.querySelector(s);
  if (!e) throw new Error(`no ${s}`);
  return /** @type {HTMLElement} */ (e);
};
const SVG = "http://www.w3.org/2000/svg";
const tbody = $("#records tbody");
const form = /** @type {HTMLFormElement} */ ($("#filters"));
const more = /** @type {HTMLButtonElement} */ ($("#more"));
const live = $("#live");
/** @type {string | null} */
let next = null;
/** Counts clicks on records: only the latest one's details are shown. */
let showing = 0;

/**
 * An element with children: strings become text nodes, never markup.
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string | null | undefined)[]} [children]
 */
function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** @param {unknown} v */
const str = (v) => v === null || v === undefined ? "" : String(v);

/**
 * Shows why the API refused (a restart gives a new token; a filter with an error).
 * @param {Response} res @param {string} [why] the server's error text
 */
function refused(res, why = "") {
  const notice = $("#notice");
  notice.textContent = res.status === 401
    ? "Not signed in: open the address with ?token= that snoop printed when it started."
    : why
    ? `The server refused the query: ${why}`
    : `The server answered ${res.status}.`;
  notice.hidden = false;
}

/** @param {string} path */
async function api(path) {
  const res = await fetch(path, { credentials: "same-origin" });
  if (!res.ok) {
    const why = res.status === 400 ? str((await res.json().catch(() => ({}))).error) : "";
    refused(res, why);
    throw new Error(`${path}: ${res.status}`);
  }
  return await res.json();
}

function params() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (typeof v === "string" && v) p.set(k, v);
  return p;
}

/**
 * The list is virtualised: `rows` holds every loaded summary, newest start first, and only
 * the rows in the scroller's view (plus a margin) are in the DOM; padding above and below
 * stands for the rest. Records are stored when they end, so a long request's summary
 * arrives after later ones: each is inserted where its start time belongs.
 */
/** @type {Summary[]} */
let rows = [];
/** At most this many summaries are kept in the page; the oldest go first. */
const MAX_ROWS = 50000;
/** Rows rendered beyond each edge of the view. */
const OVERSCAN = 20;
/** A row's height in pixels, measured from the first one rendered. */
let rowHeight = 0;
/** @type {number | null} */
let selectedId = null;
const scroller = $("#list");
const inner = $("#list-inner");
const count = $("#count");

/** Whether a is listed before b: later start first, then the higher id. */
const before = (/** @type {Summary} */ a, /** @type {Summary} */ b) =>
  Number(a.timeMs) > Number(b.timeMs) ||
  (Number(a.timeMs) === Number(b.timeMs) && Number(a.id) > Number(b.id));

/** Where `r` goes in `rows` (binary search). @param {Summary} r */
function position(r) {
  let lo = 0, hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(rows[mid], r)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** @param {Summary} r */
function insert(r) {
  if (rows.some((x) => x.id === r.id)) return;
  const at = position(r);
  rows.splice(at, 0, r);
  if (rows.length > MAX_ROWS) rows.length = MAX_ROWS;
  // A row added above the view moves the view down one row, so what the user reads stays.
  if (rowHeight && scroller.scrollTop > 0 && at * rowHeight < scroller.scrollTop) {
    scroller.scrollTop += rowHeight;
  }
}

/** @param {Summary} r */
function row(r) {
  const cls = r.err ? "err" : r.status ? `st${Math.floor(r.status / 100)}` : "";
  const tr = el("tr", r.id === selectedId ? { class: "sel" } : {}, [
    el("td", {}, [str(r.time).slice(11, 23)]),
    el("td", {}, [str(r.kind)]),
    el("td", {}, [str(r.method)]),
    el("td", cls ? { class: cls } : {}, [r.status ? str(r.status) : r.err ? "err" : ""]),
    el("td", { title: str(r.host) }, [str(r.host)]),
    el("td", { title: str(r.uri) }, uriCell(str(r.uri))),
    el("td", {}, [str(Number(r.inputBytes) + Number(r.outputBytes))]),
    el("td", {}, [Number(r.durationMs).toFixed(1)]),
  ]);
  tr.dataset.id = str(r.id);
  tr.addEventListener("click", () => select(Number(r.id), true));
  return tr;
}

/**
 * An absolute URI (a forward proxy's request) as its origin, hidden by the style sheet since
 * the host column shows it, and its path and query.
 * @param {string} uri
 */
function uriCell(uri) {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(uri);
  return m ? [el("span", { class: "origin" }, [m[0]]), uri.slice(m[0].length) || "/"] : [uri];
}

let renderQueued = false;
/** Renders on the next frame (many live records arrive between frames). */
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  const run = () => {
    if (!renderQueued) return;
    renderQueued = false;
    render();
  };
  requestAnimationFrame(run);
  // A page in the background gets no animation frames: live rows still arrive.
  setTimeout(run, 100);
}

function render() {
  const h = rowHeight || 26;
  const first = Math.max(0, Math.floor(scroller.scrollTop / h) - OVERSCAN);
  const last = Math.min(rows.length, first + Math.ceil(scroller.clientHeight / h) + 2 * OVERSCAN);
  // CSSOM, not a style attribute: the CSP allows no inline style.
  inner.style.paddingTop = `${first * h}px`;
  inner.style.paddingBottom = `${(rows.length - last) * h}px`;
  tbody.replaceChildren(...rows.slice(first, last).map(row));
  if (!rowHeight && tbody.firstElementChild) {
    rowHeight = tbody.firstElementChild.getBoundingClientRect().height || 26;
    if (rowHeight !== h) return render();
  }
  count.textContent = `${rows.length} records${paused ? `, ${pending.length} waiting` : ""}`;
  $("#records").dataset.total = String(rows.length);
  // Near the end of what is loaded: the next older page.
  if (next && !loading && last >= rows.length - OVERSCAN && rows.length < MAX_ROWS) load(true);
}
scroller.addEventListener("scroll", queueRender, { passive: true });
addEventListener("resize", queueRender);

/**
 * Selects a record (highlighted, scrolled into view); `open` shows its details too.
 * @param {number} id @param {boolean} open
 */
function select(id, open) {
  selectedId = id;
  const i = rows.findIndex((r) => r.id === id);
  if (i >= 0 && rowHeight) {
    const top = i * rowHeight, head = $("#records thead").getBoundingClientRect().height;
    if (top < scroller.scrollTop + head) scroller.scrollTop = top - head;
    else if (top + rowHeight > scroller.scrollTop + scroller.clientHeight) {
      scroller.scrollTop = top + rowHeight - scroller.clientHeight;
    }
  }
  render();
  if (open) show(id);
}

let loading = false;
/**
 * Live records that arrive while the list reloads: the page fetched may be older than them,
 * so they are put back once it is shown. Null when no reload is under way.
 * @type {Summary[] | null}
 */
let arrivedDuringLoad = null;
/** @param {boolean} append */
async function load(append) {
  if (loading && append) return;
  loading = true;
  if (!append) arrivedDuringLoad = [];
  try {
    const p = params();
    p.set("limit", "500");
    if (append && next) p.set("before", next);
    const res = await api(`/api/records?${p}`);
    if (!append) {
      rows = [...res.records].sort((a, b) => before(a, b) ? -1 : before(b, a) ? 1 : 0);
      scroller.scrollTop = 0;
      for (const r of arrivedDuringLoad ?? []) insert(r);
    } else for (const r of res.records) insert(r);
    next = res.next ? str(res.next) : null;
    more.hidden = !next;
    $("#har").setAttribute("href", `/api/har?${params()}`);
  } finally {
    loading = false;
    if (!append) arrivedDuringLoad = null;
  }
  render();
  if (!append) await charts();
}

const COLORS = ["s2xx", "s3xx", "s4xx", "s5xx", "s1xx", "none"];

async function charts() {
  // Charts cover the last hour unless the filter sets a time range (aggregates over a large
  // store are slow until rollups exist).
  const p = params();
  if (!p.has("since") && !p.has("until")) p.set("since", String(Date.now() - 3600000));
  const s = await api(`/api/stats?${p}`);
  const svg = $("#traffic");
  /** @type {{ minute: number, total: number } & Record<string, number>[]} */
  const perMinute = s.perMinute;
  const w = svg.clientWidth || 600, h = 80, n = Math.max(perMinute.length, 1);
  const step = Math.min(w / n, 24), bw = Math.max(2, step - 2);
  const max = Math.max(1, ...perMinute.map((m) => Number(m.total)));
  /** @type {Element[]} */
  const shapes = [];
  perMinute.forEach((m, i) => {
    let y = h;
    for (const k of COLORS) {
      const bh = (Number(m[k]) || 0) / max * h;
      if (!bh) continue;
      y -= bh;
      const rect = document.createElementNS(SVG, "rect");
      for (const [a, v] of [["x", i * step], ["y", y], ["width", bw], ["height", bh]]) {
        rect.setAttribute(String(a), String(v));
      }
      rect.setAttribute("class", k);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${new Date(Number(m.minute)).toLocaleTimeString()} ${k}: ${m[k]}`;
      rect.append(title);
      shapes.push(rect);
    }
  });
  const text = document.createElementNS(SVG, "text");
  text.setAttribute("x", "4");
  text.setAttribute("y", "88");
  text.textContent = `${Number(s.total)} records, ${
    (Number(s.errorRate) * 100).toFixed(1)
  }% errors`;
  svg.replaceChildren(...shapes, text);
  /** @type {{ host: string, count: number }[]} */
  const top = s.topHostsByCount;
  const hmax = Math.max(1, ...top.map((t) => Number(t.count)));
  const bars = top.map((t) => {
    const bar = el("div", { class: "bar" }, [`${str(t.host)} `, el("b", {}, [str(t.count)])]);
    // CSSOM, not a style attribute: the CSP allows no inline style.
    bar.style.width = `${Number(t.count) / hmax * 100}%`;
    return el("div", { title: str(t.host) }, [bar]);
  });
  $("#hosts").replaceChildren(...(bars.length ? bars : [el("span", { class: "muted" }, ["none"])]));
}

/** @param {Headers | undefined} h */
function headers(h) {
  if (!h) return el("p", { class: "muted" }, ["none"]);
  const dl = el("dl");
  for (const [k, v] of Object.entries(h)) {
    dl.append(el("dt", {}, [k]), el("dd", {}, [Array.isArray(v) ? v.join(", ") : str(v)]));
  }
  return dl;
}

/** Raster image types shown as pictures; anything else (SVG, HTML) is shown as text. */
const RASTER = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/bmp",
  "image/x-icon",
  "image/vnd.microsoft.icon",
]);

/** @param {Uint8Array} bytes */
function hexDump(bytes) {
  let hex = "";
  for (let i = 0; i < Math.min(bytes.length, 4096); i += 16) {
    const line = Array.from(bytes.subarray(i, i + 16));
    hex += `${i.toString(16).padStart(6, "0")}  ${
      line.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(48)
    }  ${line.map((b) => b >= 32 && b < 127 ? String.fromCharCode(b) : ".").join("")}\n`;
  }
  return hex;
}

/**
 * @param {number} id
 * @param {"request" | "response"} side
 * @param {Message | undefined} msg
 * @returns {Promise<Node[]>}
 */
async function bodyView(id, side, msg) {
  if (!msg || !msg.body) {
    const what = msg && msg.contentLength
      ? `${Number(msg.contentLength)} bytes, not captured`
      : "empty";
    return [el("p", { class: "muted" }, [what])];
  }
  const res = await fetch(`/api/records/${id}/body/${side}`, { credentials: "same-origin" });
  if (!res.ok) return [el("p", { class: "muted" }, [`not available (${res.status})`])];
  const type = (res.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
  const decoded = res.headers.get("x-snoop-decoded");
  /** @type {Node[]} */
  const out = decoded && decoded !== "identity"
    ? [el("p", { class: "muted" }, [`decoded from ${decoded}`])]
    : [];
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (RASTER.has(type)) {
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    out.push(el("img", { class: "body", src: url, alt: `${side} body (${type})` }));
    return out;
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (type === "text/event-stream") {
    out.push(
      sseConversation(text),
      el("details", {}, [el("summary", {}, ["raw"]), el("pre", {}, [text])]),
    );
    return out;
  }
  if (/json/.test(type)) {
    try {
      out.push(el("pre", { class: "json" }, [JSON.stringify(JSON.parse(text), null, 2)]));
      return out;
    } catch { /* not JSON after all: shown as text below */ }
  }
  // Control characters (other than tab, newlines, form feed) mean binary: shown as hex.
  // deno-lint-ignore no-control-regex
  const binary = /[\x00-\x08\x0e-\x1f]/.test(text);
  if (/^text\/|xml|javascript|x-www-form-urlencoded|html|svg/.test(type) || !binary) {
    out.push(el("pre", {}, [text]));
  } else {
    out.push(el("pre", { class: "hex" }, [hexDump(bytes)]));
  }
  return out;
}

/**
 * A WebSocket frame's payload (base64 in the record): a text frame (opcode 1) as text, any
 * other as hex, unmasked. A frame compressed by permessage-deflate (RSV1) is shown in hex.
 * @param {{ opcode: number, rsv1: boolean, masked: boolean, maskKey: number, payload: string }} ws
 */
function wsPayload(ws, id = "ws-payload") {
  /** @type {Record<string, string>} */
  const attrs = id ? { id } : {};
  let bin;
  try {
    bin = atob(ws.payload);
  } catch {
    // Not base64 (records from other proxies reach the collector too): shown as it came.
    return el("pre", attrs, [str(ws.payload)]);
  }
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (ws.masked) {
    // Client frames are recorded as sent, masked; maskKey holds the 4 mask bytes
    // little-endian (the first mask byte is the low byte).
    const key = Number(ws.maskKey) >>> 0;
    for (let i = 0; i < bytes.length; i++) bytes[i] ^= (key >>> ((i % 4) * 8)) & 0xff;
  }
  if (ws.opcode === 1 && !ws.rsv1) {
    return el("pre", attrs, [new TextDecoder().decode(bytes)]);
  }
  const note = ws.rsv1 ? "compressed (permessage-deflate), shown as captured" : "";
  return el("div", {}, [
    note ? el("p", { class: "muted" }, [note]) : null,
    el("pre", { ...attrs, class: "hex" }, [hexDump(bytes)]),
  ]);
}

const OPCODES = /** @type {Record<number, string>} */ ({
  0: "continuation",
  1: "text",
  2: "binary",
  8: "close",
  9: "ping",
  10: "pong",
});

/** Frames shown in a conversation view at most. */
const MAX_CONVERSATION = 500;

/**
 * Every WebSocket frame of the record's connection as a conversation: the client's on the
 * right, the server's on the left, this record's frame outlined.
 * @param {any} r
 */
async function wsConversation(r) {
  const res = await fetch(`/api/sessions/${encodeURIComponent(str(r.sid))}`, {
    credentials: "same-origin",
  });
  if (!res.ok) return null;
  /** @type {any[]} */
  const all = await res.json();
  const frames = all.filter((x) => x && x.websocket && typeof x.websocket === "object");
  const items = frames.slice(0, MAX_CONVERSATION).map((x) => {
    const ws = x.websocket;
    const current = x.time === r.time && ws.from === r.websocket.from &&
      ws.length === r.websocket.length;
    const cls = `${ws.from === "client" ? "client" : "server"}${current ? " current" : ""}`;
    return el("li", { class: cls }, [
      el("div", { class: "meta" }, [
        `${ws.from === "client" ? "client" : "server"} · ${
          OPCODES[Number(ws.opcode)] ?? `opcode ${Number(ws.opcode)}`
        } · ${Number(ws.length)} bytes · ${str(x.time).slice(11, 23)}`,
      ]),
      typeof ws.payload === "string"
        ? wsPayload(ws, "")
        : el("p", { class: "muted" }, ["payload not captured"]),
    ]);
  });
  const more = frames.length > MAX_CONVERSATION
    ? el("p", { class: "muted" }, [`first ${MAX_CONVERSATION} of ${frames.length} frames`])
    : null;
  return el("div", {}, [el("ol", { class: "conversation", id: "ws-conversation" }, items), more]);
}

/**
 * A text/event-stream body as a conversation of events (name, id, data); comments left out.
 * @param {string} text
 */
function sseConversation(text) {
  /** @type {Node[]} */
  const items = [];
  const blocks = text.split(/\r?\n\r?\n/);
  for (const block of blocks) {
    if (items.length >= MAX_CONVERSATION) break;
    let event = "message", id = "";
    /** @type {string[]} */
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) continue;
    items.push(el("li", { class: "server" }, [
      el("div", { class: "meta" }, [`${event}${id ? ` · id ${id}` : ""}`]),
      el("pre", {}, [data.join("\n")]),
    ]));
  }
  return el("ol", { class: "conversation", id: "sse-conversation" }, items);
}

/**
 * "Copy as…": the request as curl, fetch, HTTPie, Python or raw HTTP, fetched from the API
 * (which writes values snoop redacted as variables to fill in), shown as text and copied.
 * @param {number} id
 */
function copyAs(id) {
  const select = el("select", { id: "copy-format", "aria-label": "format" }, [
    ...["curl", "fetch", "httpie", "python", "raw"].map((f) => el("option", { value: f }, [f])),
  ]);
  const button = el("button", { type: "button", id: "copy-as" }, ["Copy as…"]);
  const status = el("span", { class: "muted", id: "copy-status" });
  const code = el("pre", { id: "copy-code", hidden: "" });
  button.addEventListener("click", async () => {
    const format = /** @type {HTMLSelectElement} */ (select).value;
    const res = await fetch(`/api/records/${id}/as/${format}`, { credentials: "same-origin" });
    if (!res.ok) {
      status.textContent = `not available (${res.status})`;
      return;
    }
    const text = await res.text();
    code.textContent = text;
    code.hidden = false;
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "copied";
    } catch {
      // No clipboard (not focused, or refused): the text is selected for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection()?.removeAllRanges();
      getSelection()?.addRange(range);
      status.textContent = "selected: press Ctrl+C";
    }
    const redacted = res.headers.get("x-snoop-redacted");
    if (redacted) status.textContent += ` (set ${redacted} first: snoop redacted them)`;
  });
  return el("div", { class: "copy" }, [select, button, status, code]);
}

/** @param {string} s */
const utf8Base64 = (s) => {
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
};

/**
 * Replay and edit-and-resend: a form filled from the record (method, URL, headers, a text
 * body), one input per value snoop redacted (the API refuses to send the word REDACTED),
 * and, once sent, the original and the replay side by side.
 * @param {number} id
 * @param {any} r the record
 */
function replayForm(id, r) {
  const h = r.http;
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(h.uri)
    ? h.uri
    : `${h.scheme || (r.proto === "tls" ? "https" : "http")}://${h.host || r.host}${h.uri}`;
  const method = /** @type {HTMLInputElement} */ (el("input", {
    id: "replay-method",
    value: str(h.method),
    size: "8",
    "aria-label": "method",
  }));
  const target = /** @type {HTMLInputElement} */ (el("input", {
    id: "replay-url",
    value: url,
    "aria-label": "URL",
  }));
  /** @type {string[]} */
  const lines = [];
  // Framing and hop-by-hop fields are the connection's: the replay writes its own.
  const hop = /^(content-length|transfer-encoding|connection|proxy-connection|keep-alive|host)$/i;
  for (const [k, v] of Object.entries(h.request?.header ?? {})) {
    if (hop.test(k)) continue;
    for (const x of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${str(x)}`);
  }
  const headerBox = /** @type {HTMLTextAreaElement} */ (el("textarea", {
    id: "replay-headers",
    rows: String(Math.min(Math.max(lines.length, 3), 12)),
    "aria-label": "headers, one per line",
  }));
  headerBox.value = lines.join("\n");
  const bodyBox = /** @type {HTMLTextAreaElement} */ (el("textarea", {
    id: "replay-body",
    rows: "4",
    "aria-label": "body",
  }));
  let binaryBody = false;
  if (h.request?.body) {
    try {
      const bytes = Uint8Array.from(atob(h.request.body), (c) => c.charCodeAt(0));
      bodyBox.value = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      binaryBody = true;
      bodyBox.value = "";
      bodyBox.disabled = true;
      bodyBox.placeholder = "binary body: sent as recorded";
    }
  }
  // One input per redacted value: header lines and query parameters.
  /** @type {{ kind: "header" | "query", name: string, input: HTMLInputElement }[]} */
  const secrets = [];
  const secretBox = el("div", { id: "replay-secrets" });
  const addSecret = (/** @type {"header" | "query"} */ kind, /** @type {string} */ name) => {
    const input = /** @type {HTMLInputElement} */ (el("input", {
      type: "password",
      autocomplete: "off",
      "data-secret": `${kind} ${name}`,
    }));
    secrets.push({ kind, name, input });
    secretBox.append(
      el("label", {}, [`${kind} ${name} (snoop redacted it: enter the value) `, input]),
    );
  };
  for (const l of lines) {
    const i = l.indexOf(":");
    if (l.slice(i + 1).trim() === "REDACTED") addSecret("header", l.slice(0, i));
  }
  try {
    for (const [k, v] of new URL(url).searchParams) if (v === "REDACTED") addSecret("query", k);
  } catch { /* not a URL the browser parses: sent as typed */ }
  const status = el("p", { id: "replay-status", class: "muted" });
  const result = el("div", { id: "replay-result" });
  const send = el("button", { type: "button", id: "replay-send" }, ["Send"]);
  send.addEventListener("click", async () => {
    if (secrets.some((s) => !s.input.value)) {
      status.textContent = "Enter the values snoop redacted first.";
      return;
    }
    /** @type {string[][]} */
    const headers = [];
    const pending = secrets.filter((s) => s.kind === "header");
    for (const l of headerBox.value.split("\n")) {
      if (!l.trim()) continue;
      const i = l.indexOf(":");
      if (i <= 0) {
        status.textContent = `Not a header line: ${l}`;
        return;
      }
      const name = l.slice(0, i).trim();
      let value = l.slice(i + 1).trim();
      if (value === "REDACTED") {
        const s = pending.find((p) => p.name.toLowerCase() === name.toLowerCase());
        if (s) {
          value = s.input.value;
          pending.splice(pending.indexOf(s), 1);
        }
      }
      headers.push([name, value]);
    }
    let u = target.value.trim();
    for (const s of secrets.filter((s) => s.kind === "query")) {
      u = u.replace(
        `${encodeURIComponent(s.name)}=REDACTED`,
        `${encodeURIComponent(s.name)}=${encodeURIComponent(s.input.value)}`,
      );
    }
    /** @type {Record<string, unknown>} */
    const edits = { method: method.value.trim(), url: u, headers };
    if (!binaryBody && (h.request?.body || bodyBox.value)) edits.body = utf8Base64(bodyBox.value);
    status.textContent = "sending…";
    const res = await fetch(`/api/records/${id}/replay`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(edits),
    });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) {
      status.textContent = `Not sent (${res.status}): ${str(out.error)}`;
      return;
    }
    status.textContent = out.record
      ? `Sent through ${str(out.service)}; recorded as #${Number(out.record)}.`
      : `Sent through ${str(out.service)}.`;
    result.replaceChildren(await compare(id, r, out));
  });
  return el("details", { id: "replay" }, [
    el("summary", {}, ["Replay / edit and resend"]),
    el("div", { class: "replay-line" }, [method, target]),
    headerBox,
    bodyBox,
    secretBox,
    el("div", { class: "replay-line" }, [send, status]),
    result,
  ]);
}

/**
 * The original response and the replay's, side by side: status, headers, body as text.
 * @param {number} id @param {any} r @param {any} out the replay API's answer
 */
async function compare(id, r, out) {
  /** @param {Uint8Array} bytes */
  const text = (bytes) => {
    const t = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 65536));
    // deno-lint-ignore no-control-regex
    return /[\x00-\x08\x0e-\x1f]/.test(t) ? hexDump(bytes) : t;
  };
  /** @param {number} rid */
  const decoded = async (rid) => {
    const res = await fetch(`/api/records/${rid}/body/response`, { credentials: "same-origin" });
    return res.ok ? text(new Uint8Array(await res.arrayBuffer())) : "";
  };
  /** @type {Headers} */
  const replayHeaders = {};
  for (const [k, v] of out.response.headers) (replayHeaders[k] ??= []).push(str(v));
  const replayBody = out.record
    ? await decoded(Number(out.record))
    : text(Uint8Array.from(atob(out.response.body), (c) => c.charCodeAt(0)));
  const side = (
    /** @type {string} */ title,
    /** @type {unknown} */ status,
    /** @type {Headers | undefined} */ hdrs,
    /** @type {string} */ body,
  ) =>
    el("div", { class: "side" }, [
      el("h3", {}, [`${title}: ${str(status)}`]),
      headers(hdrs),
      el("pre", {}, [body]),
    ]);
  const original = r.http.response?.body ? await decoded(id) : "";
  const link = out.record
    ? el("button", { type: "button", class: "link" }, [`open record #${Number(out.record)}`])
    : null;
  link?.addEventListener("click", () => show(Number(out.record)));
  return el("div", {}, [
    link,
    el("div", { class: "compare" }, [
      side("Original", r.http.statusCode, r.http.response?.header, original),
      side("Replay", out.response.status, replayHeaders, replayBody),
    ]),
  ]);
}

/**
 * The texts the filter's body terms look for (`~b`, `~bq`, `~bs` and free text), read from
 * the filter field's expression, for highlighting in the bodies shown.
 * @param {string} expr
 * @returns {string[]}
 */
function bodyTerms(expr) {
  /** @type {string[]} */
  const tokens = expr.match(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|~\w+|[()&|!]|[^\s()&|!]+/g) || [];
  const unquote = (/** @type {string} */ t) =>
    /^["']/.test(t) ? t.slice(1, -1).replace(/\\(.)/g, "$1") : t;
  /** @type {string[]} */
  const terms = [];
  const flags = new Set(["~tls", "~ws", "~dns", "~http", "~err"]);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (/^[()&|!]$/.test(t)) continue;
    if (t.startsWith("~")) {
      if (flags.has(t)) continue;
      const v = tokens[++i];
      if (v && /^~(b|bq|bs)$/.test(t)) terms.push(unquote(v));
      continue;
    }
    terms.push(unquote(t));
  }
  return terms.filter((t) => t.length > 0);
}

/** Marks highlighted in one body at most. */
const MAX_MARKS = 500;

/**
 * Wraps each occurrence of `terms` (ASCII case folded, as the filter compares) in the text of
 * `pre` in a <mark>: text nodes and elements made one by one, never markup.
 * @param {Element} pre @param {string[]} terms
 */
function highlight(pre, terms) {
  const text = pre.textContent || "";
  const fold = (/** @type {string} */ s) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  const hay = fold(text);
  const needles = terms.map(fold);
  /** @type {Node[]} */
  const out = [];
  let at = 0, marks = 0;
  while (marks < MAX_MARKS) {
    let best = -1, len = 0;
    for (const n of needles) {
      const i = hay.indexOf(n, at);
      if (i !== -1 && (best === -1 || i < best || (i === best && n.length > len))) {
        best = i;
        len = n.length;
      }
    }
    if (best === -1) break;
    if (best > at) out.push(document.createTextNode(text.slice(at, best)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(best, best + len);
    out.push(mark);
    at = best + len;
    marks++;
  }
  if (marks === 0) return;
  out.push(document.createTextNode(text.slice(at)));
  pre.replaceChildren(...out);
}

/** The waterfall's phases: the record's `timings` key and its label. */
const PHASES = /** @type {const} */ ([
  ["tlsClient", "client TLS"],
  ["dns", "DNS"],
  ["connect", "connect"],
  ["tls", "upstream TLS"],
  ["ttfb", "wait (TTFB)"],
  ["transfer", "transfer"],
]);

/**
 * A record's timings as a waterfall: one row per phase, its bar starting where the one before
 * ended. Widths and offsets are set through the CSSOM (the CSP refuses style attributes).
 * @param {Record<string, unknown>} t
 */
function waterfall(t) {
  /** @type {[string, string, number][]} */
  const phases = [];
  for (const [key, label] of PHASES) {
    const v = Number(t[key]);
    if (t[key] !== undefined && Number.isFinite(v) && v >= 0) phases.push([key, label, v]);
  }
  const total = phases.reduce((sum, [, , v]) => sum + v, 0);
  const list = el("ol", { class: "waterfall", id: "waterfall" });
  let at = 0;
  for (const [key, label, v] of phases) {
    const bar = el("div", { class: "bar" });
    bar.style.marginLeft = `${total ? at / total * 100 : 0}%`;
    bar.style.width = `${total ? Math.max(v / total * 100, 0.5) : 0}%`;
    list.append(el("li", { "data-phase": key }, [
      el("span", { class: "phase" }, [label]),
      el("div", { class: "track" }, [bar]),
      el("span", { class: "ms" }, [`${v.toFixed(2)} ms`]),
    ]));
    at += v;
  }
  return list;
}

/** @param {number} id */
async function show(id) {
  const turn = ++showing;
  const r = await api(`/api/records/${id}`);
  const h = r.http;
  const facts = el("dl");
  /** @param {string} k @param {string} v @param {string} [cls] */
  const fact = (k, v, cls) =>
    facts.append(el("dt", {}, [k]), el("dd", cls ? { class: cls } : {}, [v]));
  fact("time", str(r.time));
  fact("service", str(r.service));
  fact("client", str(r.remote));
  fact("host", str(r.host));
  fact("proto", str(r.proto));
  fact("bytes", `${Number(r.inputBytes)} in, ${Number(r.outputBytes)} out`);
  fact("duration", `${(Number(r.duration) / 1e6).toFixed(2)} ms`);
  fact("sid", str(r.sid));
  if (r.err) fact("err", str(r.err), "err");
  /** @type {Node[]} */
  const parts = [facts];
  if (r.timings && typeof r.timings === "object") {
    parts.push(el("h3", {}, ["Timings"]), waterfall(r.timings));
  }
  if (h) {
    if (h.method !== "CONNECT" && !r.websocket) parts.push(copyAs(id), replayForm(id, r));
    if (r.replayOf) {
      const orig = el("button", { type: "button", class: "link", id: "replay-of" }, [
        `replay of record #${Number(r.replayOf)}`,
      ]);
      orig.addEventListener("click", () => show(Number(r.replayOf)));
      parts.push(orig);
    }
    parts.push(
      el("h3", {}, ["Request"]),
      el("p", {}, [el("b", {}, [str(h.method)]), ` ${str(h.uri)} ${str(h.proto)}`]),
      headers(h.request && h.request.header),
      el("h3", {}, ["Request body"]),
      el("div", { id: "request-body" }, await bodyView(id, "request", h.request)),
      el("h3", {}, [`Response ${Number(h.statusCode)}`]),
      headers(h.response && h.response.header),
      el("h3", {}, ["Response body"]),
      el("div", { id: "response-body" }, await bodyView(id, "response", h.response)),
    );
  }
  if (r.websocket && typeof r.websocket.payload === "string") {
    parts.push(el("h3", {}, ["WebSocket payload"]), wsPayload(r.websocket));
  }
  if (r.websocket && typeof r.websocket === "object") {
    const talk = await wsConversation(r);
    if (talk) parts.push(el("h3", {}, ["Conversation"]), talk);
  }
  for (const k of ["tls", "dns", "websocket"]) {
    if (r[k]) {
      parts.push(
        el("h3", {}, [k]),
        el("pre", { id: `detail-${k}` }, [JSON.stringify(r[k], null, 2)]),
      );
    }
  }
  // A later click won the race while the bodies loaded: its details are shown, not these.
  if (turn !== showing) return;
  const terms = bodyTerms(String(new FormData(form).get("f") || ""));
  if (terms.length) {
    // Bodies and a text frame as text; not hex dumps.
    for (const part of parts) {
      if (!(part instanceof Element)) continue;
      if (part.matches("pre#ws-payload:not(.hex)")) highlight(part, terms);
      if (!part.matches("#request-body, #response-body")) continue;
      part.querySelectorAll("pre:not(.hex)").forEach((pre) => highlight(pre, terms));
    }
  }
  const detail = $("#detail");
  detail.replaceChildren(...parts);
  detail.dataset.id = String(id);
}

// Import a HAR file (devtools, mitmproxy, HTTP Toolkit) into the store: service "import".
const importInput = /** @type {HTMLInputElement} */ ($("#import"));
importInput.addEventListener("change", async () => {
  const file = importInput.files?.[0];
  if (!file) return;
  const notice = $("#notice");
  const res = await fetch("/api/har", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: await file.text(),
  });
  const out = await res.json().catch(() => ({}));
  notice.textContent = res.ok
    ? `Imported ${Number(out.imported)} records from ${file.name} (service "import")` +
      (out.skipped ? `; skipped ${Number(out.skipped)}: ${str(out.errors?.[0])}` : ".")
    : `Import refused (${res.status}): ${str(out.error)}`;
  notice.hidden = false;
  importInput.value = "";
  load(false);
});

form.addEventListener("submit", (e) => {
  e.preventDefault();
  $("#notice").hidden = true;
  load(false);
  listen();
});
more.addEventListener("click", () => load(true));

// Pause holds live records back (at most MAX_ROWS, then the oldest held go); Resume lists
// them. Clear empties the list on this page, not the store.
let paused = false;
/** @type {Summary[]} */
let pending = [];
const pause = $("#pause");
pause.addEventListener("click", () => {
  paused = !paused;
  pause.textContent = paused ? "Resume" : "Pause";
  pause.setAttribute("aria-pressed", String(paused));
  if (!paused) {
    for (const r of pending) insert(r);
    pending = [];
  }
  render();
});
$("#clear").addEventListener("click", () => {
  rows = [];
  pending = [];
  next = null;
  more.hidden = true;
  render();
});

// The resizable split between the list and the details, remembered in this browser.
const main = $("main");
const split = $("#split");
/** @param {number} px */
function setSplit(px) {
  const w = main.getBoundingClientRect().width;
  const clamped = Math.max(320, Math.min(px, w - 320));
  main.style.gridTemplateColumns = `${clamped}px 8px minmax(0, 1fr)`;
  try {
    localStorage.setItem("snoop.split", String(Math.round(clamped / w * 1000) / 1000));
  } catch { /* storage off: not remembered */ }
  queueRender();
}
try {
  const saved = Number(localStorage.getItem("snoop.split"));
  if (saved > 0 && saved < 1) setSplit(saved * main.getBoundingClientRect().width);
} catch { /* storage off */ }
split.addEventListener("pointerdown", (e) => {
  split.setPointerCapture(e.pointerId);
  const left = main.getBoundingClientRect().left;
  const move = (/** @type {PointerEvent} */ m) => setSplit(m.clientX - left - 4);
  const up = () => {
    split.removeEventListener("pointermove", move);
    split.removeEventListener("pointerup", up);
  };
  split.addEventListener("pointermove", move);
  split.addEventListener("pointerup", up);
});
split.addEventListener("keydown", (e) => {
  if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
  e.preventDefault();
  const list = scroller.getBoundingClientRect().width;
  setSplit(list + (e.key === "ArrowLeft" ? -40 : 40));
});

// Keyboard: j/k move the selection, Enter opens it, / goes to the search box, Escape
// leaves a field.
document.addEventListener("keydown", (e) => {
  const t = /** @type {HTMLElement} */ (e.target);
  const typing = t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName);
  if (typing) {
    if (e.key === "Escape") t.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "/") {
    e.preventDefault();
    /** @type {HTMLInputElement} */ ($("input[name=q]")).focus();
  } else if (e.key === "j" || e.key === "k") {
    if (!rows.length) return;
    const i = rows.findIndex((r) => r.id === selectedId);
    const to = i < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, i + (e.key === "j" ? 1 : -1)));
    select(Number(rows[to].id), false);
  } else if (e.key === "Enter" && selectedId !== null) {
    show(selectedId);
  }
});

/** @type {EventSource | null} */
let source = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let chartTimer;
/**
 * Live records, filtered by the server with the form's filter (the code that answers
 * /api/records), so a live row and a queried row never disagree; opened again on submit.
 */
function listen() {
  source?.close();
  source = new EventSource(`/api/events?${params()}`);
  source.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "on";
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "";
  });
  source.addEventListener("record", onRecord);
}
/** @param {Event} e */
function onRecord(e) {
  const r = /** @type {Summary} */ (JSON.parse(/** @type {MessageEvent} */ (e).data));
  if (paused) {
    pending.push(r);
    if (pending.length > MAX_ROWS) pending.shift();
  } else {
    insert(r);
    if (arrivedDuringLoad && arrivedDuringLoad.length < MAX_ROWS) arrivedDuringLoad.push(r);
  }
  queueRender();
  clearTimeout(chartTimer);
  chartTimer = setTimeout(charts, 500);
}
listen();
load(false);
