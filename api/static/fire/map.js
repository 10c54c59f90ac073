// The console's map: cameras, their fields of view, alert cones / bearing lines, triangulated points and
// uncertainty polygons, drawn as SVG in a local projection so that it works without internet tiles.
// Offline it is equirectangular around the data (metres east/north scaled by cos(latitude)); with a tile
// URL template it switches to Web Mercator so that XYZ raster tiles line up under the drawing.

const SVG_NS = "http://www.w3.org/2000/svg";
const EARTH_RADIUS_M = 6371008.8; // mean radius: distances on the sphere
const MERCATOR_RADIUS_M = 6378137; // EPSG:3857 sphere
const DEG = Math.PI / 180;
const DEFAULT_CONE_RANGE_M = 20000; // a bearing without a range is drawn this far
const DEFAULT_FOV_RANGE_M = 10000;
const MAX_TILES = 80; // a guard against a silly zoom flooding a tile server
const TILE_SIZE_PX = 256;

export function wrapDeg(deg) {
  return ((deg % 360) + 360) % 360;
}

// The point `distanceM` from (lon, lat) along the great circle leaving at `azimuthDeg` (clockwise from north).
export function destination(lon, lat, azimuthDeg, distanceM) {
  const delta = distanceM / EARTH_RADIUS_M;
  const theta = azimuthDeg * DEG;
  const phi1 = lat * DEG;
  const lambda1 = lon * DEG;
  const phi2 = Math.asin(Math.sin(phi1) * Math.cos(delta) + Math.cos(phi1) * Math.sin(delta) * Math.cos(theta));
  const lambda2 = lambda1 + Math.atan2(
    Math.sin(theta) * Math.sin(delta) * Math.cos(phi1),
    Math.cos(delta) - Math.sin(phi1) * Math.sin(phi2),
  );
  return [((lambda2 / DEG + 540) % 360) - 180, phi2 / DEG];
}

// Points along the arc from leftDeg clockwise to rightDeg (handles the 0/360° wrap: 350° → 10° is 20° wide).
export function arcPoints(lon, lat, leftDeg, rightDeg, rangeM, steps = 24) {
  const width = wrapDeg(rightDeg - leftDeg);
  const points = [];
  for (let i = 0; i <= steps; i += 1) {
    points.push(destination(lon, lat, leftDeg + (width * i) / steps, rangeM));
  }
  return points;
}

// Web Mercator metres of a WGS84 point (EPSG:3857).
export function toMercator(lon, lat) {
  const clamped = Math.max(-85.05112878, Math.min(85.05112878, lat));
  return [MERCATOR_RADIUS_M * lon * DEG, MERCATOR_RADIUS_M * Math.log(Math.tan(Math.PI / 4 + (clamped * DEG) / 2))];
}

// The XYZ tile (slippy-map numbering: y down from the north) that contains a WGS84 point at `zoom`.
export function lonLatToTile(lon, lat, zoom) {
  const [x, y] = toMercator(lon, lat);
  const world = 2 * Math.PI * MERCATOR_RADIUS_M;
  const n = 2 ** zoom;
  return {
    x: Math.floor(((x + world / 2) / world) * n),
    y: Math.floor(((world / 2 - y) / world) * n),
    z: zoom,
  };
}

export function tileUrl(template, z, x, y) {
  return template.replaceAll("{z}", String(z)).replaceAll("{x}", String(x)).replaceAll("{y}", String(y))
    .replaceAll("{s}", "abc"[(x + y) % 3]);
}

// A projection fitted to a bounding box of WGS84 points: project(lon, lat) → SVG pixels.
// `pxPerGroundMetre` sizes the scale bar (Mercator stretches ground distances by 1/cos(latitude)).
export function fitProjection(lonLats, width, height, { mercator = false, paddingPx = 40 } = {}) {
  const lats = lonLats.map((p) => p[1]);
  const lons = lonLats.map((p) => p[0]);
  const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
  const lon0 = (Math.min(...lons) + Math.max(...lons)) / 2;
  const cosLat0 = Math.cos(lat0 * DEG);
  const raw = mercator
    ? (lon, lat) => toMercator(lon, lat)
    : (lon, lat) => [EARTH_RADIUS_M * (lon - lon0) * DEG * cosLat0, EARTH_RADIUS_M * (lat - lat0) * DEG];
  const xy = lonLats.map(([lon, lat]) => raw(lon, lat));
  const xs = xy.map((p) => p[0]);
  const ys = xy.map((p) => p[1]);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const minY = Math.min(...ys);
  const maxY = Math.max(...ys);
  // A lone camera has no extent: show 10 km around it.
  const spanX = Math.max(maxX - minX, 10000);
  const spanY = Math.max(maxY - minY, 10000);
  const scale = Math.min((width - 2 * paddingPx) / spanX, (height - 2 * paddingPx) / spanY);
  const midX = (minX + maxX) / 2;
  const midY = (minY + maxY) / 2;
  const toPx = ([x, y]) => [width / 2 + (x - midX) * scale, height / 2 - (y - midY) * scale];
  return {
    mercator,
    width,
    height,
    scale, // SVG pixels per projected unit
    pxPerGroundMetre: mercator ? scale / cosLat0 : scale,
    project: (lon, lat) => toPx(raw(lon, lat)),
    projectedToPx: toPx,
    // Projected (mercator) coordinates of a pixel, for tiles.
    unproject: (px, py) => [midX + (px - width / 2) / scale, midY - (py - height / 2) / scale],
  };
}

// 1, 2 or 5 × 10^n metres: the largest round distance no longer than `maxMetres`.
export function niceDistance(maxMetres) {
  const power = 10 ** Math.floor(Math.log10(maxMetres));
  for (const step of [5, 2, 1]) {
    if (step * power <= maxMetres) return step * power;
  }
  return power;
}

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  if (text !== null) node.textContent = text;
  return node;
}

function pathOf(points, close = false) {
  const parts = points.map(([x, y], i) => `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`);
  return parts.join(" ") + (close ? " Z" : "");
}

function hasPosition(item) {
  return Number.isFinite(item?.longitude) && Number.isFinite(item?.latitude);
}

// Bearings that can be drawn: a camera position and an azimuth (a camera without heading has none).
function alertCones(alert) {
  return (alert.bearings || []).filter((b) => hasPosition(b) && Number.isFinite(b.azimuth_deg));
}

function coneRange(bearing) {
  return Number.isFinite(bearing.range_m) && bearing.range_m > 0 ? bearing.range_m : DEFAULT_CONE_RANGE_M;
}

function coneEdges(bearing) {
  const azimuth = Number(bearing.azimuth_deg);
  const left = Number.isFinite(bearing.left_deg) ? bearing.left_deg : azimuth - 0.5;
  const right = Number.isFinite(bearing.right_deg) ? bearing.right_deg : azimuth + 0.5;
  return [left, right];
}

// Every WGS84 point the view must contain: cameras, their FOV arcs, cones, alert points and polygons.
function extentPoints(cameras, alerts) {
  const points = [];
  for (const camera of cameras.filter(hasPosition)) {
    points.push([camera.longitude, camera.latitude]);
    if (Number.isFinite(camera.heading_deg) && Number.isFinite(camera.hfov_deg)) {
      const half = camera.hfov_deg / 2;
      points.push(...arcPoints(camera.longitude, camera.latitude, camera.heading_deg - half,
        camera.heading_deg + half, DEFAULT_FOV_RANGE_M, 4));
    }
  }
  for (const alert of alerts) {
    for (const bearing of alertCones(alert)) {
      const [left, right] = coneEdges(bearing);
      points.push([bearing.longitude, bearing.latitude]);
      points.push(...arcPoints(bearing.longitude, bearing.latitude, left, right, coneRange(bearing), 2));
    }
    if (hasPosition(alert.location)) points.push([alert.location.longitude, alert.location.latitude]);
    for (const ring of alert.uncertainty?.coordinates || []) points.push(...ring);
  }
  return points;
}

function drawTiles(group, projection, template) {
  const world = 2 * Math.PI * MERCATOR_RADIUS_M;
  // The zoom whose tile pixels are closest to screen pixels.
  const zoom = Math.max(0, Math.min(19, Math.round(Math.log2((world * projection.scale) / TILE_SIZE_PX))));
  const n = 2 ** zoom;
  const [west, north] = projection.unproject(0, 0);
  const [east, south] = projection.unproject(projection.width, projection.height);
  const col = (x) => Math.floor(((x + world / 2) / world) * n);
  const row = (y) => Math.floor(((world / 2 - y) / world) * n);
  const x0 = Math.max(0, col(west));
  const x1 = Math.min(n - 1, col(east));
  const y0 = Math.max(0, row(north));
  const y1 = Math.min(n - 1, row(south));
  if ((x1 - x0 + 1) * (y1 - y0 + 1) > MAX_TILES) return 0;
  const tilePx = (world / n) * projection.scale;
  let count = 0;
  for (let x = x0; x <= x1; x += 1) {
    for (let y = y0; y <= y1; y += 1) {
      const [left, top] = projection.projectedToPx([(x / n) * world - world / 2, world / 2 - (y / n) * world]);
      group.appendChild(el("image", {
        class: "map-tile",
        href: tileUrl(template, zoom, x, y),
        x: left.toFixed(1),
        y: top.toFixed(1),
        width: (tilePx + 0.5).toFixed(1), // overlap half a pixel: no hairline seams
        height: (tilePx + 0.5).toFixed(1),
        preserveAspectRatio: "none",
        "data-tile": `${zoom}/${x}/${y}`,
      }));
      count += 1;
    }
  }
  return count;
}

function drawDecor(group, projection) {
  const { width, height } = projection;
  // Scale bar: a round distance about a fifth of the width, bottom left.
  const metres = niceDistance((width / 5) / projection.pxPerGroundMetre);
  const barPx = metres * projection.pxPerGroundMetre;
  const x = 20;
  const y = height - 24;
  const scale = el("g", { class: "scale-bar" });
  scale.appendChild(el("rect", { x: x - 6, y: y - 22, width: barPx + 12, height: 34, class: "decor-bg" }));
  scale.appendChild(el("path", { d: `M${x},${y - 6} V${y} H${x + barPx} V${y - 6}`, class: "scale-line" }));
  const label = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
  scale.appendChild(el("text", { x: x + barPx / 2, y: y - 9, class: "scale-label", "text-anchor": "middle" }, label));
  group.appendChild(scale);
  // North arrow, top right (both projections keep north up).
  const arrow = el("g", { class: "north-arrow", transform: `translate(${width - 34},40)` });
  arrow.appendChild(el("circle", { r: 20, class: "decor-bg" }));
  arrow.appendChild(el("path", { d: "M0,-15 L7,8 L0,3 L-7,8 Z", class: "north-shape" }));
  arrow.appendChild(el("text", { y: -22, "text-anchor": "middle", class: "north-label" }, "N"));
  group.appendChild(arrow);
}

// Redraws the whole map; returns a short description of the view for the caption.
export function renderMap(svg, { cameras = [], alerts = [], tileTemplate = null, selectedAlertId = null } = {}) {
  const width = 800;
  const height = 560;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const points = extentPoints(cameras, alerts);
  if (points.length === 0) {
    svg.appendChild(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "map-empty" },
      "Aucune caméra géolocalisée"));
    return "aucune caméra géolocalisée";
  }
  const projection = fitProjection(points, width, height, { mercator: Boolean(tileTemplate) });
  const layer = (name) => svg.appendChild(el("g", { class: `layer layer-${name}` }));
  const tiles = layer("tiles");
  const fovs = layer("fov");
  const cones = layer("cones");
  const zones = layer("uncertainty");
  const marks = layer("points");
  const cams = layer("cameras");
  const decor = layer("decor");
  const tileCount = tileTemplate ? drawTiles(tiles, projection, tileTemplate) : 0;

  for (const camera of cameras.filter(hasPosition)) {
    const [cx, cy] = projection.project(camera.longitude, camera.latitude);
    if (Number.isFinite(camera.heading_deg) && Number.isFinite(camera.hfov_deg)) {
      const half = camera.hfov_deg / 2;
      const arc = arcPoints(camera.longitude, camera.latitude, camera.heading_deg - half,
        camera.heading_deg + half, DEFAULT_FOV_RANGE_M).map(([lon, lat]) => projection.project(lon, lat));
      fovs.appendChild(el("path", { d: pathOf([[cx, cy], ...arc], true), class: "camera-fov",
        "data-camera-id": camera.id }));
    }
    const group = el("g", { class: `camera-mark state-${camera.healthClass || "unknown"}`, "data-camera-id": camera.id });
    group.appendChild(el("circle", { cx, cy, r: 6, class: "camera-dot" }));
    group.appendChild(el("text", { x: cx + 9, y: cy - 8, class: "camera-label" }, camera.name || `caméra ${camera.id}`));
    cams.appendChild(group);
  }

  for (const alert of alerts) {
    const selected = selectedAlertId !== null && String(alert.id) === String(selectedAlertId);
    const kindClass = `kind-${alert.kind || "smoke"}${selected ? " selected" : ""}`;
    for (const bearing of alertCones(alert)) {
      const [left, right] = coneEdges(bearing);
      const range = coneRange(bearing);
      const origin = projection.project(bearing.longitude, bearing.latitude);
      const arc = arcPoints(bearing.longitude, bearing.latitude, left, right, range)
        .map(([lon, lat]) => projection.project(lon, lat));
      cones.appendChild(el("path", { d: pathOf([origin, ...arc], true), class: `alert-cone ${kindClass}`,
        "data-alert-id": alert.id, "data-camera-id": bearing.camera_id }));
      const tip = projection.project(...destination(bearing.longitude, bearing.latitude, bearing.azimuth_deg, range));
      cones.appendChild(el("line", { x1: origin[0], y1: origin[1], x2: tip[0], y2: tip[1],
        class: `bearing-line ${kindClass}`, "data-alert-id": alert.id, "data-camera-id": bearing.camera_id }));
    }
    const ring = alert.uncertainty?.coordinates?.[0];
    if (ring && ring.length > 2) {
      zones.appendChild(el("path", { d: pathOf(ring.map(([lon, lat]) => projection.project(lon, lat)), true),
        class: `alert-uncertainty ${kindClass}`, "data-alert-id": alert.id }));
    }
    if (hasPosition(alert.location)) {
      const [x, y] = projection.project(alert.location.longitude, alert.location.latitude);
      const mark = el("g", { class: `alert-point ${kindClass}`, "data-alert-id": alert.id,
        transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` });
      mark.appendChild(el("circle", { r: 9, class: "alert-point-halo" }));
      mark.appendChild(el("path", { d: "M-6,0 H6 M0,-6 V6", class: "alert-point-cross" }));
      mark.appendChild(el("text", { x: 12, y: 4, class: "alert-point-label" }, `#${alert.id}`));
      marks.appendChild(mark);
    }
  }
  drawDecor(decor, projection);
  return tileTemplate
    ? `Web Mercator · ${tileCount} tuile(s)`
    : "projection locale équirectangulaire · sans fond de carte";
}
