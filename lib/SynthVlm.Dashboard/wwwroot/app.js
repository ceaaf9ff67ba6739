// The SynthVlm dashboard: a hash-routed page over /api. Every value from the cluster is put in
// the DOM as text (never as HTML).
"use strict";

const view = document.getElementById("view");
let timer = null;
let source = null;
let generation = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("data-") && v !== null && v !== undefined) { node.setAttribute(k, String(v)); continue; }
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path) {
  const response = await fetch("/api/" + path, { credentials: "same-origin" });
  if (response.status === 401) { location.href = "/login"; throw new Error("not logged in"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function fmtTime(t) { return t ? new Date(t).toLocaleTimeString() : ""; }
function fmtNum(x, digits = 2) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
function fmtDur(seconds) {
  if (seconds === null || seconds === undefined || seconds < 0) return "–";
  if (seconds < 1) return (seconds * 1000).toFixed(1) + " ms";
  if (seconds < 120) return seconds.toFixed(2) + " s";
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return m + ":" + String(s).padStart(2, "0");
}
function parseSpan(ts) { return typeof ts === "string" ? parseTimeSpan(ts) : ts; }
function parseTimeSpan(text) {
  // "d.hh:mm:ss.fffffff" or "hh:mm:ss.fffffff"
  const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return 0;
  const frac = m[5] ? Number("0." + m[5]) : 0;
  return (Number(m[1] || 0) * 86400) + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]) + frac;
}

const palette = ["#2f5fd0", "#1e8a4c", "#b7791f", "#9f3fbf", "#c53030", "#0f8b8d", "#6b7280", "#d9480f"];
const colours = new Map();
function colourOf(service) {
  if (!colours.has(service)) colours.set(service, palette[colours.size % palette.length]);
  return colours.get(service);
}

function stopLive() {
  if (timer) { clearInterval(timer); timer = null; }
  if (source) { source.close(); source = null; }
}

function poll(fn, ms = 2000) {
  const mine = generation;
  const run = async () => { if (mine === generation) { try { await fn(); } catch (e) { showError(e); } } };
  run();
  timer = setInterval(run, ms);
}

function showError(e) {
  if (!view.querySelector(".page-error")) view.prepend(el("p", { class: "unavailable page-error" }, "Error: " + e.message));
}

function replace(id, node) {
  const old = document.getElementById(id);
  node.id = id;
  if (old) old.replaceWith(node); else view.append(node);
}

// ---------------------------------------------------------------- resources
function resources() {
  view.replaceChildren(el("h1", {}, "Resources"));
  poll(async () => {
    const rows = await api("resources");
    const table = el("table", { "data-testid": "resources-table" },
      el("thead", {}, el("tr", {}, ["Name", "State", "PID", "Restarts", "Last exit", "Endpoints", ""].map(h => el("th", {}, h)))),
      el("tbody", {}, rows.map(r => el("tr", { "data-testid": "resource-row", "data-resource": r.name },
        el("td", {}, el("strong", {}, r.name), r.kind === "redis" ? el("span", { class: "muted" }, "  redis") : null),
        el("td", {}, el("span", { class: "state " + r.state, "data-testid": "resource-state" }, r.state),
          (r.state === "Failed" || r.state === "Crashed") && r.lastLines.length ? el("div", { class: "lastlines" }, r.lastLines.slice(-8).join("\n")) : null),
        el("td", {}, r.pid ?? "–"),
        el("td", {}, r.restarts),
        el("td", {}, r.lastExitCode ?? "–"),
        el("td", {}, Object.entries(r.endpoints).map(([n, u]) => el("div", {}, n + " ", u.startsWith("http") ? el("a", { href: u, target: "_blank", rel: "noreferrer" }, u) : u))),
        el("td", {}, el("a", { href: "#/console/" + encodeURIComponent(r.name) }, "console"))))));
    replace("resources", table);
  });
}

// ---------------------------------------------------------------- console
function consolePage(resource) {
  const box = el("div", { class: "console", "data-testid": "console-lines" });
  const picker = el("select", { onchange: e => { location.hash = "#/console/" + encodeURIComponent(e.target.value); } }, el("option", { value: "" }, "all resources"));
  view.replaceChildren(el("h1", {}, "Console" + (resource ? ": " + resource : "")), el("div", { class: "filters" }, "Resource ", picker), box);
  api("console?limit=1").then(r => {
    for (const name of r.resources) picker.append(el("option", { value: name, selected: name === resource }, name));
  }).catch(showError);
  source = new EventSource("/api/console/stream" + (resource ? "?resource=" + encodeURIComponent(resource) : ""));
  source.onmessage = m => {
    const line = JSON.parse(m.data);
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    box.append(el("div", { class: "console-line" + (line.isError ? " error" : "") }, el("span", { class: "res" }, line.resource), line.text));
    while (box.childElementCount > 5000) box.firstChild.remove();
    if (stick) box.scrollTop = box.scrollHeight;
  };
}

// ---------------------------------------------------------------- structured logs
function logs() {
  const service = el("select", {}, el("option", { value: "" }, "all services"));
  const severity = el("select", {}, [["0", "all levels"], ["9", "Information+"], ["13", "Warning+"], ["17", "Error+"]].map(([v, t]) => el("option", { value: v }, t)));
  const text = el("input", { placeholder: "message contains…" });
  const body = el("tbody");
  const table = el("table", { "data-testid": "logs-table" }, el("thead", {}, el("tr", {}, ["Time", "Service", "Level", "Category", "Message", "Trace"].map(h => el("th", {}, h)))), body);
  let after = 0;
  const reset = () => { after = 0; body.replaceChildren(); };
  for (const c of [service, severity]) c.addEventListener("change", reset);
  text.addEventListener("change", reset);
  view.replaceChildren(el("h1", {}, "Structured logs"), el("div", { class: "filters" }, service, severity, text), table);
  const known = new Set();
  poll(async () => {
    const q = new URLSearchParams({ after, limit: 500, minSeverity: severity.value });
    if (service.value) q.set("service", service.value);
    if (text.value) q.set("text", text.value);
    const r = await api("logs?" + q);
    for (const s of r.services) if (!known.has(s)) { known.add(s); service.append(el("option", { value: s }, s)); }
    for (const log of r.logs) {
      after = Math.max(after, log.sequence);
      body.prepend(el("tr", { "data-testid": "log-row" },
        el("td", {}, fmtTime(log.time)), el("td", {}, log.service + (log.instance ? " (" + log.instance + ")" : "")),
        el("td", { class: "sev-" + log.severity }, log.severity), el("td", { class: "muted" }, log.category || ""),
        el("td", {}, log.message), el("td", {}, log.traceId ? el("a", { href: "#/traces/" + log.traceId }, log.traceId.slice(0, 8)) : "")));
    }
    while (body.childElementCount > 2000) body.lastChild.remove();
  });
}

// ---------------------------------------------------------------- traces
function traces(run) {
  const search = el("input", { placeholder: "span name contains…" });
  const runInput = el("input", { placeholder: "run id", value: run || "" });
  view.replaceChildren(el("h1", {}, "Traces"), el("div", { class: "filters" }, runInput, search));
  poll(async () => {
    const q = new URLSearchParams({ limit: 200 });
    if (search.value) q.set("search", search.value);
    if (runInput.value) q.set("run", runInput.value);
    const r = await api("traces?" + q);
    replace("traces", el("table", { "data-testid": "traces-table" },
      el("thead", {}, el("tr", {}, ["Start", "Root", "Services", "Spans", "Errors", "Duration", "Run"].map(h => el("th", {}, h)))),
      el("tbody", {}, r.traces.map(t => el("tr", { class: "clickable", "data-testid": "trace-row", "data-trace-id": t.traceId, "data-run": t.run || "", onclick: () => { location.hash = "#/traces/" + t.traceId; } },
        el("td", {}, fmtTime(t.start)), el("td", {}, t.rootService + ": " + t.rootName),
        el("td", {}, t.services.map(s => el("span", { class: "state", style: "background:" + colourOf(s) + "22;color:" + colourOf(s) }, s)), ""),
        el("td", {}, t.spanCount + (t.droppedSpans ? " (+" + t.droppedSpans + " dropped)" : "")),
        el("td", { class: t.errorCount ? "sev-Error" : "" }, t.errorCount), el("td", {}, fmtDur(parseSpan(t.duration))), el("td", {}, t.run || ""))))));
  }, 3000);
}

async function trace(id) {
  view.replaceChildren(el("h1", {}, "Trace " + id));
  let detail;
  try { detail = await api("traces/" + encodeURIComponent(id)); } catch (e) { showError(e); return; }
  const s = detail.summary;
  const start = new Date(s.start).getTime();
  const total = Math.max(parseSpan(s.duration) * 1000, 0.001);
  const panel = el("div", { class: "card details", "data-testid": "span-details" }, "Click a span for its attributes.");
  const services = [...new Set(detail.spans.map(w => w.span.service))];
  const rows = detail.spans.slice(0, 5000).map(w => {
    const sp = w.span;
    const offset = (new Date(sp.start).getTime() - start) / total * 100;
    const width = Math.max(parseSpan(sp.duration) * 1000 / total * 100, 0.15);
    return el("div", { class: "wf-row", onclick: () => showSpan(panel, sp) },
      el("div", { class: "wf-name", style: "padding-left:" + (8 + w.depth * 14) + "px", title: sp.name }, (w.parentMissing ? "↳ " : "") + sp.name, el("span", { class: "muted" }, "  " + sp.service)),
      el("div", { class: "wf-track" },
        el("div", { class: "span-bar" + (sp.status === "Error" ? " error" : ""), "data-testid": "span-bar", "data-service": sp.service, style: `left:${offset}%;width:${width}%;background:${colourOf(sp.service)}` }),
        el("span", { class: "wf-dur", style: `left:calc(${Math.min(offset + width, 92)}% + 4px)` }, fmtDur(parseSpan(sp.duration)))));
  });
  view.append(
    el("p", { class: "muted" }, `${s.spanCount} spans${s.droppedSpans ? " (" + s.droppedSpans + " dropped by the dashboard's bound)" : ""} across ${services.length} services, ${fmtDur(parseSpan(s.duration))}` + (s.run ? ", run " + s.run : "")),
    el("div", { class: "legend" }, services.map(x => el("span", { style: "--c:" + colourOf(x) }, x))),
    el("div", { class: "waterfall", "data-testid": "waterfall" }, rows),
    el("h2", {}, "Span"), panel);
}

function showSpan(panel, sp) {
  const lines = [`${sp.name}  (${sp.kind}, ${sp.service}${sp.instance ? " / " + sp.instance : ""})`, `status: ${sp.status}${sp.statusMessage ? " — " + sp.statusMessage : ""}`, `duration: ${fmtDur(parseSpan(sp.duration))}`, `span ${sp.spanId}, parent ${sp.parentSpanId || "none"}`, ""];
  for (const a of sp.attributes) lines.push(`${a.key} = ${a.value}`);
  for (const e of sp.events) lines.push(`event ${e.name} at ${fmtTime(e.time)} ${e.attributes.map(a => a.key + "=" + a.value).join(" ")}`);
  for (const l of sp.links) lines.push(`link → ${l.traceId}/${l.spanId}`);
  panel.textContent = lines.join("\n");
}

// ---------------------------------------------------------------- metrics
function metrics() {
  view.replaceChildren(el("h1", {}, "Metrics"), el("p", { class: "muted" }, "Per stage, over the last minute of the services' OTLP metrics; lag and pending straight from Redis."));
  poll(async () => {
    const m = await api("metrics");
    replace("metrics", el("div", { "data-testid": "metrics-panel" },
      m.queuesUnavailable ? el("p", { class: "unavailable" }, m.queuesUnavailable) : null,
      el("table", {}, el("thead", {}, el("tr", {}, ["Stage", "Input stream", "Items/s", "Acked", "Failed", "Lag", "Pending", "Consumers", "Handle time / item", "CPU time / item", "Model (GPU) time / item"].map(h => el("th", {}, h)))),
        el("tbody", {}, m.stages.map(s => el("tr", { "data-testid": "stage-metrics", "data-stage": s.stage },
          el("td", {}, el("strong", {}, s.stage)), el("td", { class: "muted" }, s.stream), el("td", {}, fmtNum(s.throughput)), el("td", {}, s.acked), el("td", {}, s.failed),
          el("td", {}, s.lag ?? "–"), el("td", {}, s.pending ?? "–"), el("td", {}, s.consumers ?? "–"),
          el("td", {}, fmtDur(s.meanHandleSeconds)), el("td", {}, fmtDur(s.cpuSecondsPerItem)), el("td", {}, fmtDur(s.modelSecondsPerItem))))))));
  }, 3000);
}

// ---------------------------------------------------------------- runs
function runs() {
  view.replaceChildren(el("h1", {}, "Runs"));
  poll(async () => {
    const r = await api("runs");
    replace("runs", el("div", {},
      r.unavailable ? el("p", { class: "unavailable" }, "Unavailable: " + r.unavailable) : null,
      el("table", { "data-testid": "runs-table" },
        el("thead", {}, el("tr", {}, ["Run", "State", "Progress", "Selected", "Created", "Pool"].map(h => el("th", {}, h)))),
        el("tbody", {}, r.runs.map(x => el("tr", { class: "clickable", "data-testid": "run-row", "data-run-id": x.id, onclick: () => { location.hash = "#/runs/" + encodeURIComponent(x.id); } },
          el("td", {}, el("strong", {}, x.id)), el("td", {}, el("span", { class: "state " + x.state }, x.state), x.reason ? el("div", { class: "muted" }, x.reason) : null),
          el("td", {}, el("div", { class: "bar" + (x.state === "COMPLETED" ? " done" : "") }, el("div", { style: `width:${Math.round(x.progress * 100)}%` }))),
          el("td", {}, x.selected), el("td", {}, fmtTime(x.created)), el("td", { class: "muted" }, x.captions)))))));
  });
}

function run(id) {
  view.replaceChildren(el("h1", {}, "Run " + id));
  poll(async () => {
    const r = await api("runs/" + encodeURIComponent(id));
    if (r.unavailable) { replace("run", el("p", { class: "unavailable" }, "Unavailable: " + r.unavailable)); return; }
    const x = r.run;
    replace("run", el("div", { "data-testid": "run-detail" },
      el("p", {}, el("span", { class: "state " + x.state }, x.state), " ", x.reason || "", x.dataset ? el("span", { class: "muted" }, `  dataset ${x.dataset} (${x.selected} pairs)`) : null),
      el("p", {}, x.traceId ? el("a", { href: "#/traces/" + x.traceId, "data-testid": "run-trace-link" }, "Trace of this run") : el("span", { class: "muted" }, "no trace recorded"),
        "  ·  ", el("a", { href: "#/gallery/" + encodeURIComponent(x.id), "data-testid": "run-gallery-link" }, "Gallery")),
      el("table", {}, el("thead", {}, el("tr", {}, ["Stage", "Progress", "Processed / emitted", "Dropped", "Dead-lettered", "Rate", "ETA"].map(h => el("th", {}, h)))),
        el("tbody", {}, x.stages.map(s => el("tr", { "data-testid": "stage-progress", "data-stage": s.stage, "data-done": s.done },
          el("td", {}, el("strong", {}, s.stage)),
          el("td", {}, el("div", { class: "bar" + (s.done ? " done" : "") }, el("div", { style: `width:${Math.round(s.fraction * 100)}%` })), el("span", { class: "muted" }, Math.round(s.fraction * 100) + " %")),
          el("td", {}, `${s.processed} / ${s.emitted}`), el("td", {}, s.dropped), el("td", {}, s.deadLettered),
          el("td", {}, fmtNum(s.rate, 1) + "/s"), el("td", {}, s.done ? "done" : fmtDur(s.etaSeconds)))))),
      el("h2", {}, "Failures"),
      el("div", { "data-testid": "run-failures" }, r.failures.unavailable ? el("p", { class: "unavailable" }, r.failures.unavailable)
        : r.failures.reasons.length === 0 ? el("p", { class: "muted" }, "Nothing dropped.")
        : el("table", {}, el("thead", {}, el("tr", {}, ["Stage", "Reason", "Count", "Examples"].map(h => el("th", {}, h)))),
          el("tbody", {}, r.failures.reasons.map(f => el("tr", {}, el("td", {}, f.stage), el("td", {}, f.code), el("td", {}, f.count),
            el("td", {}, f.examples.map(e => el("div", { class: "muted" }, `${e.id || "line " + e.line}: ${e.reason}`)))))))),
      el("h2", {}, "Dead letters"),
      el("div", { "data-testid": "dead-letters" }, r.deadLetters.unavailable ? el("p", { class: "unavailable" }, r.deadLetters.unavailable)
        : r.deadLetters.entries.length === 0 ? el("p", { class: "muted" }, "None.")
        : el("table", {}, el("thead", {}, el("tr", {}, ["Entry", "Stream", "Group", "Deliveries", "Reason"].map(h => el("th", {}, h)))),
          el("tbody", {}, r.deadLetters.entries.map(d => el("tr", {}, el("td", {}, d.id), el("td", {}, d.stream), el("td", {}, d.group), el("td", {}, d.deliveries), el("td", {}, d.reason))))))));
  }, 2000);
}

// ---------------------------------------------------------------- gallery
async function gallery(id) {
  if (!id) {
    view.replaceChildren(el("h1", {}, "Gallery"), el("p", { class: "muted" }, "Pick a run:"));
    const r = await api("runs").catch(e => { showError(e); return { runs: [] }; });
    view.append(el("ul", {}, r.runs.map(x => el("li", {}, el("a", { href: "#/gallery/" + encodeURIComponent(x.id), "data-testid": "gallery-run" }, x.id), " ", el("span", { class: "muted" }, x.state)))));
    return;
  }
  let page = 0;
  const filter = el("select", {}, ["all", "selected", "rejected"].map(f => el("option", { value: f }, f)));
  const grid = el("div", { class: "gallery", "data-testid": "gallery" });
  const info = el("span", { class: "muted" });
  const prev = el("button", { class: "small", onclick: () => { if (page > 0) { page--; load(); } } }, "‹ previous");
  const next = el("button", { class: "small", onclick: () => { page++; load(); } }, "next ›");
  filter.addEventListener("change", () => { page = 0; load(); });
  view.replaceChildren(el("h1", {}, "Gallery: " + id), el("div", { class: "filters" }, "Show ", filter), grid, el("div", { class: "pager" }, prev, info, next));
  async function load() {
    const r = await api(`gallery/${encodeURIComponent(id)}?page=${page}&size=24&filter=${filter.value}`);
    if (r.unavailable) { grid.replaceChildren(el("p", { class: "unavailable" }, r.unavailable)); return; }
    info.textContent = `page ${page + 1}` + (r.datasetWritten ? "" : " · selection pending until the dataset is written");
    next.disabled = !r.more;
    prev.disabled = page === 0;
    grid.replaceChildren(...r.items.map(i => el("figure", { class: "gallery-item", "data-testid": "gallery-item", "data-selected": i.selected },
      el("img", { src: "/api/images?key=" + encodeURIComponent(i.image), alt: i.caption, loading: "lazy", width: 256, height: 256 }),
      el("figcaption", { class: "meta" },
        el("span", { class: "badge " + i.selected }, i.selected === "true" ? "selected" : i.selected === "false" ? "rejected" : "pending"),
        el("div", { class: "caption", title: i.caption }, i.caption),
        el("div", { class: "scores" }, `CLIP ${fmtNum(i.clip, 3)} · SSIM ${fmtNum(i.ssim, 3)} · ${fmtNum(i.weighted, 3)}`),
        el("div", { class: "muted" }, `${i.captionId} · v${i.variant}`)))));
  }
  load().catch(showError);
}

// ---------------------------------------------------------------- router
function route() {
  stopLive();
  generation++;
  const [page, arg] = (location.hash.replace(/^#\/?/, "") || "resources").split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + page);
  view.replaceChildren();
  switch (page) {
    case "console": return consolePage(arg);
    case "logs": return logs();
    case "traces": return arg ? trace(arg) : traces();
    case "metrics": return metrics();
    case "runs": return arg ? run(arg) : runs();
    case "gallery": return gallery(arg);
    default: return resources();
  }
}

window.addEventListener("hashchange", route);
route();
