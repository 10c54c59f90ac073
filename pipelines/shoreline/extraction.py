"""Shoreline extraction from a plan image: red minus blue, Otsu threshold, a crossing per transect.

Dry and wet sand are red-rich, water is blue-rich, so red − blue (RmB) separates them (CoastSnap's
method). We sample RmB along each cross-shore transect, pick one threshold for the whole photo with Otsu's
method on those samples, and on each transect keep the sand→water crossing with the strongest local
contrast. Crossings far from their neighbours' median are rejected (a swash bubble, a person, a shadow),
the rest are lightly smoothed alongshore. Each point carries a confidence in [0, 1]: the contrast across
the crossing relative to the separation of the two classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigie.calibration.rectification import PlanImage
from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.station import Transects


@dataclass(frozen=True, slots=True)
class ExtractionConfig:
    blur_sigma_px: float = 1.0  # on the plan image, against JPEG and resampling noise
    window_m: float = 8.0  # each side of a crossing, to measure its contrast
    min_valid_fraction: float = 0.5  # of a transect's samples seen by the camera
    outlier_window: int = 7  # transects in the running median
    outlier_min_m: float = 10.0  # a point this far (and 3 MAD) from the running median is rejected
    smooth_window: int = 3
    min_confidence: float = 0.1
    min_points: int = 5


@dataclass(frozen=True, slots=True)
class Shoreline:
    """Points in the station's local frame (x, y, z = water level), one per transect that gave one."""

    xyz: np.ndarray  # (N, 3)
    confidence: np.ndarray  # (N,)
    transect_index: np.ndarray  # (N,) int
    chainage_m: np.ndarray  # (N,) distance from the transect origin (landward end)
    threshold: float  # the Otsu RmB threshold
    n_rejected: int

    def __len__(self) -> int:
        return len(self.xyz)


def red_minus_blue(image_bgr: np.ndarray, blur_sigma_px: float = 0.0) -> np.ndarray:
    """R − B as float32 (−255..255) of a BGR image."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise InvalidInputError(f"red minus blue: expected a colour (H, W, 3) image, got {image_bgr.shape}")
    rmb = image_bgr[:, :, 2].astype(np.float32) - image_bgr[:, :, 0].astype(np.float32)
    if blur_sigma_px > 0:
        rmb = cv2.GaussianBlur(rmb, (0, 0), blur_sigma_px)
    return rmb


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of real-valued samples: the value maximising the between-class variance."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.min() == v.max():
        raise InvalidInputError("Otsu threshold: expected at least two distinct finite values")
    hist, edges = np.histogram(v, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean0 = m0 / w0
        mean1 = (m0[-1] - m0) / w1
        between = w0 * w1 * (mean0 - mean1) ** 2
    between = np.nan_to_num(between[:-1], nan=-1.0)
    k = int(np.argmax(between))
    return float(edges[k + 1])


def sample_transects(
    plan: PlanImage, values: np.ndarray, transects: Transects
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per transect: chainages (m), bilinear samples of `values` and a validity mask, every grid step."""
    step = plan.grid.resolution_m
    valid_f = plan.valid.astype(np.float32)
    out_s, out_v, out_ok = [], [], []
    for origin, direction, length in zip(
        transects.origin, transects.direction, transects.length_m, strict=True
    ):
        s = np.arange(0.0, max(float(length), 0.0) + 1e-9, step)
        xy = origin + s[:, None] * direction
        cr = plan.grid.world_to_pixel(xy).astype(np.float32)
        mx, my = cr[:, 0].reshape(1, -1), cr[:, 1].reshape(1, -1)
        sampled = cv2.remap(
            values, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan
        )
        seen = cv2.remap(valid_f, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ok = (seen.ravel() > 0.99) & np.isfinite(sampled.ravel())
        out_s.append(s)
        out_v.append(sampled.ravel())
        out_ok.append(ok)
    return out_s, out_v, out_ok


def _best_crossing(
    s: np.ndarray, p: np.ndarray, ok: np.ndarray, threshold: float, window_m: float
) -> tuple[float, float] | None:
    """(chainage, contrast) of the sand→water crossing (value falls through the threshold going seaward)
    with the largest mean difference between the `window_m` landward and seaward of it."""
    above = p > threshold
    idx = np.flatnonzero(above[:-1] & ~above[1:] & ok[:-1] & ok[1:])
    best = None
    for i in idx:
        frac = (p[i] - threshold) / (p[i] - p[i + 1]) if p[i] != p[i + 1] else 0.5
        c = s[i] + frac * (s[i + 1] - s[i])
        land = ok & (s >= c - window_m) & (s < c)
        sea = ok & (s > c) & (s <= c + window_m)
        if land.sum() < 2 or sea.sum() < 2:
            continue
        contrast = float(p[land].mean() - p[sea].mean())
        if best is None or contrast > best[1]:
            best = (float(c), contrast)
    return best


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    half = window // 2
    return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))])


def extract_shoreline(
    plan: PlanImage, transects: Transects, config: ExtractionConfig | None = None
) -> Shoreline:
    """The shoreline on `plan` along `transects` (local frame, landward origins); z = the plan's height.
    Raises InvalidInputError when the transects see too little of the plan image to set a threshold."""
    config = config or ExtractionConfig()
    if len(transects) == 0:
        raise InvalidInputError("shoreline extraction: the station has no transects")
    rmb = red_minus_blue(plan.image, config.blur_sigma_px)
    s_all, p_all, ok_all = sample_transects(plan, rmb, transects)
    samples = np.concatenate([p[ok] for p, ok in zip(p_all, ok_all, strict=True)])
    if samples.size < 20:
        raise InvalidInputError(
            "shoreline extraction: the transects cross no part of the rectified photo "
            "(wrong camera, water level or station geometry?)"
        )
    threshold = otsu_threshold(samples)
    upper, lower = samples[samples > threshold], samples[samples <= threshold]
    separation = float(upper.mean() - lower.mean()) if upper.size and lower.size else 1.0
    found: list[tuple[int, float, float]] = []
    for k, (s, p, ok) in enumerate(zip(s_all, p_all, ok_all, strict=True)):
        if ok.size == 0 or ok.mean() < config.min_valid_fraction:
            continue
        crossing = _best_crossing(s, p, ok, threshold, config.window_m)
        if crossing is None:
            continue
        confidence = float(np.clip(crossing[1] / max(separation, 1e-6), 0.0, 1.0))
        if confidence >= config.min_confidence:
            found.append((k, crossing[0], confidence))
    if len(found) < config.min_points:
        return Shoreline(
            xyz=np.zeros((0, 3)),
            confidence=np.zeros(0),
            transect_index=np.zeros(0, int),
            chainage_m=np.zeros(0),
            threshold=threshold,
            n_rejected=len(found),
        )
    index = np.array([f[0] for f in found])
    chain = np.array([f[1] for f in found])
    conf = np.array([f[2] for f in found])
    med = _running_median(chain, config.outlier_window)
    dev = np.abs(chain - med)
    mad = float(np.median(dev)) * 1.4826
    keep = dev <= max(config.outlier_min_m, 3 * mad)
    index, chain, conf = index[keep], chain[keep], conf[keep]
    if config.smooth_window > 1 and len(chain) >= config.smooth_window:
        kernel = np.ones(config.smooth_window) / config.smooth_window
        padded = np.pad(chain, config.smooth_window // 2, mode="edge")
        chain = np.convolve(padded, kernel, mode="valid")
    xy = transects.origin[index] + transects.direction[index] * chain[:, None]
    xyz = np.column_stack([xy, np.full(len(xy), plan.z_m)])
    return Shoreline(
        xyz=xyz,
        confidence=conf,
        transect_index=index,
        chainage_m=chain,
        threshold=threshold,
        n_rejected=int((~keep).sum()),
    )


def transect_chainages(line_xy: np.ndarray, transects: Transects) -> np.ndarray:
    """Where a polyline (N, 2) crosses each transect, as a chainage from its origin (NaN if it does not):
    used to compare two shorelines transect by transect."""
    line = np.asarray(line_xy, dtype=float).reshape(-1, 2)
    out = np.full(len(transects), np.nan)
    if len(line) < 2:
        return out
    a, b = line[:-1], line[1:]
    for k, (o, d, length) in enumerate(
        zip(transects.origin, transects.direction, transects.length_m, strict=True)
    ):
        # Solve o + t d = a + u (b - a) for every segment at once.
        e = b - a
        den = d[0] * e[:, 1] - d[1] * e[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((a[:, 0] - o[0]) * e[:, 1] - (a[:, 1] - o[1]) * e[:, 0]) / den
            u = ((a[:, 0] - o[0]) * d[1] - (a[:, 1] - o[1]) * d[0]) / den
        hit = np.isfinite(t) & (u >= 0) & (u <= 1) & (t >= -length * 0.5) & (t <= length * 1.5)
        if hit.any():
            out[k] = float(t[hit][np.argmin(np.abs(t[hit] - length / 2))])
    return out
