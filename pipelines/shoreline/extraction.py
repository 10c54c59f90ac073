"""Shoreline extraction from a plan image: a red-minus-blue colour feature, Otsu, a crossing per transect.

Dry and wet sand are red-rich, water is blue-rich, so red − blue (RmB) separates them (CoastSnap's
method). Two methods share the sampling along the cross-shore transects:

- ``"global-otsu"`` (the first version): raw RmB, one Otsu threshold for the whole photo, and on each
  transect the threshold crossing with the strongest contrast. Exposure moves that threshold, and on an
  evening photo with long tree shadows on the sand (or a bright foam band at sea) a transect holds two
  competing edges: the chosen one then jumps tens of metres between two photos of the same scene.
- ``"continuity"`` (default): the feature is the normalised chromaticity (R − B) / (R + G + B), which a
  change of exposure (gain) leaves unchanged; the samples are labelled softly around the photo's Otsu
  threshold (sand +1, water −1); bright colourless samples (breaking-wave foam, which red − blue calls
  sand) are labelled water, and optionally dark colourless ones (shadows) 0, neither sand nor water, both
  by luminance quantiles, which a change of exposure leaves in place. Every position along a transect is
  scored as a sand→water step: mostly sand over a short landward window and mostly water over a longer
  seaward one, so a shadow band on the sand (sand again beyond it)
  or a foam band at sea (water again beyond it) scores less than the real edge. Dynamic programming then
  picks one position per transect maximising the summed scores minus a penalty on the alongshore jumps,
  so the line follows the edge that neighbouring transects agree on. The position is refined to the
  crossing of a local Otsu threshold (a window around the edge), and each point's confidence is the
  bimodality of that window (Otsu's between-class share of the variance) times the step score.

In both, crossings far from their neighbours' median are rejected (a swash bubble, a person) and the rest
are lightly smoothed alongshore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from vigie.calibration.rectification import PlanImage
from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.station import Transects

Method = Literal["continuity", "global-otsu"]


@dataclass(frozen=True, slots=True)
class ExtractionConfig:
    blur_sigma_px: float = 1.0  # on the plan image, against JPEG and resampling noise
    window_m: float = 8.0  # landward of a crossing, to measure its contrast (and seaward for global-otsu)
    min_valid_fraction: float = 0.5  # of a transect's samples seen by the camera
    outlier_window: int = 7  # transects in the running median
    outlier_min_m: float = 10.0  # a point this far (and 3 MAD) from the running median is rejected
    smooth_window: int = 3
    min_confidence: float = 0.1
    min_points: int = 5
    method: Method = "continuity"
    # --- continuity method only ---
    sea_window_m: float = 30.0  # seaward of a crossing: water must hold over this distance
    label_softness: float = 0.25  # soft labels saturate at ± this share of the sand−water separation
    jump_penalty_per_m: float = 0.2  # step-score units per metre of alongshore jump (score range −2..2)
    # Luminance rules on colourless samples (|R − B| / (R + G + B) below shadow_max_chroma). Thresholds are
    # quantiles of the transects' luminance, which a change of gain or gamma leaves in place; 0 / 1 = off.
    shadow_luma_quantile: float = 0.0  # darker than this quantile: a shadow on the sand, label 0
    shadow_max_chroma: float = 0.06
    foam_luma_quantile: float = 0.75  # brighter than this quantile: foam, labelled foam_label (water)
    foam_label: float = -1.0
    local_window_m: float = 12.0  # each side of the chosen edge, for the local Otsu threshold


@dataclass(frozen=True, slots=True)
class Shoreline:
    """Points in the station's local frame (x, y, z = water level), one per transect that gave one."""

    xyz: np.ndarray  # (N, 3)
    confidence: np.ndarray  # (N,)
    transect_index: np.ndarray  # (N,) int
    chainage_m: np.ndarray  # (N,) distance from the transect origin (landward end)
    threshold: float  # the photo's Otsu threshold (RmB, or chromaticity for the continuity method)
    n_rejected: int

    def __len__(self) -> int:
        return len(self.xyz)


def _check_colour(image_bgr: np.ndarray, what: str) -> None:
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise InvalidInputError(f"{what}: expected a colour (H, W, 3) image, got {image_bgr.shape}")


def red_minus_blue(image_bgr: np.ndarray, blur_sigma_px: float = 0.0) -> np.ndarray:
    """R − B as float32 (−255..255) of a BGR image."""
    _check_colour(image_bgr, "red minus blue")
    rmb = image_bgr[:, :, 2].astype(np.float32) - image_bgr[:, :, 0].astype(np.float32)
    if blur_sigma_px > 0:
        rmb = cv2.GaussianBlur(rmb, (0, 0), blur_sigma_px)
    return rmb


def chromaticity_features(image_bgr: np.ndarray, blur_sigma_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(R − B) / (R + G + B) in −1..1 (unchanged by a gain on all channels) and the luminance
    (R + G + B) / 3, both float32, of a BGR image blurred by `blur_sigma_px`."""
    _check_colour(image_bgr, "chromaticity")
    img = image_bgr.astype(np.float32)
    if blur_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma_px)
    total = img.sum(axis=2)
    chroma = (img[:, :, 2] - img[:, :, 0]) / np.maximum(total, 3.0)  # 3.0: black pixels stay finite
    return chroma, total / 3.0


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of real-valued samples: the value maximising the between-class variance."""
    return _otsu(values, bins)[0]


def _otsu(values: np.ndarray, bins: int = 256) -> tuple[float, float]:
    """(threshold, bimodality): bimodality is the between-class share of the total variance (Otsu's
    effectiveness measure, 0..1; 1 for two separated spikes)."""
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
    total_var = float(v.var()) * v.size**2
    return float(edges[k + 1]), float(np.clip(between[k] / total_var, 0.0, 1.0)) if total_var > 0 else 0.0


def sample_transects(
    plan: PlanImage, values: np.ndarray, transects: Transects
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Per transect: chainages (m), bilinear samples of `values` and a validity mask, every grid step."""
    step = plan.grid.resolution_m
    valid_f = plan.valid.astype(np.float32)
    values = np.ascontiguousarray(values, dtype=np.float32)
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
        c = _crossing_at(s, p, i, threshold)
        land = ok & (s >= c - window_m) & (s < c)
        sea = ok & (s > c) & (s <= c + window_m)
        if land.sum() < 2 or sea.sum() < 2:
            continue
        contrast = float(p[land].mean() - p[sea].mean())
        if best is None or contrast > best[1]:
            best = (float(c), contrast)
    return best


def _crossing_at(s: np.ndarray, p: np.ndarray, i: int, threshold: float) -> float:
    """Chainage where the profile crosses `threshold` between samples i and i + 1 (linear)."""
    frac = (p[i] - threshold) / (p[i] - p[i + 1]) if p[i] != p[i + 1] else 0.5
    return float(s[i] + frac * (s[i + 1] - s[i]))


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    half = window // 2
    return np.array([np.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))])


def _empty(threshold: float, n_rejected: int) -> Shoreline:
    return Shoreline(
        xyz=np.zeros((0, 3)),
        confidence=np.zeros(0),
        transect_index=np.zeros(0, int),
        chainage_m=np.zeros(0),
        threshold=threshold,
        n_rejected=n_rejected,
    )


def _too_few_samples() -> InvalidInputError:
    return InvalidInputError(
        "shoreline extraction: the transects cross no part of the rectified photo "
        "(wrong camera, water level or station geometry?)"
    )


def extract_shoreline(
    plan: PlanImage, transects: Transects, config: ExtractionConfig | None = None
) -> Shoreline:
    """The shoreline on `plan` along `transects` (local frame, landward origins); z = the plan's height.
    Raises InvalidInputError when the transects see too little of the plan image to set a threshold."""
    config = config or ExtractionConfig()
    if len(transects) == 0:
        raise InvalidInputError("shoreline extraction: the station has no transects")
    if config.method == "global-otsu":
        found, threshold = _global_otsu_points(plan, transects, config)
    elif config.method == "continuity":
        found, threshold = _continuity_points(plan, transects, config)
    else:
        raise InvalidInputError(
            f"shoreline extraction method {config.method!r}: expected 'continuity' or 'global-otsu'"
        )
    return _finish(plan, transects, config, found, threshold)


def _global_otsu_points(
    plan: PlanImage, transects: Transects, config: ExtractionConfig
) -> tuple[list[tuple[int, float, float]], float]:
    rmb = red_minus_blue(plan.image, config.blur_sigma_px)
    s_all, p_all, ok_all = sample_transects(plan, rmb, transects)
    samples = np.concatenate([p[ok] for p, ok in zip(p_all, ok_all, strict=True)])
    if samples.size < 20:
        raise _too_few_samples()
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
    return found, threshold


def _window_means(x: np.ndarray, ok: np.ndarray, land_n: int, sea_n: int) -> tuple[np.ndarray, np.ndarray]:
    """For every boundary i (between samples i − 1 and i): the mean of valid `x` over the `land_n` samples
    before it and over the `sea_n` samples from it; NaN where fewer than half of them are valid."""
    xv = np.where(ok, x, 0.0)
    cx = np.concatenate([[0.0], np.cumsum(xv)])
    cn = np.concatenate([[0.0], np.cumsum(ok.astype(float))])
    n = len(x)
    i = np.arange(n + 1)
    lo, hi = np.clip(i - land_n, 0, n), np.clip(i + sea_n, 0, n)
    land_cnt, sea_cnt = cn[i] - cn[lo], cn[hi] - cn[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        land = np.where(land_cnt >= land_n / 2, (cx[i] - cx[lo]) / land_cnt, np.nan)
        sea = np.where(sea_cnt >= sea_n / 2, (cx[hi] - cx[i]) / sea_cnt, np.nan)
    return land, sea


def _continuity_points(
    plan: PlanImage, transects: Transects, config: ExtractionConfig
) -> tuple[list[tuple[int, float, float]], float]:
    chroma, luma = chromaticity_features(plan.image, config.blur_sigma_px)
    s_all, c_all, ok_all = sample_transects(plan, chroma, transects)
    _, l_all, _ = sample_transects(plan, luma, transects)
    samples = np.concatenate([c[ok] for c, ok in zip(c_all, ok_all, strict=True)])
    if samples.size < 20:
        raise _too_few_samples()
    lumas = np.concatenate([v[ok] for v, ok in zip(l_all, ok_all, strict=True)])
    threshold = otsu_threshold(samples)
    upper, lower = samples[samples > threshold], samples[samples <= threshold]
    separation = float(upper.mean() - lower.mean()) if upper.size and lower.size else 0.1
    softness = max(config.label_softness * separation, 1e-3)
    dark = float(np.quantile(lumas, config.shadow_luma_quantile)) if config.shadow_luma_quantile > 0 else -1.0
    bright = float(np.quantile(lumas, config.foam_luma_quantile)) if config.foam_luma_quantile < 1 else 1e9

    step = plan.grid.resolution_m
    land_n = max(2, round(config.window_m / step))
    sea_n = max(2, round(config.sea_window_m / step))
    usable: list[int] = []
    scores: list[np.ndarray] = []  # per usable transect, the step score at each boundary (−inf: none)
    for k, (c, v, ok) in enumerate(zip(c_all, l_all, ok_all, strict=True)):
        if ok.size < 4 or ok.mean() < config.min_valid_fraction:
            continue
        label = np.clip((c - threshold) / softness, -1.0, 1.0)
        # Shadowed sand (dark, grey-blue) is neither sand nor water; foam (bright, white) is water.
        neutral = np.abs(c) < config.shadow_max_chroma
        label[(v < dark) & neutral] = 0.0
        label[(v > bright) & neutral] = config.foam_label
        land, sea = _window_means(label, ok, land_n, sea_n)
        score = np.nan_to_num(land - sea, nan=-np.inf)
        if np.isfinite(score).any():
            usable.append(k)
            scores.append(score)
    if not usable:
        return [], threshold

    path = _best_path(transects, usable, scores, step, config.jump_penalty_per_m)
    found: list[tuple[int, float, float]] = []
    half = max(2, round(config.local_window_m / step))
    for k, score, b in zip(usable, scores, path, strict=True):
        s, c, ok = s_all[k], c_all[k], ok_all[k]
        step_score = float(score[b])
        lo, hi = max(0, b - half), min(len(c), b + half)
        win = ok[lo:hi]
        local_t, bimodality = threshold, 0.0
        if win.sum() >= 8 and np.ptp(c[lo:hi][win]) > 0:
            local_t, bimodality = _otsu(c[lo:hi][win], bins=64)
        position = _refine(s, c, ok, b, local_t, land_n // 2)
        confidence = float(np.clip(bimodality * step_score / 2.0, 0.0, 1.0))
        if confidence >= config.min_confidence:
            found.append((k, position, confidence))
    return found, threshold


def _best_path(
    transects: Transects, usable: list[int], scores: list[np.ndarray], step: float, penalty_per_m: float
) -> list[int]:
    """One boundary index per usable transect maximising Σ score − penalty · |alongshore jump| (Viterbi).
    The jump between consecutive usable transects a → b compares chainage c_b with the point of a at
    chainage c_a seen along b: (o_a − o_b)·d_b + c_a (d_a·d_b)."""
    origin, direction = transects.origin, transects.direction
    total = scores[0].copy()
    back: list[np.ndarray] = []
    for j in range(1, len(usable)):
        a, b = usable[j - 1], usable[j]
        ca = np.arange(len(scores[j - 1])) * step
        cb = np.arange(len(scores[j])) * step
        seen_on_b = float((origin[a] - origin[b]) @ direction[b]) + ca * float(direction[a] @ direction[b])
        gain = total[None, :] - penalty_per_m * np.abs(cb[:, None] - seen_on_b[None, :])
        arg = np.argmax(gain, axis=1)
        back.append(arg)
        total = scores[j] + gain[np.arange(len(cb)), arg]
    path = [int(np.argmax(total))]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]


def _refine(s: np.ndarray, c: np.ndarray, ok: np.ndarray, b: int, threshold: float, reach: int) -> float:
    """The chainage of boundary b moved to the nearest downward crossing of `threshold` within `reach`
    samples (sub-sample, linear), or the boundary itself when there is none."""
    # Boundary b lies between samples b − 1 and b; a crossing between samples i and i + 1 is boundary i + 1.
    best = float((s[max(b - 1, 0)] + s[min(b, len(s) - 1)]) / 2)
    best_d: int | None = None
    lo, hi = max(0, b - reach), min(len(c) - 1, b + reach)
    for i in range(lo, hi):
        if ok[i] and ok[i + 1] and c[i] > threshold >= c[i + 1]:
            d = abs(i + 1 - b)
            if best_d is None or d < best_d:
                best, best_d = _crossing_at(s, c, i, threshold), d
    return best


def _finish(
    plan: PlanImage,
    transects: Transects,
    config: ExtractionConfig,
    found: list[tuple[int, float, float]],
    threshold: float,
) -> Shoreline:
    """Outlier rejection against the running median, alongshore smoothing, local → xyz."""
    if len(found) < config.min_points:
        return _empty(threshold, len(found))
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
