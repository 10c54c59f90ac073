"""Register a citizen photo to a station's reference image and carry the GCP pixels into it.

Phones in a CoastSnap cradle sit at the same point but turn and zoom a little, so two photos of the station
differ by a homography (a rotation about the lens centre maps every depth the same way). We match SIFT
keypoints (OpenCV) found on the reference's stable regions (buildings, rocks, the promenade: not sand or
water, which change) against the whole photo, fit the homography with MAGSAC++ and check that it is
believable before using it: enough inliers, a large enough inlier share, a well-conditioned mapping close
to a similarity (no fold, bounded zoom and keystone), and inliers spread over the frame. A photo of another
place fails these checks and is flagged with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.station import ReferenceImage


@dataclass(frozen=True, slots=True)
class RegistrationConfig:
    analysis_max_side_px: int = 1280  # both images are matched at this size (speed; SIFT is scale-invariant)
    max_features: int = 5000
    ratio: float = 0.75  # Lowe's ratio test
    ransac_threshold_px: float = 3.0  # at analysis size
    min_inliers: int = 40
    min_inlier_ratio: float = 0.3  # inliers / ratio-test matches
    max_condition: float = 1e4  # of the homography in coordinates normalised to the image width
    zoom_range: tuple[float, float] = (0.4, 2.5)  # photo/reference scale
    max_keystone: float = 0.25  # relative scale change across the frame caused by the perspective terms
    min_spread: float = 0.15  # inlier convex hull area / reference frame area


@dataclass(frozen=True, slots=True)
class ReferenceFeatures:
    """SIFT keypoints of one reference image, computed once per station."""

    reference: ReferenceImage
    scale: float  # analysis pixels per reference pixel
    points: np.ndarray  # (N, 2) in reference pixels
    descriptors: np.ndarray


@dataclass(frozen=True, slots=True)
class Registration:
    ok: bool
    reason: str | None
    reference_name: str | None
    homography: np.ndarray | None  # reference pixels → photo pixels (full resolution)
    n_matches: int
    n_inliers: int
    inlier_ratio: float
    condition: float
    zoom: float
    spread: float
    gcp_uv: np.ndarray | None  # (N, 2) GCPs carried into the photo, NaN where not visible

    def stats(self) -> dict[str, float | int | str | None]:
        return {
            "reference": self.reference_name,
            "matches": self.n_matches,
            "inliers": self.n_inliers,
            "inlier_ratio": round(self.inlier_ratio, 3),
            "condition": round(self.condition, 1),
            "zoom": round(self.zoom, 3),
            "spread": round(self.spread, 3),
        }


def _analysis_grey(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        raise InvalidInputError("registration: expected a non-empty image array")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, max_side / max(grey.shape[:2]))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # Equalised contrast makes keypoints comparable between a dull morning and a sunny afternoon photo.
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)
    return grey, scale


def _detect(grey: np.ndarray, mask: np.ndarray | None, max_features: int) -> tuple[np.ndarray, np.ndarray]:
    sift = cv2.SIFT_create(nfeatures=max_features)
    keypoints, descriptors = sift.detectAndCompute(
        grey, None if mask is None else mask.astype(np.uint8) * 255
    )
    if descriptors is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    return np.array([k.pt for k in keypoints], np.float32), descriptors


def prepare_reference(
    reference: ReferenceImage, config: RegistrationConfig | None = None
) -> ReferenceFeatures:
    config = config or RegistrationConfig()
    grey, scale = _analysis_grey(reference.image, config.analysis_max_side_px)
    mask = None
    if reference.stable_mask is not None:
        mask = cv2.resize(
            reference.stable_mask.astype(np.uint8), grey.shape[::-1], interpolation=cv2.INTER_NEAREST
        )
    points, descriptors = _detect(grey, mask, config.max_features)
    return ReferenceFeatures(reference=reference, scale=scale, points=points / scale, descriptors=descriptors)


def _failed(reason: str, ref: ReferenceFeatures | None, **stats: float) -> Registration:
    return Registration(
        ok=False,
        reason=reason,
        reference_name=None if ref is None else ref.reference.name,
        homography=None,
        n_matches=int(stats.get("n_matches", 0)),
        n_inliers=int(stats.get("n_inliers", 0)),
        inlier_ratio=float(stats.get("inlier_ratio", 0.0)),
        condition=float(stats.get("condition", np.inf)),
        zoom=float(stats.get("zoom", np.nan)),
        spread=float(stats.get("spread", 0.0)),
        gcp_uv=None,
    )


def homography_checks(
    h: np.ndarray, ref_size: tuple[int, int], config: RegistrationConfig
) -> tuple[str | None, float, float]:
    """(reason or None, condition number, zoom) of a reference → photo homography for a `ref_size` (w, h)
    reference: refuses folds, extreme zooms, strong keystone and ill-conditioned mappings."""
    w, hgt = ref_size
    norm = np.diag([w, w, 1.0])
    hn = np.linalg.inv(norm) @ h @ norm
    hn = hn / hn[2, 2]
    condition = float(np.linalg.cond(hn))
    corners = np.array([[0, 0], [w, 0], [w, hgt], [0, hgt]], np.float64).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(corners, h).reshape(-1, 2)
    denominators = (h[2, 0] * corners[:, 0, 0] + h[2, 1] * corners[:, 0, 1] + h[2, 2]) / h[2, 2]
    x, y = mapped[:, 0], mapped[:, 1]
    signed_area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))  # > 0 keeps the orientation
    if (denominators <= 0).any() or signed_area <= 0 or not cv2.isContourConvex(mapped.astype(np.float32)):
        return "homography folds the reference frame (not the same view)", condition, float("nan")
    zoom = float(np.sqrt(abs(cv2.contourArea(mapped.astype(np.float32))) / (w * hgt)))
    if not config.zoom_range[0] <= zoom <= config.zoom_range[1]:
        return f"zoom {zoom:.2f} outside {config.zoom_range} (not the same view)", condition, zoom
    keystone = float(denominators.max() / denominators.min() - 1.0)
    if keystone > config.max_keystone:
        return (
            f"perspective change {keystone:.2f} above {config.max_keystone} (not the station's cradle)",
            condition,
            zoom,
        )
    if condition > config.max_condition:
        return f"ill-conditioned homography (condition {condition:.3g})", condition, zoom
    return None, condition, zoom


def register_to_reference(
    photo: np.ndarray,
    ref: ReferenceFeatures,
    config: RegistrationConfig | None = None,
    *,
    photo_features: tuple[np.ndarray, np.ndarray, float] | None = None,
) -> Registration:
    """Register `photo` (BGR) to one prepared reference; see `Registration`."""
    config = config or RegistrationConfig()
    if photo_features is None:
        grey, scale = _analysis_grey(photo, config.analysis_max_side_px)
        pts, desc = _detect(grey, None, config.max_features)
        photo_features = (pts / scale, desc, scale)
    pts, desc, scale = photo_features
    if len(ref.points) < config.min_inliers:
        return _failed(
            f"reference {ref.reference.name} has only {len(ref.points)} keypoints on its stable mask", ref
        )
    if len(pts) < config.min_inliers:
        return _failed(f"photo has only {len(pts)} keypoints (featureless, fog or lens covered?)", ref)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(ref.descriptors, desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < config.ratio * p[1].distance]
    n_matches = len(good)
    if n_matches < config.min_inliers:
        return _failed(
            f"only {n_matches} keypoint matches with reference {ref.reference.name} "
            f"(expected {config.min_inliers}+): another place or framing?",
            ref,
            n_matches=n_matches,
        )
    src = ref.points[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = pts[[m.trainIdx for m in good]].reshape(-1, 1, 2)
    # Threshold in full-resolution photo pixels: the analysis threshold scaled back up.
    h, inlier_mask = cv2.findHomography(
        src, dst, cv2.USAC_MAGSAC, config.ransac_threshold_px / scale, maxIters=5000, confidence=0.999
    )
    if h is None or inlier_mask is None:
        return _failed("no homography fits the matches (another place?)", ref, n_matches=n_matches)
    inliers = inlier_mask.ravel().astype(bool)
    n_inliers = int(inliers.sum())
    ratio = n_inliers / n_matches
    ref_h, ref_w = ref.reference.image.shape[:2]
    hull = cv2.convexHull(src[inliers].reshape(-1, 2).astype(np.float32)) if n_inliers >= 3 else None
    spread = float(cv2.contourArea(hull) / (ref_w * ref_h)) if hull is not None else 0.0
    stats = {"n_matches": n_matches, "n_inliers": n_inliers, "inlier_ratio": ratio, "spread": spread}
    if n_inliers < config.min_inliers:
        return _failed(
            f"only {n_inliers} inlier matches (expected {config.min_inliers}+): another place or framing?",
            ref,
            **stats,
        )
    if ratio < config.min_inlier_ratio:
        return _failed(
            f"inlier ratio {ratio:.2f} below {config.min_inlier_ratio} (repetitive or foreign scene)",
            ref,
            **stats,
        )
    reason, condition, zoom = homography_checks(h, (ref_w, ref_h), config)
    stats.update(condition=condition, zoom=zoom)
    if reason is not None:
        return _failed(reason, ref, **stats)
    if spread < config.min_spread:
        return _failed(
            f"inliers cover {spread:.0%} of the frame (expected {config.min_spread:.0%}+): the "
            "homography is not constrained across the image",
            ref,
            **stats,
        )
    gcp = ref.reference.gcp_uv
    carried = np.full_like(gcp, np.nan)
    seen = np.isfinite(gcp).all(axis=1)
    if seen.any():
        carried[seen] = cv2.perspectiveTransform(gcp[seen].reshape(-1, 1, 2), h).reshape(-1, 2)
    ph, pw = photo.shape[:2]
    outside = (carried[:, 0] < 0) | (carried[:, 0] > pw - 1) | (carried[:, 1] < 0) | (carried[:, 1] > ph - 1)
    carried[outside] = np.nan
    return Registration(
        ok=True,
        reason=None,
        reference_name=ref.reference.name,
        homography=h,
        n_matches=n_matches,
        n_inliers=n_inliers,
        inlier_ratio=ratio,
        condition=condition,
        zoom=zoom,
        spread=spread,
        gcp_uv=carried,
    )


def register_photo(
    photo: np.ndarray, references: Sequence[ReferenceFeatures], config: RegistrationConfig | None = None
) -> Registration:
    """Register `photo` to the best of the station's references (most inliers among the accepted ones)."""
    if not references:
        raise InvalidInputError("registration: the station has no reference image")
    config = config or RegistrationConfig()
    grey, scale = _analysis_grey(photo, config.analysis_max_side_px)
    pts, desc = _detect(grey, None, config.max_features)
    features = (pts / scale, desc, scale)
    results = [register_to_reference(photo, ref, config, photo_features=features) for ref in references]
    accepted = [r for r in results if r.ok]
    if accepted:
        return max(accepted, key=lambda r: r.n_inliers)
    return max(results, key=lambda r: r.n_inliers)
