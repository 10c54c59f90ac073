"""A station's shoreline report: a map of shorelines coloured by date over the latest plan image, the
position time series of a few transects, and the table of change rates (NSM, EPR, LRR with R² and 95 %
band), as one self-contained HTML page (figures inlined as PNG) and one PDF (matplotlib's PdfPages).

Figures are built with `matplotlib.figure.Figure` (no pyplot global state), so that reports can be drawn
from API threads. Shoreline positions come from the stored per-transect distances (DSAS conventions, see
`change.py`); every shoreline is given the same position uncertainty (`position_uncertainty_m`), which
feeds the NSM/EPR uncertainty.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import matplotlib

matplotlib.use("Agg")  # headless servers; must precede the Figure import's backend use
import matplotlib.dates as mdates
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from vigie.pipelines.shoreline.change import TransectChange, change_table

DEFAULT_POSITION_UNCERTAINTY_M = 5.0  # per shoreline, m: CoastSnap's order of magnitude on sandy beaches
MAX_SERIES_TRANSECTS = 6
MAX_LEGEND_SHORELINES = 8  # more: a date colour bar instead of one legend entry each


@dataclass(frozen=True, slots=True)
class ReportShoreline:
    id: int
    photo_id: int
    taken_at: datetime | None
    water_level_m: float | None
    world_xy: np.ndarray  # (N, 2) in the station's EPSG
    confidence: np.ndarray
    transect_distances: list[float]  # NaN where the shoreline misses a transect
    calibration_version: str
    plan_path: Path | None = None


@dataclass(frozen=True, slots=True)
class StationReportData:
    slug: str
    name: str
    epsg: int
    origin_xy: tuple[float, ...]
    plan: dict[str, Any] | None  # world bounds {x_min, x_max, y_min, y_max, resolution_m}
    transects: np.ndarray  # (T, 4) x0, y0, x1, y1 world, landward first
    shorelines: list[ReportShoreline]
    photo_counts: dict[str, int]
    flagged: list[tuple[int, datetime | None, str]]
    calibration_version: str | None = None

    @property
    def dated(self) -> list[ReportShoreline]:
        return sorted((s for s in self.shorelines if s.taken_at is not None), key=lambda s: s.taken_at)


@dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    pdf: Path


def compute_changes(
    data: StationReportData, position_uncertainty_m: float = DEFAULT_POSITION_UNCERTAINTY_M
) -> list[TransectChange]:
    dated = data.dated
    n_t = len(data.transects)
    if not dated or n_t == 0:
        return []
    matrix = np.full((len(dated), n_t), np.nan)
    for i, s in enumerate(dated):
        d = np.asarray(s.transect_distances[:n_t], dtype=float)
        matrix[i, : len(d)] = d
    return change_table([s.taken_at for s in dated], matrix, [position_uncertainty_m] * len(dated))


def _date_colours(shorelines: Sequence[ReportShoreline]) -> tuple[Any, Normalize]:
    times = [mdates.date2num(s.taken_at) for s in shorelines]
    norm = Normalize(vmin=min(times), vmax=max(times) if max(times) > min(times) else min(times) + 1)
    return colormaps["viridis"], norm


def crs_label(epsg: int) -> str:
    """`GDA94 / MGA zone 56, EPSG:28356`: the name tells a reader which grid the metres are in."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return f"{CRS.from_epsg(epsg).name}, EPSG:{epsg}"
    except CRSError:
        return f"EPSG:{epsg}"


def _shoreline_label(s: ReportShoreline) -> str:
    level = "" if s.water_level_m is None else f", water level {s.water_level_m:.2f} m"
    return f"{s.taken_at:%Y-%m-%d %H:%M} UTC{level}"


def _transect_colours(changes: Sequence[TransectChange]) -> dict[int, Any]:
    """The transects of the time-series figure and their colours (the same on the map and the series)."""
    cycle = colormaps["tab10"]
    return {k: cycle(i % 10) for i, k in enumerate(series_transects(changes))}


def map_figure(data: StationReportData, changes: Sequence[TransectChange] | None = None) -> Figure:
    """Shorelines coloured by photo date over the latest plan image (world coordinates, north up), with the
    transects of the time-series figure numbered in their colours."""
    changes = compute_changes(data) if changes is None else changes
    fig = Figure(figsize=(8, 7), layout="constrained")
    ax = fig.add_subplot()
    dated = data.dated
    latest = next((s for s in reversed(dated) if s.plan_path and s.plan_path.is_file()), None)
    if latest is not None and data.plan:
        plan = cv2.imread(str(latest.plan_path), cv2.IMREAD_COLOR)
        if plan is not None:
            # Row i of a plan image is y_min + i·res: origin="lower" puts north up.
            ax.imshow(
                plan[:, :, ::-1],
                origin="lower",
                extent=(data.plan["x_min"], data.plan["x_max"], data.plan["y_min"], data.plan["y_max"]),
            )
    for x0, y0, x1, y1 in data.transects:
        ax.plot([x0, x1], [y0, y1], color="white", lw=0.4, alpha=0.5)
    for k, colour in _transect_colours(changes).items():
        if k < len(data.transects):
            x0, y0, x1, y1 = data.transects[k]
            ax.plot([x0, x1], [y0, y1], color=colour, lw=1.2)
            ax.annotate(
                str(k),
                (x1, y1),
                color=colour,
                fontsize=8,
                fontweight="bold",
                ha="center",
                va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colour, "alpha": 0.85},
            )
    if dated:
        cmap, norm = _date_colours(dated)
        for s in dated:
            ax.plot(
                s.world_xy[:, 0],
                s.world_xy[:, 1],
                color=cmap(norm(mdates.date2num(s.taken_at))),
                lw=1.8,
                label=_shoreline_label(s),
            )
        if len(dated) <= MAX_LEGEND_SHORELINES:
            ax.legend(title="photo date (shoreline at its water level)", fontsize=7, title_fontsize=8)
        else:
            bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8)
            locator = mdates.AutoDateLocator()
            bar.ax.yaxis.set_major_locator(locator)
            bar.ax.yaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            bar.set_label("date of the photo (UTC)")
        title = f"{data.name}: {len(dated)} shoreline(s) coloured by photo date"
        if latest is not None:
            title += f"\nbackground: plan image of {latest.taken_at:%Y-%m-%d}"
    else:
        ax.text(0.5, 0.5, "no dated shoreline yet", transform=ax.transAxes, ha="center")
        title = f"{data.name}: no shoreline yet"
    ax.annotate(
        "N\n↑",
        (0.03, 0.97),
        xycoords="axes fraction",
        ha="center",
        va="top",
        fontsize=11,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8},
    )
    ax.set_aspect("equal")
    crs = crs_label(data.epsg)
    ax.set_xlabel(f"easting (m) — {crs}")
    ax.set_ylabel("northing (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title(title)
    return fig


def series_transects(changes: Sequence[TransectChange], limit: int = MAX_SERIES_TRANSECTS) -> list[int]:
    """Up to `limit` transects spread along the beach among those crossed by the most shorelines."""
    usable = [c.transect for c in changes if c.n_shorelines >= 1]
    if not usable:
        return []
    best = max(c.n_shorelines for c in changes)
    candidates = [c.transect for c in changes if c.n_shorelines == best] or usable
    pick = np.unique(np.linspace(0, len(candidates) - 1, min(limit, len(candidates))).round().astype(int))
    return [candidates[i] for i in pick]


def series_figure(data: StationReportData, changes: Sequence[TransectChange]) -> Figure:
    """Position against date on a few transects (colours as on the map), with their LRR line."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    dated = data.dated
    by_id = {c.transect: c for c in changes}
    for k, colour in _transect_colours(changes).items():
        crossed = [s for s in dated if k < len(s.transect_distances) and np.isfinite(s.transect_distances[k])]
        times = [s.taken_at for s in crossed]
        pos = [s.transect_distances[k] for s in crossed]
        c = by_id.get(k)
        rate = "" if c is None or c.lrr_m_per_yr is None else f", LRR {c.lrr_m_per_yr:+.2f} m/yr"
        ax.plot(times, pos, "o-", ms=4, color=colour, label=f"transect {k}{rate}")
        if c is not None and c.lrr_m_per_yr is not None and len(times) >= 2:
            # The regression line through the mean position at the mean date.
            t = np.array([mdates.date2num(x) for x in times])
            fit = np.mean(pos) + c.lrr_m_per_yr / 365.2425 * (t - t.mean())
            ax.plot(times, fit, "--", color=colour, lw=1)
    if not ax.lines:
        ax.text(0.5, 0.5, "no transect crossed yet", transform=ax.transAxes, ha="center")
    elif len({s.taken_at for s in dated}) == 1:
        # One date: a month either side, not matplotlib's default years.
        only = mdates.date2num(dated[0].taken_at)
        ax.set_xlim(only - 30, only + 30)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("date of the photo (UTC)")
    ax.set_ylabel("distance from transect origin (m, + seaward)")
    ax.set_title("Shoreline position per transect (dashed: linear regression, LRR)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncols=2)
    return fig


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


RATE_HEADERS = (
    "transect",
    "shorelines",
    "NSM (m)",
    "± (m)",
    "EPR (m/yr)",
    "± (m/yr)",
    "LRR (m/yr)",
    "R²",
    "SE (m/yr)",
    "LRR 95 % band (m/yr)",
)
RATE_COLUMN_WIDTHS = (0.07, 0.08, 0.08, 0.07, 0.09, 0.08, 0.09, 0.06, 0.08, 0.2)
METHOD_NOTES = (
    "Positions are distances along each transect from its landward origin; positive changes are seaward "
    "(accretion), negative landward (erosion). DSAS conventions.",
    "NSM: net shoreline movement, youngest − oldest position. EPR: end point rate, NSM / time between "
    f"them; ± from {DEFAULT_POSITION_UNCERTAINTY_M:g} m per shoreline.",
    "LRR: least-squares slope of position on date over every shoreline crossing the transect, with R², "
    "its standard error (SE) and 95 % band (t distribution, n − 2 degrees of freedom; needs 3 shorelines).",
    "Each shoreline is the sand/water edge at the water level of its photo's time (tide + setup), so part "
    "of a change between two dates can be the tide.",
)
MAX_LISTED_SET_ASIDE = 25  # photos listed on the PDF cover
WRAP_CHARS = 110  # characters per line of the PDF cover at 8.5 pt in the A4 margins


def rate_rows(changes: Sequence[TransectChange]) -> list[list[str]]:
    rows = []
    for c in changes:
        if c.nsm_m is None:
            continue
        band = (
            "–"
            if c.lrr_ci95_m_per_yr is None
            else f"{c.lrr_ci95_m_per_yr[0]:.2f} … {c.lrr_ci95_m_per_yr[1]:.2f}"
        )
        rows.append(
            [
                str(c.transect),
                str(c.n_shorelines),
                _fmt(c.nsm_m),
                _fmt(c.nsm_uncertainty_m),
                _fmt(c.epr_m_per_yr),
                _fmt(c.epr_uncertainty_m_per_yr),
                _fmt(c.lrr_m_per_yr),
                _fmt(c.lrr_r2),
                _fmt(c.lrr_se_m_per_yr),
                band,
            ]
        )
    return rows


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _summary_lines(data: StationReportData, changes: Sequence[TransectChange]) -> list[str]:
    dated = data.dated
    lines = [
        f"Station {data.name} ({data.slug}); coordinates in {crs_label(data.epsg)}; calibration "
        f"{data.calibration_version or 'unknown'}.",
        "Photos: " + ", ".join(f"{k} {v}" for k, v in data.photo_counts.items() if v) + "."
        if any(data.photo_counts.values())
        else "Photos: none yet.",
        f"Shorelines: {len(data.shorelines)} ({len(dated)} dated)"
        + (f", from {dated[0].taken_at:%Y-%m-%d} to {dated[-1].taken_at:%Y-%m-%d}." if dated else "."),
    ]
    rated = [c for c in changes if c.epr_m_per_yr is not None]
    if rated:
        lines.append(
            f"Rates on {len(rated)} transects; mean EPR {np.mean([c.epr_m_per_yr for c in rated]):.2f} m/yr "
            "(positive: seaward, accretion; negative: erosion)."
        )
    else:
        lines.append("Rates need two dated shorelines crossing the same transect: not available yet.")
    return lines


def _set_aside_lines(data: StationReportData) -> list[str]:
    return [
        f"photo {pid} ({'date unknown' if t is None else f'{t:%Y-%m-%d %H:%M} UTC'}): {reason}"
        for pid, t, reason in data.flagged
    ]


def render_html(data: StationReportData, changes: Sequence[TransectChange] | None = None) -> str:
    changes = compute_changes(data) if changes is None else changes
    map_png, series_png = _png(map_figure(data, changes)), _png(series_figure(data, changes))
    esc = html.escape
    rows = rate_rows(changes)
    table = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in r) + "</tr>" for r in rows)
    set_aside = "".join(f"<li>{esc(line)}</li>" for line in _set_aside_lines(data))
    summary = "".join(f"<p>{esc(line)}</p>" for line in _summary_lines(data, changes))
    notes = "".join(f"<li>{esc(line)}</li>" for line in METHOD_NOTES)
    headers = "".join(f"<th>{esc(h)}</th>" for h in RATE_HEADERS)
    generated = datetime.now(UTC)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shoreline report — {esc(data.name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}}
img{{max-width:100%}}table{{border-collapse:collapse;font-size:.85rem}}
td,th{{border:1px solid #ccc;padding:.2rem .4rem;text-align:right}}.note{{color:#555;font-size:.9rem}}</style>
</head><body>
<h1>Shoreline report — {esc(data.name)}</h1>
<p class="note">Generated {generated:%Y-%m-%d %H:%M} UTC.</p>
{summary}
<h2>Shorelines by photo date</h2><img alt="map of the shorelines" src="data:image/png;base64,{map_png}">
<h2>Position per transect</h2>
<img alt="shoreline position per transect" src="data:image/png;base64,{series_png}">
<h2>Change rates per transect (DSAS)</h2>
<ul class="note">{notes}</ul>
<table><thead><tr>{headers}</tr></thead><tbody>{table}</tbody></table>
<h2>Photos set aside</h2><ul>{set_aside or "<li>none</li>"}</ul>
</body></html>
"""


def _cover(data: StationReportData, changes: Sequence[TransectChange]) -> Figure:
    """Title, summary, method notes and the photos set aside (A4 portrait)."""
    cover = Figure(figsize=(8.27, 11.69))
    cover.text(0.08, 0.95, f"Shoreline report — {data.name}", fontsize=16, va="top")
    cover.text(
        0.08, 0.92, f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", fontsize=8, va="top", color="0.4"
    )
    y = 0.88

    def block(title: str, lines: Sequence[str]) -> None:
        nonlocal y
        cover.text(0.08, y, title, fontsize=11, fontweight="bold", va="top")
        y -= 0.03
        for line in lines:
            wrapped = textwrap.fill(line, width=WRAP_CHARS, subsequent_indent="  ")
            cover.text(0.08, y, wrapped, fontsize=8.5, va="top")
            y -= 0.018 * (wrapped.count("\n") + 1) + 0.006
        y -= 0.015

    block("Summary", _summary_lines(data, changes))
    block("Method", METHOD_NOTES)
    listed = _set_aside_lines(data)
    if len(listed) > MAX_LISTED_SET_ASIDE:
        listed = [
            *listed[:MAX_LISTED_SET_ASIDE],
            f"… and {len(listed) - MAX_LISTED_SET_ASIDE} more (see the web report)",
        ]
    block("Photos set aside", listed or ["none"])
    return cover


def pdf_pages(data: StationReportData, changes: Sequence[TransectChange] | None = None) -> list[Figure]:
    """The PDF's pages as figures: the cover, the map, the time series, the rate table."""
    changes = compute_changes(data) if changes is None else changes
    pages = [_cover(data, changes), map_figure(data, changes), series_figure(data, changes)]
    rows = rate_rows(changes) or [["–"] * len(RATE_HEADERS)]
    per_page = 40
    for start in range(0, len(rows), per_page):
        page = Figure(figsize=(11.69, 8.27))
        ax = page.add_subplot()
        ax.axis("off")
        ax.set_title(
            f"{data.name}: change rates per transect "
            f"(rows {start + 1}–{min(start + per_page, len(rows))} of {len(rows)})"
        )
        chunk = rows[start : start + per_page]
        # Rows of the same height on every page: the table fills the axes' top (len + 1) / (per_page + 1).
        height = (len(chunk) + 1) / (per_page + 1)
        table = ax.table(
            cellText=chunk,
            colLabels=RATE_HEADERS,
            colWidths=RATE_COLUMN_WIDTHS,
            bbox=(0, 1 - height, 1, height),
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        page.text(
            0.5,
            0.04,
            "Positive: seaward (accretion); negative: landward (erosion). "
            f"± from {DEFAULT_POSITION_UNCERTAINTY_M:g} m per shoreline; LRR band: 95 %.",
            ha="center",
            fontsize=8,
        )
        pages.append(page)
    return pages


def write_pdf(
    data: StationReportData, path: Path | BinaryIO, changes: Sequence[TransectChange] | None = None
) -> Path | BinaryIO:
    """The report as a PDF (`pdf_pages`)."""
    with PdfPages(path) as pdf:
        for page in pdf_pages(data, changes):
            pdf.savefig(page)
    return path


def write_report(data: StationReportData, out_dir: Path) -> ReportFiles:
    """`<slug>-report.html` and `<slug>-report.pdf` in `out_dir` (created)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    changes = compute_changes(data)
    html_path = out_dir / f"{data.slug}-report.html"
    html_path.write_text(render_html(data, changes), encoding="utf-8")
    pdf_path = write_pdf(data, out_dir / f"{data.slug}-report.pdf", changes)
    return ReportFiles(html=html_path, pdf=pdf_path)
