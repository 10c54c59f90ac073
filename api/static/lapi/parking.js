// Car-park occupancy page: lists car parks and draws each one's occupancy over the last 24 h.
// It only calls aggregated endpoints (no plate data), so no purpose is needed and nothing is audited.
"use strict";

const statusLine = document.getElementById("status");
const parks = document.getElementById("parks");

function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

async function api(path, token) {
  const response = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${body.detail ?? body.error}`);
  return body;
}

function figure(label, value, extraClass = "") {
  const div = document.createElement("div");
  div.className = extraClass;
  const b = document.createElement("b");
  b.textContent = value ?? "—";
  div.append(b, label);
  return div;
}

function chart(series, capacity) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 1000, height = 120;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const top = Math.max(1, capacity ?? 0, ...series.map((p) => p.occupied));
  const barWidth = width / Math.max(series.length, 1);
  series.forEach((point, i) => {
    const rect = document.createElementNS(ns, "rect");
    const h = (point.occupied / top) * (height - 4);
    rect.setAttribute("x", i * barWidth);
    rect.setAttribute("y", height - h);
    rect.setAttribute("width", Math.max(barWidth - 1, 1));
    rect.setAttribute("height", h);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${new Date(point.at).toLocaleString()}: ${point.occupied}`;
    rect.append(title);
    svg.append(rect);
  });
  if (capacity) {
    const line = document.createElementNS(ns, "line");
    const y = height - (capacity / top) * (height - 4);
    line.setAttribute("class", "capacity");
    line.setAttribute("x1", 0); line.setAttribute("x2", width);
    line.setAttribute("y1", y); line.setAttribute("y2", y);
    svg.append(line);
  }
  return svg;
}

async function show(token) {
  parks.replaceChildren();
  const list = await api("/lapi/car-parks", token);
  if (!list.length) { say("No car park yet: run `vigie demo` or `vigie run lapi --config FILE`."); return; }
  for (const park of list) {
    const occ = await api(`/lapi/car-parks/${park.id}/occupancy?step_s=1800`, token);
    const section = document.createElement("article");
    section.className = "park";
    const title = document.createElement("h2");
    title.textContent = `${park.name} (${park.slug})`;
    const figures = document.createElement("div");
    figures.className = "figures";
    figures.append(
      figure("inside now", occ.occupied_now),
      figure("free places", occ.free_now),
      figure("capacity", occ.capacity),
      figure("flagged (no exit read)", occ.flagged_now, "flagged"),
    );
    section.append(title, figures, chart(occ.series, occ.capacity));
    parks.append(section);
  }
  say(`${list.length} car park(s), occupancy every 30 min over the last 24 h.`);
}

document.getElementById("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  if (!token) { say("Give a token with the parking role.", true); return; }
  sessionStorage.setItem("vigie-token", token);
  show(token).catch((error) => say(error.message, true));
});

const saved = sessionStorage.getItem("vigie-token");
if (saved) { document.getElementById("token").value = saved; show(saved).catch((e) => say(e.message, true)); }
