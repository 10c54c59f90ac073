// Traffic counts page: loads a site's counts for one local day from the API and draws a stacked bar chart
// (inline SVG, no external library), a totals table and download links. The page holds no data itself:
// every call carries the planner token the user typed (kept in localStorage, like the fire console).
"use strict";

const CLASSES = JSON.parse(document.getElementById("classes").textContent);
const COLORS = {
  car: "#4e79a7", heavy: "#e15759", bus: "#f28e2b",
  motorcycle: "#76b7b2", bicycle: "#59a14f", pedestrian: "#b07aa1",
};
const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "vigie.traffic.token";

const $ = (id) => document.getElementById(id);

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").classList.toggle("error", isError);
}

function token() {
  return $("token").value.trim();
}

async function apiFetch(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON: keep the status text */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function countsUrl(format) {
  const params = new URLSearchParams({ site: $("site").value, from: $("day").value, to: $("day").value });
  if ($("bin").value) params.set("bin", $("bin").value);
  if (format === "geojson") return `/api/v1/traffic/sites.geojson?${params}`;
  params.set("format", format);
  return `/api/v1/traffic/counts?${params}`;
}

async function loadSites() {
  if (!token()) {
    setStatus("Saisissez un jeton d'API (rôle planner) pour lister les sites.");
    return;
  }
  try {
    const sites = await (await apiFetch("/api/v1/sites")).json();
    const counting = sites.filter((s) => s.kind === "traffic" || s.kind === "mixed");
    const select = $("site");
    const wanted = new URLSearchParams(location.search).get("site") || select.value;
    select.replaceChildren(...(counting.length ? counting : sites).map((s) => {
      const option = document.createElement("option");
      option.value = s.slug;
      option.textContent = `${s.name} (${s.slug})`;
      return option;
    }));
    if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
    setStatus(sites.length ? "" : "Aucun site pour l'instant.");
  } catch (error) {
    setStatus(`Impossible de lister les sites : ${error.message}`, true);
  }
}

// Sum the export rows per bin (keyed by the start instant) and class, over cameras, lines and directions;
// then add empty bins over the whole day, so that unwatched periods show as gaps rather than vanish.
function binsOf(data) {
  const bins = new Map();
  for (const row of data.counts) {
    const key = Date.parse(row.period_start);
    let bin = bins.get(key);
    if (!bin) {
      bin = { start: row.period_start, ms: key, counts: {}, partial: false };
      bins.set(key, bin);
    }
    bin.counts[row.class] = (bin.counts[row.class] || 0) + row.count;
    bin.partial = bin.partial || row.partial;
  }
  const first = data.counts[0];
  const step = first ? Date.parse(first.period_end) - Date.parse(first.period_start) : 0;
  if (step > 0 && step <= 3600e3 && data.from && data.to) {
    for (let t = Date.parse(data.from); t < Date.parse(data.to); t += step) {
      if (!bins.has(t)) bins.set(t, { start: new Date(t).toISOString(), ms: t, counts: {}, partial: false });
    }
  }
  return [...bins.values()].sort((a, b) => a.ms - b.ms);
}

function niceCeiling(value) {
  if (value <= 5) return 5;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function drawChart(bins, classes, timezone) {
  // Clock times in the site's zone, whatever the browser's zone.
  const clock = new Intl.DateTimeFormat("fr-FR", { timeZone: timezone, hour: "2-digit", minute: "2-digit",
                                                    hourCycle: "h23" });
  const width = 960, height = 340, left = 48, right = 12, top = 12, bottom = 44;
  const plotW = width - left - right, plotH = height - top - bottom;
  const totals = bins.map((b) => classes.reduce((sum, c) => sum + (b.counts[c] || 0), 0));
  const yMax = niceCeiling(Math.max(1, ...totals));
  const y = (v) => top + plotH - (v / yMax) * plotH;
  const slot = plotW / Math.max(1, bins.length);
  const barW = Math.max(1, slot * 0.8);

  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", id: "counts-chart",
                            "aria-label": "Passages par intervalle et par classe" });
  for (let i = 0; i <= 5; i++) {
    const value = (yMax * i) / 5;
    root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    root.append(svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, String(+value.toFixed(1))));
  }
  // Up to 24 bins: label each; more: label local full hours only.
  const labelled = (bin) => bins.length <= 24 || clock.format(bin.ms).endsWith(":00");
  bins.forEach((bin, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let base = 0;
    const group = svg("g", { class: "bin", "data-period-start": bin.start, "data-total": totals[i] });
    for (const c of classes) {
      const count = bin.counts[c] || 0;
      if (!count) continue;
      const rect = svg("rect", {
        class: "bar", x: x.toFixed(2), width: barW.toFixed(2),
        y: y(base + count).toFixed(2), height: (y(base) - y(base + count)).toFixed(2),
        fill: COLORS[c] || "#888", "data-class": c, "data-count": count, "data-period-start": bin.start,
      });
      rect.append(svg("title", {}, `${clock.format(bin.ms)} ${c} : ${count}${bin.partial ? " (partiel)" : ""}`));
      group.append(rect);
      base += count;
    }
    if (bin.partial) {
      group.append(svg("circle", { class: "partial-mark", cx: x + barW / 2, cy: y(base) - 6, r: 3 }));
    }
    root.append(group);
    if (labelled(bin)) {
      root.append(svg("text", { x: x + barW / 2, y: height - bottom + 16, "text-anchor": "middle" },
                      clock.format(bin.ms)));
    }
  });
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  root.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: y(0) }));
  $("chart").replaceChildren(root);

  $("legend").replaceChildren(...classes.map((c) => {
    const span = document.createElement("span");
    span.style.setProperty("--swatch", COLORS[c] || "#888");
    span.textContent = c;
    return span;
  }));
}

function drawTotals(rows, classes) {
  const directions = [...new Set(rows.map((r) => r.direction))].sort();
  const cell = (tag, text) => { const n = document.createElement(tag); n.textContent = text; return n; };
  const sums = {};
  for (const row of rows) {
    sums[row.class] ??= {};
    sums[row.class][row.direction] = (sums[row.class][row.direction] || 0) + row.count;
  }
  const head = document.createElement("thead");
  const headRow = document.createElement("tr");
  headRow.append(cell("th", "classe"), ...directions.map((d) => cell("th", d)), cell("th", "total"));
  head.append(headRow);
  const body = document.createElement("tbody");
  const columnTotals = directions.map(() => 0);
  let grand = 0;
  for (const c of classes) {
    const tr = document.createElement("tr");
    tr.dataset.class = c;
    const values = directions.map((d) => (sums[c] || {})[d] || 0);
    const total = values.reduce((a, b) => a + b, 0);
    values.forEach((v, i) => { columnTotals[i] += v; });
    grand += total;
    tr.append(cell("td", c), ...values.map((v) => cell("td", String(v))), cell("td", String(total)));
    body.append(tr);
  }
  const foot = document.createElement("tfoot");
  const footRow = document.createElement("tr");
  footRow.append(cell("td", "toutes classes"), ...columnTotals.map((v) => cell("td", String(v))),
                 cell("td", String(grand)));
  foot.append(footRow);
  $("totals").replaceChildren(head, body, foot);
}

async function show(event) {
  if (event) event.preventDefault();
  if (!$("site").value || !$("day").value) {
    setStatus("Choisissez un site et un jour.", true);
    return;
  }
  setStatus("Chargement…");
  try {
    const data = await (await apiFetch(countsUrl("json"))).json();
    const bins = binsOf(data);
    const classes = data.classes.filter((c) => data.counts.some((r) => r.class === c));
    $("chart-title").textContent =
      `${data.site} — ${$("day").value} (${data.timezone}), ${bins.length} intervalles`;
    drawChart(bins, classes.length ? classes : CLASSES, data.timezone);
    drawTotals(data.counts, data.classes);
    $("result").hidden = false;
    setStatus(data.counts.length ? "" : "Aucun comptage pour ce site et ce jour.");
    const url = new URL(location.href);
    url.searchParams.set("site", $("site").value);
    url.searchParams.set("day", $("day").value);
    history.replaceState(null, "", url);
  } catch (error) {
    $("result").hidden = true;
    setStatus(`Impossible de charger les comptages : ${error.message}`, true);
  }
}

async function download(event) {
  const link = event.target.closest("a[data-format]");
  if (!link) return;
  event.preventDefault();
  try {
    const response = await apiFetch(countsUrl(link.dataset.format));
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = disposition.match(/filename="([^"]+)"/);
    const blobUrl = URL.createObjectURL(await response.blob());
    const anchor = document.createElement("a");
    anchor.href = blobUrl;
    anchor.download = match ? match[1] : `${$("site").value}-${link.dataset.format}`;
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(blobUrl), 10000);
  } catch (error) {
    setStatus(`Échec du téléchargement : ${error.message}`, true);
  }
}

function init() {
  const params = new URLSearchParams(location.search);
  $("token").value = localStorage.getItem(TOKEN_KEY) || "";
  $("day").value = params.get("day") || new Date().toISOString().slice(0, 10);
  $("token").addEventListener("change", () => {
    localStorage.setItem(TOKEN_KEY, token());
    loadSites();
  });
  $("controls").addEventListener("submit", show);
  $("downloads").addEventListener("click", download);
  loadSites().then(() => { if (params.get("site") && params.get("day")) show(); });
}

init();
