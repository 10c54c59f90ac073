// Car-park page: each car park's figures, its occupancy over the last 24 h and, when the user gives a
// purpose, its latest sessions. Occupancy is aggregated (no purpose, not audited); sessions are plate data:
// the API requires the purpose and audits each listing. A plate is shown only where the API returns its
// clear text (car parks with store_clear_text); otherwise the cell says the plate is only hashed.
"use strict";

const statusLine = document.getElementById("status");
const parks = document.getElementById("parks");
const STEP_S = 1800;
const SESSIONS_SHOWN = 50;
const when = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeStyle: "short" });
const hour = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit" });

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

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function figure(label, value, extraClass = "") {
  const div = el("div", undefined, `figure ${extraClass}`.trim());
  div.append(el("b", value ?? "—"), label);
  return div;
}

function chart(series, capacity) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 1000, height = 140, axis = 18;  // bottom band for the hour labels
  const plot = height - axis;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "occupancy");
  svg.setAttribute("role", "img");
  const top = Math.max(1, capacity ?? 0, ...series.map((p) => p.occupied));
  svg.setAttribute("aria-label", `Vehicles inside, every ${STEP_S / 60} min; scale 0 to ${top}`);
  const barWidth = width / Math.max(series.length, 1);
  series.forEach((point, i) => {
    const rect = document.createElementNS(ns, "rect");
    const h = (point.occupied / top) * (plot - 4);
    rect.setAttribute("class", "bar");
    rect.setAttribute("x", i * barWidth);
    rect.setAttribute("y", plot - h);
    rect.setAttribute("width", Math.max(barWidth - 1, 1));
    rect.setAttribute("height", h);
    rect.dataset.at = point.at;
    rect.dataset.occupied = point.occupied;
    const title = document.createElementNS(ns, "title");
    title.textContent = `${when.format(new Date(point.at))}: ${point.occupied} inside`;
    rect.append(title);
    svg.append(rect);
    if (i % 8 === 0 && i * barWidth + 40 < width) {  // a time label every 4 h (30-min steps), none clipped
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", i * barWidth + 2);
      label.setAttribute("y", height - 4);
      label.textContent = hour.format(new Date(point.at));
      svg.append(label);
    }
  });
  const base = document.createElementNS(ns, "line");
  base.setAttribute("class", "base");
  base.setAttribute("x1", 0); base.setAttribute("x2", width);
  base.setAttribute("y1", plot); base.setAttribute("y2", plot);
  svg.append(base);
  if (capacity) {
    const line = document.createElementNS(ns, "line");
    const y = plot - (capacity / top) * (plot - 4);
    line.setAttribute("class", "capacity");
    line.setAttribute("x1", 0); line.setAttribute("x2", width);
    line.setAttribute("y1", y); line.setAttribute("y2", y);
    svg.append(line);
  }
  return svg;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")}`;
}

function plateCell(session) {
  if (session.plate_text) return el("td", session.plate_text, "plate");
  return el("td", session.anonymised ? "anonymised" : "hashed only", "plate hidden");
}

function sessionsTable(sessions) {
  const table = el("table", undefined, "sessions");
  const head = el("tr");
  for (const name of ["Plate", "Entry", "Exit", "Duration", "Status", "Subscriber", "Paid", "Note"]) {
    head.append(el("th", name));
  }
  table.append(el("thead"));
  table.tHead.append(head);
  const body = el("tbody");
  for (const s of sessions) {
    const row = el("tr");
    row.dataset.sessionId = s.id;
    row.dataset.status = s.status;
    row.append(
      plateCell(s),
      // An exit read without entry is stored with entry = exit: there was no entry time to show.
      el("td", s.status === "flagged" && s.entry_at === s.exit_at ? "not read" : when.format(new Date(s.entry_at))),
      el("td", s.exit_at ? when.format(new Date(s.exit_at)) : "inside"),
      el("td", duration(s.duration_s)),
      el("td", s.status, `status ${s.status}`),
      el("td", s.subscriber ? "yes" : "no"),
      el("td", s.paid ? "yes" : "no"),
      el("td", s.flag_reason ?? ""),
    );
    body.append(row);
  }
  table.append(body);
  return table;
}

async function show(token, purpose) {
  parks.replaceChildren();
  const list = await api("/lapi/car-parks", token);
  if (!list.length) { say("No car park yet: run `vigie demo` or `vigie run lapi --config FILE`."); return; }
  for (const park of list) {
    const occ = await api(`/lapi/car-parks/${park.id}/occupancy?step_s=${STEP_S}`, token);
    const section = el("article", undefined, "park");
    section.dataset.slug = park.slug;
    const title = el("h2", `${park.name} (${park.slug})`);
    title.append(el("span", park.store_clear_text ? "plates kept in clear" : "plates hashed", "privacy"));
    const figures = el("div", undefined, "figures");
    figures.append(
      figure("inside now", occ.occupied_now, "inside"),
      figure("free places", occ.free_now, "free"),
      figure("capacity", occ.capacity, "capacity"),
      figure("of them flagged (no exit read)", occ.flagged_now, occ.flagged_now ? "flagged" : ""),
    );
    section.append(title, figures, chart(occ.series, occ.capacity));
    if (purpose) {
      const params = new URLSearchParams({ purpose, limit: String(SESSIONS_SHOWN) });
      const sessions = await api(`/lapi/car-parks/${park.id}/sessions?${params}`, token);
      section.append(el("h3", `Latest sessions (${sessions.length})`));
      section.append(sessions.length ? sessionsTable(sessions) : el("p", "No session.", "hint"));
    } else {
      section.append(el("p", "Give a purpose to list the sessions (plate data, audited).", "hint"));
    }
    parks.append(section);
  }
  say(`${list.length} car park(s), occupancy every ${STEP_S / 60} min over the last 24 h.`);
}

document.getElementById("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  const purpose = document.getElementById("purpose").value.trim();
  if (!token) { say("Give a token with the parking role.", true); return; }
  if (purpose && purpose.length < 3) { say("The purpose needs at least 3 characters.", true); return; }
  sessionStorage.setItem("vigie-token", token);
  show(token, purpose).catch((error) => say(error.message, true));
});

// The token is remembered for the tab; the purpose never is (each listing states its own).
const saved = sessionStorage.getItem("vigie-token");
if (saved) { document.getElementById("token").value = saved; show(saved, "").catch((e) => say(e.message, true)); }
