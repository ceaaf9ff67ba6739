// SynthVlm's own views (runs, progress, dead letters, gallery): a hash-routed page over /api. Every value from the cluster is put in
// the DOM as text (never as HTML).
"use strict";

const view = document.getElementById("view");
let timer = null;
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

function stopLive() {
  if (timer) { clearInterval(timer); timer = null; }
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
      el("p", {}, x.traceId && aspire ? el("a", { href: new URL("traces/detail/" + encodeURIComponent(x.traceId), aspire).toString(), target: "_blank", rel: "noreferrer", "data-testid": "run-trace-link" }, "Trace in the Aspire dashboard")
          : el("span", { class: "muted" }, x.traceId ? "trace " + x.traceId : "no trace recorded"),
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
  const [page, arg] = (location.hash.replace(/^#\/?/, "") || "runs").split("/").map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + page);
  view.replaceChildren();
  switch (page) {
    case "gallery": return gallery(arg);
    case "runs": return arg ? run(arg) : runs();
    default: return runs();
  }
}

// The Aspire dashboard's address, when the front end was given it: the header links there.
let aspire = null;
api("info").then(info => {
  if (!info.aspireDashboard) return;
  aspire = info.aspireDashboard.endsWith("/") ? info.aspireDashboard : info.aspireDashboard + "/";
  const link = document.getElementById("aspire-link");
  link.href = aspire;
  link.hidden = false;
}).catch(() => {}).finally(() => {
  window.addEventListener("hashchange", route);
  route();
});
