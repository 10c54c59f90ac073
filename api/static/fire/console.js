// The live alert console: token, initial load, Server-Sent Events with reconnection, alert cards with
// their frame and box, life-cycle buttons, audible/visual cue on a new alert, camera health, and the map.
import { renderMap } from "./map.js";

const API = "/api/v1";
const TOKEN_KEY = "vigie.fire.token";
const STALE_FRAME_MS = 2 * 60 * 1000; // a camera whose last frame is older is shown as down
const STREAM_SILENCE_MS = 30 * 1000; // no event for this long: the stream is stalled, reconnect
const RECONNECT_MAX_MS = 15 * 1000;
const CLOSED_CARD_LINGER_MS = 4000; // a closed alert stays visible a moment so the operator sees it go

const KIND_LABELS = { smoke: "Fumée", fire: "Flammes" };
const STATUS_LABELS = {
  new: "Nouvelle",
  acknowledged: "Acquittée",
  confirmed: "Feu confirmé",
  false_alarm: "Fausse alerte",
  closed: "Close",
};
// What the API calls active (GET /alerts?active=true): a false alarm only waits to be closed, off-screen.
const ACTIVE_STATUSES = new Set(["new", "acknowledged", "confirmed"]);
// Legal moves of the alert life cycle (the server enforces them; the buttons only mirror them).
const NEXT_ACTIONS = {
  new: ["acknowledge", "confirm", "false-alarm", "close"],
  acknowledged: ["confirm", "false-alarm", "close"],
  confirmed: ["close"],
  false_alarm: ["close"],
  closed: [],
};
const HEALTH_LABELS = {
  up: "en ligne",
  degraded: "dégradé",
  down: "coupé",
  starting: "démarrage",
  disabled: "désactivée",
  ended: "terminé",
  unknown: "inconnu",
  stale: "muet > 2 min",
};

const state = {
  token: localStorage.getItem(TOKEN_KEY),
  alerts: new Map(), // id → AlertOut
  cameras: new Map(), // id → camera (+ health)
  frames: new Map(), // alert id → {key, objectUrl}
  fresh: new Set(), // alert ids not yet looked at (visual cue)
  selectedAlertId: null,
  source: null,
  connectAttempt: 0, // each (re)connection asks a ticket; a newer attempt abandons an older one
  lastEventAt: 0,
  reconnectDelay: 1000,
  reconnectTimer: null,
  tileTemplate: null,
  audio: null,
};

const $ = (selector, root = document) => root.querySelector(selector);

// --- HTTP --------------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body = undefined } = {}) {
  const token = state.token;
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const payload = await response.json();
      detail = payload.detail?.message || payload.message || payload.detail || detail;
      if (typeof detail !== "string") detail = JSON.stringify(detail);
    } catch {
      // not JSON: keep the status text
    }
    // A 401 for a token already replaced is stale news: only the current token's refusal asks again.
    if (response.status === 401 && token === state.token) {
      askForToken("Jeton refusé (401) : collez un jeton valide.");
    }
    throw new HttpError(response.status, `${response.status} ${detail}`);
  }
  return response.status === 204 ? null : response.json();
}

// --- formatting --------------------------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat("fr-FR", {
  day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const num = (value, digits) => Number(value).toLocaleString("fr-FR", {
  minimumFractionDigits: digits, maximumFractionDigits: digits,
});

function formatTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? timeFmt.format(date) : dateTimeFmt.format(date);
}

function formatAgo(iso) {
  if (!iso) return "jamais";
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `il y a ${seconds} s`;
  if (seconds < 3600) return `il y a ${Math.floor(seconds / 60)} min`;
  return `il y a ${Math.floor(seconds / 3600)} h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}`;
}

function cameraName(id) {
  const camera = state.cameras.get(Number(id));
  return camera ? camera.name : `caméra ${id}`;
}

// Reasons a bearing has no azimuth (services/fire_alerts.py), in the operators' words.
const UNKNOWN_BEARING_REASONS = {
  "camera has no heading": "caméra sans cap",
  "camera has no field of view": "caméra sans champ de vision",
};

function unknownReason(reason) {
  return UNKNOWN_BEARING_REASONS[reason] || reason || "raison non précisée";
}

function bearingName(bearing) {
  return bearing.name || bearing.camera_name || cameraName(bearing.camera_id) || bearing.camera;
}

// Area of a GeoJSON ring in m², in a local equirectangular frame (small polygons).
function ringAreaM2(ring) {
  const R = 6371008.8;
  const lat0 = (ring.reduce((sum, p) => sum + p[1], 0) / ring.length) * (Math.PI / 180);
  const xy = ring.map(([lon, lat]) => [R * lon * (Math.PI / 180) * Math.cos(lat0), R * lat * (Math.PI / 180)]);
  let twice = 0;
  for (let i = 0; i < xy.length - 1; i += 1) twice += xy[i][0] * xy[i + 1][1] - xy[i + 1][0] * xy[i][1];
  return Math.abs(twice) / 2;
}

// --- alert cards ------------------------------------------------------------------------------------

function sortedAlerts() {
  return [...state.alerts.values()].sort((a, b) => {
    const byTime = new Date(b.first_seen_at) - new Date(a.first_seen_at);
    return byTime !== 0 ? byTime : b.id - a.id;
  });
}

function cardOf(id) {
  return $(`#alert-list .alert-card[data-alert-id="${CSS.escape(String(id))}"]`);
}

function createCard(alert) {
  const card = $("#alert-card-template").content.firstElementChild.cloneNode(true);
  card.dataset.alertId = alert.id;
  card.addEventListener("click", (event) => {
    if (event.target.closest("button, input")) return;
    selectAlert(alert.id);
  });
  card.addEventListener("focus", () => markSeen(alert.id));
  for (const button of card.querySelectorAll("button.act")) {
    button.addEventListener("click", () => runAction(alert.id, button.dataset.action, card));
  }
  const img = $(".frame-img", card);
  img.addEventListener("load", () => sizeOverlay(card, state.alerts.get(Number(card.dataset.alertId))));
  return card;
}

function fillCard(card, alert) {
  card.dataset.status = alert.status;
  card.dataset.kind = alert.kind;
  card.dataset.publicId = alert.public_id;
  card.className = `alert-card kind-${alert.kind} status-${alert.status}`
    + (state.fresh.has(alert.id) ? " is-fresh" : "")
    + (String(state.selectedAlertId) === String(alert.id) ? " is-selected" : "");
  $(".kind-badge", card).textContent = KIND_LABELS[alert.kind] || alert.kind;
  $(".status-badge", card).textContent = STATUS_LABELS[alert.status] || alert.status;
  $(".card-title", card).textContent = `Alerte #${alert.id}`;
  $(".confidence", card).textContent = Number.isFinite(alert.confidence)
    ? `confiance ${Math.round(alert.confidence * 100)} %` : "";

  $(".f-first", card).textContent = formatTime(alert.first_seen_at);
  $(".f-last", card).textContent = `${formatTime(alert.last_seen_at)} (${formatAgo(alert.last_seen_at)})`;
  const cameraIds = alert.cameras?.length ? alert.cameras : (alert.bearings || []).map((b) => b.camera_id);
  $(".f-cameras", card).textContent = [...new Set(cameraIds)].map(cameraName).join(", ") || "–";

  const bearings = $(".f-bearings", card);
  bearings.replaceChildren();
  for (const bearing of alert.bearings || []) {
    const line = document.createElement("div");
    line.className = "bearing";
    line.dataset.cameraId = bearing.camera_id;
    if (!Number.isFinite(bearing.azimuth_deg)) {
      // The camera saw it but gives no direction (no heading): say why instead of a number.
      line.classList.add("bearing-unknown");
      line.textContent = `${bearingName(bearing)} : relèvement inconnu : ${unknownReason(bearing.reason)}`;
      bearings.appendChild(line);
      continue;
    }
    const cone = Number.isFinite(bearing.left_deg) && Number.isFinite(bearing.right_deg)
      ? ` (cône ${num(bearing.left_deg, 1)}° – ${num(bearing.right_deg, 1)}°)` : "";
    const range = Number.isFinite(bearing.range_m) ? `, portée ${num(bearing.range_m / 1000, 0)} km` : "";
    line.textContent = `${bearingName(bearing)} : ${num(bearing.azimuth_deg, 1)}°${cone}${range}`;
    bearings.appendChild(line);
  }
  if (!alert.bearings?.length) bearings.textContent = "–";

  const location = alert.location;
  if (location) {
    const ns = location.latitude >= 0 ? "N" : "S";
    const ew = location.longitude >= 0 ? "E" : "O";
    $(".f-lonlat", card).textContent = `${num(Math.abs(location.latitude), 5)}° ${ns}, `
      + `${num(Math.abs(location.longitude), 5)}° ${ew}`;
    $(".f-l93", card).textContent = Number.isFinite(location.x_l93)
      ? `X ${num(location.x_l93, 0)} m · Y ${num(location.y_l93, 0)} m` : "–";
  } else {
    const known = (alert.bearings || []).filter((b) => Number.isFinite(b.azimuth_deg)).length;
    $(".f-lonlat", card).textContent = known === 0 ? "Non localisée : aucun relèvement"
      : known === 1 ? "Non localisée : une seule caméra, relèvement seul"
        : "Non localisée : cônes sans intersection";
    $(".f-l93", card).textContent = "–";
  }
  const ring = alert.uncertainty?.coordinates?.[0];
  $(".f-uncertainty", card).textContent = ring && ring.length > 3
    ? `zone de ${num(ringAreaM2(ring) / 1e6, 2)} km²` : "–";
  $(".f-model", card).textContent = [alert.model_name, alert.model_version].filter(Boolean).join(" ")
    + (alert.calibration_version ? ` · calibration ${alert.calibration_version}` : "");

  const frameCamera = alert.frame_camera_id ?? alert.bearings?.[0]?.camera_id;
  $(".frame-caption", card).textContent = frameCamera !== undefined && frameCamera !== null
    ? `${cameraName(frameCamera)} · ${formatTime(alert.last_seen_at)}` : "";
  loadFrame(card, alert);

  const allowed = new Set(NEXT_ACTIONS[alert.status] || []);
  for (const button of card.querySelectorAll("button.act")) {
    button.disabled = !allowed.has(button.dataset.action) || card.dataset.busy === "1";
  }
}

async function loadFrame(card, alert) {
  const frame = $(".frame", card);
  if (!alert.frame_url) {
    frame.classList.add("no-frame");
    return;
  }
  frame.classList.remove("no-frame");
  // Reload when the alert moves to a better frame (same URL, new content after a merge).
  const key = `${alert.frame_url}|${JSON.stringify(alert.frame_box)}|${alert.last_seen_at}`;
  const cached = state.frames.get(alert.id);
  if (cached && cached.key === key) {
    sizeOverlay(card, alert);
    return;
  }
  state.frames.set(alert.id, { key, objectUrl: cached?.objectUrl ?? null });
  try {
    // fetch with the bearer header (an <img> cannot send it): tokens never travel in URLs, nor end in logs.
    const response = await fetch(alert.frame_url, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new HttpError(response.status, `image ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const entry = state.frames.get(alert.id);
    if (!entry || entry.key !== key) {
      URL.revokeObjectURL(url); // a newer frame was asked for meanwhile
      return;
    }
    if (entry.objectUrl) URL.revokeObjectURL(entry.objectUrl);
    entry.objectUrl = url;
    $(".frame-img", card).src = url;
  } catch (error) {
    frame.classList.add("no-frame");
    $(".frame-missing", card).textContent = `Image indisponible (${error.message})`;
  }
}

// The box overlay uses the frame's pixel grid as its viewBox, so it scales with the image.
function sizeOverlay(card, alert) {
  if (!alert) return;
  const img = $(".frame-img", card);
  const overlay = $(".frame-overlay", card);
  const rect = $(".frame-box", card);
  const [width, height] = alert.frame_size || [img.naturalWidth, img.naturalHeight];
  if (!width || !height) return;
  overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const box = alert.frame_box;
  if (Array.isArray(box) && box.length === 4) {
    const [x1, y1, x2, y2] = box;
    rect.setAttribute("x", x1);
    rect.setAttribute("y", y1);
    rect.setAttribute("width", Math.max(1, x2 - x1));
    rect.setAttribute("height", Math.max(1, y2 - y1));
    rect.style.display = "";
    showZoom(card, img, [width, height], box);
  } else {
    rect.style.display = "none";
    $(".frame-zoom", card).hidden = true;
  }
}

// A distant plume is a few pixels wide: an inset shows the region around the box three times larger.
function showZoom(card, img, [width, height], [x1, y1, x2, y2]) {
  const zoom = $(".frame-zoom", card);
  if (!img.src) return;
  const insetPx = 132; // matches .frame-zoom's CSS size
  const side = Math.max(48, 3 * Math.max(x2 - x1, y2 - y1)); // frame pixels shown across the inset
  const scale = insetPx / side;
  const left = (x1 + x2) / 2 - side / 2;
  const top = (y1 + y2) / 2 - side / 2;
  zoom.style.backgroundImage = `url("${img.src}")`;
  zoom.style.backgroundSize = `${width * scale}px ${height * scale}px`;
  zoom.style.backgroundPosition = `${-left * scale}px ${-top * scale}px`;
  // Put the inset in the top corner away from the detection, so that it never hides the box itself.
  const boxOnRight = (x1 + x2) / 2 > width / 2;
  zoom.style.left = boxOnRight ? "6px" : "auto";
  zoom.style.right = boxOnRight ? "auto" : "6px";
  zoom.hidden = false;
}

function renderAlerts() {
  const list = $("#alert-list");
  const ordered = sortedAlerts();
  for (const alert of ordered) {
    let card = cardOf(alert.id);
    if (!card) card = createCard(alert);
    fillCard(card, alert);
    list.appendChild(card); // appendChild moves an existing node: this also re-sorts
  }
  for (const card of list.querySelectorAll(".alert-card")) {
    if (!state.alerts.has(Number(card.dataset.alertId))) card.remove();
  }
  $("#alerts-empty").hidden = ordered.length > 0;
  $("#active-count").textContent = String(ordered.filter((a) => ACTIVE_STATUSES.has(a.status)).length);
  updateFreshBanner();
  drawMap();
}

function refreshAges() {
  for (const alert of state.alerts.values()) {
    const card = cardOf(alert.id);
    if (card) $(".f-last", card).textContent = `${formatTime(alert.last_seen_at)} (${formatAgo(alert.last_seen_at)})`;
  }
}

function upsertAlert(alert, { live = false } = {}) {
  const known = state.alerts.has(alert.id);
  // The stream reports every change, closed alerts included: one this page never showed stays away.
  if (!known && !ACTIVE_STATUSES.has(alert.status)) return;
  state.alerts.set(alert.id, alert);
  if (live && !known && alert.status === "new") {
    state.fresh.add(alert.id);
    beep();
  }
  if (alert.status !== "new") state.fresh.delete(alert.id);
  if (!ACTIVE_STATUSES.has(alert.status)) {
    // Active alerts only: let the card show its final status a moment, then drop it.
    setTimeout(() => {
      const current = state.alerts.get(alert.id);
      if (current && !ACTIVE_STATUSES.has(current.status)) {
        state.alerts.delete(alert.id);
        const frame = state.frames.get(alert.id);
        if (frame?.objectUrl) URL.revokeObjectURL(frame.objectUrl);
        state.frames.delete(alert.id);
        renderAlerts();
      }
    }, CLOSED_CARD_LINGER_MS);
  }
  renderAlerts();
}

async function runAction(id, action, card) {
  const error = $(".card-error", card);
  error.hidden = true;
  const note = $(".note", card).value.trim();
  card.dataset.busy = "1";
  for (const button of card.querySelectorAll("button.act")) button.disabled = true;
  markSeen(id);
  try {
    const updated = await api(`/alerts/${encodeURIComponent(id)}/${action}`, {
      method: "POST",
      body: note ? { note } : {},
    });
    $(".note", card).value = "";
    card.dataset.busy = "0";
    upsertAlert(updated);
  } catch (failure) {
    card.dataset.busy = "0";
    error.textContent = failure.status === 409
      ? `Action refusée : l'alerte a changé d'état (${failure.message}).`
      : `Échec de l'action : ${failure.message}`;
    error.hidden = false;
    fillCard(card, state.alerts.get(id));
  }
}

// --- cues --------------------------------------------------------------------------------------------

function markSeen(id) {
  if (state.fresh.delete(Number(id))) renderAlerts();
}

function updateFreshBanner() {
  const banner = $("#new-alert-banner");
  const fresh = sortedAlerts().filter((a) => state.fresh.has(a.id));
  banner.hidden = fresh.length === 0;
  if (fresh.length) {
    const latest = fresh[0];
    const where = (latest.bearings || []).map(bearingName).join(", ");
    banner.textContent = `NOUVELLE ALERTE — ${KIND_LABELS[latest.kind] || latest.kind} #${latest.id}`
      + (where ? ` · ${where}` : "") + (fresh.length > 1 ? ` (+${fresh.length - 1})` : "");
    banner.dataset.alertId = latest.id;
  }
  document.title = fresh.length ? `(${fresh.length}) ALERTE · Vigie` : "Vigie · Veille incendie";
}

// Browsers allow sound only after a user gesture: the context is created (or resumed) on the first one.
function unlockAudio() {
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  if (!AudioCtx) return;
  if (!state.audio) state.audio = new AudioCtx();
  if (state.audio.state === "suspended") state.audio.resume();
  const toggle = $("#sound-toggle");
  toggle.dataset.sound = "on";
  toggle.textContent = "Son : activé";
}

function beep() {
  const ctx = state.audio;
  if (!ctx || ctx.state !== "running") return;
  // Three two-tone pulses: unmistakable over a watch room's background noise, short enough not to annoy.
  const start = ctx.currentTime + 0.02;
  for (let i = 0; i < 3; i += 1) {
    for (const [offset, frequency] of [[0, 880], [0.16, 660]]) {
      const t = start + i * 0.45 + offset;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.15, t + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.14);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.15);
    }
  }
}

// --- cameras and map ---------------------------------------------------------------------------------

function normaliseCamera(raw) {
  // Health may come nested ({health: {state, last_frame_at}}) or flat; accept both.
  const health = raw.health || {};
  const camera = {
    ...raw,
    state: health.state ?? raw.state ?? "unknown",
    last_frame_at: health.last_frame_at ?? raw.last_frame_at ?? null,
    reportUp: health.up ?? raw.up ?? null, // the server's verdict (its worker still reports), if given
    lastError: health.last_error ?? raw.last_error ?? null,
  };
  camera.healthClass = healthClass(camera);
  return camera;
}

function healthClass(camera) {
  const stale = !camera.last_frame_at || Date.now() - new Date(camera.last_frame_at).getTime() > STALE_FRAME_MS;
  if (camera.state === "disabled") return "disabled";
  if (camera.state === "ended") return "ended"; // a file read to its end: finished, not broken (grey)
  const trusted = !stale && camera.reportUp !== false;
  if (camera.state === "up" && trusted) return "up";
  if (camera.state === "degraded" && trusted) return "degraded";
  return "down";
}

function setCameras(list) {
  state.cameras = new Map(list.map((raw) => {
    const camera = normaliseCamera(raw);
    return [Number(camera.id), camera];
  }));
  renderHealth();
  renderAlerts(); // camera names appear in cards; also redraws the map
}

function renderHealth() {
  const body = $("#health-rows");
  body.replaceChildren();
  const cameras = [...state.cameras.values()].sort((a, b) => String(a.name).localeCompare(String(b.name), "fr"));
  if (!cameras.length) {
    const row = body.insertRow();
    row.className = "placeholder";
    const cell = row.insertCell();
    cell.colSpan = 3;
    cell.textContent = "Aucune caméra de site incendie.";
    return;
  }
  for (const camera of cameras) {
    camera.healthClass = healthClass(camera); // time passes: re-evaluate staleness at each render
    const row = body.insertRow();
    row.className = `health-row health-${camera.healthClass}`;
    row.dataset.cameraId = camera.id;
    row.dataset.health = camera.healthClass;
    if (camera.lastError) row.title = camera.lastError;
    const name = row.insertCell();
    name.innerHTML = '<span class="led"></span>';
    name.append(camera.name || `caméra ${camera.id}`);
    const stale = camera.healthClass === "down" && ["up", "degraded"].includes(camera.state);
    row.insertCell().textContent = HEALTH_LABELS[stale ? "stale" : camera.state] || camera.state;
    const last = row.insertCell();
    last.textContent = camera.last_frame_at
      ? `${formatTime(camera.last_frame_at)} (${formatAgo(camera.last_frame_at)})` : "jamais";
  }
}

function drawMap() {
  const note = renderMap($("#fire-map"), {
    cameras: [...state.cameras.values()],
    alerts: sortedAlerts().filter((a) => ACTIVE_STATUSES.has(a.status)),
    tileTemplate: state.tileTemplate,
    selectedAlertId: state.selectedAlertId,
  });
  $("#map-note").textContent = note;
}

function selectAlert(id) {
  state.selectedAlertId = String(state.selectedAlertId) === String(id) ? null : id;
  markSeen(id);
  renderAlerts();
}

// --- live stream -------------------------------------------------------------------------------------

function setStreamState(name, label) {
  const pill = $("#stream-state");
  pill.dataset.state = name;
  pill.textContent = label;
  $("#stream-banner").hidden = name === "live" || name === "connecting";
}

// EventSource cannot send the bearer header: the page asks for a short-lived ticket (bearer-authenticated
// POST), which opens one stream. Every (re)connection therefore asks for a new ticket; the browser's own
// retry, which would reuse the spent one, is never relied on.
async function connectStream() {
  clearTimeout(state.reconnectTimer);
  if (state.source) state.source.close();
  state.source = null;
  state.connectAttempt += 1;
  const attempt = state.connectAttempt;
  let ticket;
  try {
    ({ ticket } = await api("/alerts/stream-ticket", { method: "POST" }));
  } catch (error) {
    if (attempt !== state.connectAttempt) return;
    if (error.status === 401) return; // api() already asks for a new token
    if (error.status === 403) {
      askForToken("Ce jeton n'a pas le rôle operator.");
      return;
    }
    setStreamState("down", "interrompu");
    scheduleReconnect();
    return;
  }
  if (attempt !== state.connectAttempt) return; // a newer connection, a new token or a logout meanwhile
  const source = new EventSource(`${API}/alerts/stream?ticket=${encodeURIComponent(ticket)}`);
  state.source = source;
  const alive = () => {
    state.lastEventAt = Date.now();
  };
  source.addEventListener("open", () => {
    alive();
    state.reconnectDelay = 1000;
    setStreamState("live", "en direct");
    // Catch up on what happened while the stream was down.
    refreshAlerts({ live: true }).catch(() => {});
  });
  source.addEventListener("alert", (event) => {
    alive();
    upsertAlert(JSON.parse(event.data), { live: true });
  });
  source.addEventListener("health", (event) => {
    alive();
    const payload = JSON.parse(event.data);
    setCameras(Array.isArray(payload) ? payload : payload.cameras || []);
  });
  for (const name of ["heartbeat", "ping", "message"]) source.addEventListener(name, alive);
  source.addEventListener("revoked", () => {
    // The server ends the stream: the token was revoked or expired while the page listened.
    if (state.source !== source) return;
    askForToken("Jeton révoqué ou expiré : collez un jeton valide.");
  });
  source.addEventListener("error", () => {
    if (state.source !== source) return;
    setStreamState("down", "interrompu");
    source.close(); // its ticket is spent: reconnect with a new one
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  clearTimeout(state.reconnectTimer);
  const delay = state.reconnectDelay;
  state.reconnectDelay = Math.min(RECONNECT_MAX_MS, delay * 2);
  // The ticket request answers 401 for a dead token: the page then asks for a new one instead of looping.
  state.reconnectTimer = setTimeout(() => connectStream(), delay);
}

function watchStream() {
  if (!state.source || !state.token) return;
  if (state.source.readyState === EventSource.OPEN && Date.now() - state.lastEventAt > STREAM_SILENCE_MS) {
    setStreamState("down", "muet");
    state.source.close();
    scheduleReconnect();
  }
}

async function refreshAlerts({ live = false } = {}) {
  const list = await api("/alerts?active=true");
  const seen = new Set();
  for (const alert of list) {
    seen.add(alert.id);
    upsertAlert(alert, { live });
  }
  // Alerts closed while we were not listening disappear.
  for (const id of [...state.alerts.keys()]) {
    if (!seen.has(id)) state.alerts.delete(id);
  }
  renderAlerts();
}

async function refreshCameras() {
  try {
    setCameras(await api("/fire/cameras"));
  } catch (error) {
    if (error.status !== 401) console.warn("cameras:", error.message);
  }
}

function showDangerLevel(payload) {
  const select = $("#danger-level");
  select.value = String(payload.level);
  select.dataset.level = String(payload.level);
  select.title = payload.is_default
    ? "Niveau par défaut : personne ne l'a réglé aujourd'hui"
    : `Réglé par ${payload.set_by} à ${formatTime(payload.set_at)}`;
}

async function refreshDangerLevel() {
  try {
    showDangerLevel(await api("/fire/danger-level"));
  } catch {
    // optional: the console works without it
  }
}

async function setDangerLevel(level) {
  const select = $("#danger-level");
  select.disabled = true;
  try {
    showDangerLevel(await api("/fire/danger-level", { method: "PUT", body: { level } }));
  } catch (error) {
    select.value = select.dataset.level; // keep showing what is stored
    window.alert(`Niveau de risque non enregistré : ${error.message}`);
  } finally {
    select.disabled = false;
  }
}

async function loadTileTemplate() {
  // Injected by the page route from the server's VIGIE_TILE_URL setting (none: the offline SVG map).
  state.tileTemplate = window.VIGIE_TILE_URL || null;
}

// --- start -------------------------------------------------------------------------------------------

function askForToken(message = "") {
  clearTimeout(state.reconnectTimer);
  state.connectAttempt += 1; // a connection waiting for its ticket gives up
  if (state.source) {
    state.source.close();
    state.source = null;
  }
  const dialog = $("#token-dialog");
  const error = $("#token-error");
  error.hidden = !message;
  error.textContent = message;
  if (!dialog.open) dialog.showModal();
  $("#token-input").focus();
}

async function start() {
  // A new token can be given while a start with the previous one is still awaiting: the older one stops.
  state.generation = (state.generation || 0) + 1;
  const generation = state.generation;
  const superseded = () => generation !== state.generation;
  setStreamState("connecting", "connexion…");
  try {
    await loadTileTemplate();
    if (superseded()) return;
    await refreshCameras();
    if (superseded()) return;
    await refreshAlerts();
  } catch (error) {
    if (superseded()) return;
    if (error.status === 401 || error.status === 403) {
      askForToken(error.status === 403 ? "Ce jeton n'a pas le rôle operator." : "Jeton refusé.");
      return;
    }
    setStreamState("down", "erreur");
  }
  if (superseded()) return;
  refreshDangerLevel();
  state.reconnectDelay = 1000;
  connectStream();
}

function init() {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token-input").value.trim();
    if (!value) return;
    state.token = value;
    localStorage.setItem(TOKEN_KEY, value);
    $("#token-dialog").close();
    $("#token-input").value = "";
    start();
  });
  $("#danger-level").addEventListener("change", (event) => setDangerLevel(Number(event.target.value)));
  $("#logout").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    state.token = null;
    askForToken();
  });
  $("#new-alert-banner").addEventListener("click", (event) => {
    const id = Number(event.currentTarget.dataset.alertId);
    cardOf(id)?.scrollIntoView({ behavior: "smooth", block: "center" });
    selectAlert(id);
  });
  // The first gesture anywhere unlocks sound (autoplay policy); the button just makes it explicit.
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, unlockAudio, { once: true });
  $("#sound-toggle").addEventListener("click", unlockAudio);

  const tick = () => {
    $("#clock").textContent = timeFmt.format(new Date());
  };
  tick();
  setInterval(tick, 1000);
  setInterval(() => {
    renderHealth(); // "il y a …" and staleness move with time
    refreshAges();
    watchStream();
  }, 5000);

  if (state.token) start();
  else askForToken();
}

init();
