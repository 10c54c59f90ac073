"""Evaluation metrics shared by every pipeline's evaluation script (pure numpy).

Inputs
- Ground truth: a sequence of `LabelledImage` (or `Detections`, whose confidence is ignored), one per image.
- Predictions: `Detections` only, one per image, either a sequence in the same order as the ground truth or
  a mapping keyed by the ground truth's `image_path` (str or Path). Its `xyxy`, `confidence` and
  `class_id` are used; they must be in the same pixel frame and class numbering as the ground truth
  (see `remap_classes`).

Matching (COCO's rule)
- Per image and class, predictions are taken by descending confidence (ties keep their input order); each
  takes the not-yet-matched ground-truth box of the same class with the highest IoU, if that IoU is
  >= the threshold (IoU ties go to the first box). Otherwise it is a false positive: so a second box on an
  already found object (a duplicate) is a false positive, and so is a box of the wrong class.
- `ignore="difficult"` (VOC) or `ignore="iscrowd"` (COCO) names a per-box flag in `LabelledImage.extra`:
  flagged boxes are neither found nor missed, and a prediction that matches none but overlaps a flagged box
  by >= the threshold is left out (neither true nor false positive). Flagged boxes may absorb several.

Undefined ratios (precision with no prediction, recall with no ground truth, AP of a class without
ground truth) are NaN, never a made-up 0 or 1; the mean AP averages the classes that have ground truth.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vigie.datasets.labels import LabelledImage
from vigie.errors import InvalidInputError
from vigie.vision.detections import Detections, box_iou

GroundTruth = Sequence[LabelledImage | Detections]
Predictions = Sequence[Detections] | Mapping[str | Path, Detections]
APMethod = Literal["all", "101"]


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else float("nan")


# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class _Truth:
    boxes: np.ndarray
    class_ids: np.ndarray
    ignored: np.ndarray
    names: Mapping[int, str]


def _truth(gt: LabelledImage | Detections, ignore: str | None) -> _Truth:
    if isinstance(gt, LabelledImage):
        ignored = gt.box_flag(ignore) if ignore else np.zeros(len(gt), dtype=bool)
        return _Truth(gt.boxes, gt.class_ids, ignored, gt.names)
    if isinstance(gt, Detections):
        return _Truth(gt.xyxy, gt.class_id, np.zeros(len(gt), dtype=bool), gt.names)
    raise InvalidInputError(f"ground truth: expected LabelledImage or Detections, got {type(gt).__name__}")


def _aligned(preds: Predictions, gts: GroundTruth) -> list[Detections]:
    """Predictions in the ground truth's order, checking that they describe the same images."""
    if isinstance(preds, Mapping):
        keyed = {Path(k): v for k, v in preds.items()}
        paths = []
        for gt in gts:
            if not isinstance(gt, LabelledImage):
                raise InvalidInputError("predictions keyed by image path need LabelledImage ground truth")
            paths.append(gt.image_path)
        missing = [str(p) for p in paths if p not in keyed]
        extra = sorted(str(p) for p in set(keyed) - set(paths))
        if missing or extra:
            raise InvalidInputError(
                f"predictions: {len(missing)} images without predictions (e.g. {missing[:3]}) and "
                f"{len(extra)} predictions for images not in the ground truth (e.g. {extra[:3]})"
            )
        ordered = [keyed[p] for p in paths]
    else:
        ordered = list(preds)
        if len(ordered) != len(gts):
            raise InvalidInputError(
                f"predictions: expected a Detections per ground-truth image ({len(gts)}), got {len(ordered)}"
            )
    for i, d in enumerate(ordered):
        if not isinstance(d, Detections):
            raise InvalidInputError(f"predictions[{i}]: expected Detections, got {type(d).__name__}")
    return ordered


def _names(gts: GroundTruth, preds: Iterable[Detections]) -> dict[int, str]:
    names: dict[int, str] = {}
    for d in preds:
        names.update(d.names)
    for gt in gts:  # ground-truth names win: they are the dataset's vocabulary
        names.update(gt.names)
    return names


# -------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class ImageMatch:
    """Outcome of matching one image's predictions (indices as given, not sorted)."""

    pred_tp: np.ndarray  # bool (N,): matched a ground-truth box
    pred_ignored: np.ndarray  # bool (N,): matched only an ignored box, so not counted
    pred_gt: np.ndarray  # int (N,): index of the matched ground-truth box, -1 if none
    gt_matched: np.ndarray  # bool (M,)


def match_image(
    pred_xyxy: np.ndarray,
    pred_confidence: np.ndarray,
    pred_class_id: np.ndarray,
    gt_xyxy: np.ndarray,
    gt_class_id: np.ndarray,
    iou_threshold: float = 0.5,
    gt_ignored: np.ndarray | None = None,
) -> ImageMatch:
    """Greedy class-aware matching of one image (the rule is in the module docstring)."""
    if not 0.0 < iou_threshold <= 1.0:
        raise InvalidInputError(f"iou_threshold: expected a value in (0, 1], got {iou_threshold}")
    pred_xyxy = np.asarray(pred_xyxy, dtype=np.float64).reshape(-1, 4)
    gt_xyxy = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    pred_class_id = np.asarray(pred_class_id).reshape(-1)
    gt_class_id = np.asarray(gt_class_id).reshape(-1)
    n, m = len(pred_xyxy), len(gt_xyxy)
    ignored = np.zeros(m, dtype=bool) if gt_ignored is None else np.asarray(gt_ignored, dtype=bool)
    pred_tp = np.zeros(n, dtype=bool)
    pred_ignored = np.zeros(n, dtype=bool)
    pred_gt = np.full(n, -1, dtype=np.int64)
    gt_matched = np.zeros(m, dtype=bool)
    if n == 0 or m == 0:
        return ImageMatch(pred_tp, pred_ignored, pred_gt, gt_matched)

    iou = box_iou(pred_xyxy, gt_xyxy)
    # A box of another class can never match: give it an IoU below any threshold.
    iou[pred_class_id[:, None] != gt_class_id[None, :]] = -1.0
    for i in np.argsort(-np.asarray(pred_confidence, dtype=np.float64), kind="stable"):
        free = np.where(~gt_matched & ~ignored & (iou[i] >= iou_threshold), iou[i], -1.0)
        j = int(np.argmax(free))
        if free[j] >= iou_threshold:
            pred_tp[i], pred_gt[i], gt_matched[j] = True, j, True
        elif (ignored & (iou[i] >= iou_threshold)).any():
            pred_ignored[i] = True
    return ImageMatch(pred_tp, pred_ignored, pred_gt, gt_matched)


@dataclass(frozen=True, slots=True)
class _Pooled:
    """Every counted prediction of a dataset (image order, then input order) and the boxes to find."""

    confidence: np.ndarray
    class_id: np.ndarray
    tp: np.ndarray
    gt_per_class: dict[int, int]


def _pool(
    preds: list[Detections], truths: list[_Truth], iou_threshold: float, min_confidence: float
) -> _Pooled:
    conf, cls, tp = [], [], []
    gt_per_class: dict[int, int] = {}
    for d, t in zip(preds, truths, strict=True):
        d = d.above(min_confidence) if min_confidence > 0 else d
        match = match_image(d.xyxy, d.confidence, d.class_id, t.boxes, t.class_ids, iou_threshold, t.ignored)
        counted = ~match.pred_ignored
        conf.append(d.confidence[counted])
        cls.append(d.class_id[counted])
        tp.append(match.pred_tp[counted])
        ids, k = np.unique(t.class_ids[~t.ignored], return_counts=True)
        for c, n in zip(ids.tolist(), k.tolist(), strict=True):
            gt_per_class[c] = gt_per_class.get(c, 0) + n
    return _Pooled(
        confidence=np.concatenate(conf) if conf else np.zeros(0, np.float32),
        class_id=np.concatenate(cls) if cls else np.zeros(0, np.int64),
        tp=np.concatenate(tp) if tp else np.zeros(0, bool),
        gt_per_class=gt_per_class,
    )


# ------------------------------------------------------------------------------------ precision/recall


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


@dataclass(frozen=True, slots=True)
class PrecisionRecall:
    per_class: dict[int, Counts]
    overall: Counts  # sums over classes (micro average)
    names: dict[int, str] = field(default_factory=dict)
    iou_threshold: float = 0.5
    min_confidence: float = 0.0


def precision_recall(
    preds: Predictions,
    gts: GroundTruth,
    iou: float = 0.5,
    *,
    min_confidence: float = 0.0,
    ignore: str | None = None,
) -> PrecisionRecall:
    """Box-level TP/FP/FN per class and overall, over the predictions with confidence >= min_confidence."""
    aligned = _aligned(preds, gts)
    pooled = _pool(aligned, [_truth(g, ignore) for g in gts], iou, min_confidence)
    classes = sorted(set(pooled.gt_per_class) | set(pooled.class_id.tolist()))
    per_class = {}
    for c in classes:
        mine = pooled.class_id == c
        tp = int(pooled.tp[mine].sum())
        per_class[c] = Counts(tp=tp, fp=int(mine.sum()) - tp, fn=pooled.gt_per_class.get(c, 0) - tp)
    overall = Counts(
        tp=sum(k.tp for k in per_class.values()),
        fp=sum(k.fp for k in per_class.values()),
        fn=sum(k.fn for k in per_class.values()),
    )
    return PrecisionRecall(per_class, overall, _names(gts, aligned), iou, min_confidence)


# ------------------------------------------------------------------------------------ average precision


def precision_recall_curve(
    confidence: np.ndarray, tp: np.ndarray, n_truth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recall, precision, confidence) after each prediction, taken by descending confidence (stable)."""
    confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
    tp = np.asarray(tp, dtype=bool).reshape(-1)
    if len(confidence) != len(tp):
        raise InvalidInputError(f"precision_recall_curve: {len(confidence)} confidences but {len(tp)} flags")
    order = np.argsort(-confidence, kind="stable")
    ctp = np.cumsum(tp[order])
    cfp = np.cumsum(~tp[order])
    recall = ctp / n_truth if n_truth else np.full(len(ctp), np.nan)
    return recall, ctp / (ctp + cfp), confidence[order]


def average_precision(recall: np.ndarray, precision: np.ndarray, method: APMethod = "all") -> float:
    """Area under the precision envelope (precision made non-increasing in recall).

    `recall` and `precision` are the curve after each ranked prediction (`precision_recall_curve`).
    "all": every recall step, as VOC since 2010 (Ultralytics integrates a 101-point trapezoid instead);
    "101": the mean of the envelope at recall 0, 0.01, ..., 1, as COCO.
    An empty curve (no predictions) gives 0; NaN recall (no ground truth) gives NaN.
    """
    recall = np.asarray(recall, dtype=np.float64).reshape(-1)
    precision = np.asarray(precision, dtype=np.float64).reshape(-1)
    if recall.shape != precision.shape:
        raise InvalidInputError(
            f"average_precision: recall {recall.shape} and precision {precision.shape} differ"
        )
    if np.isnan(recall).any():
        return float("nan")
    if len(recall) == 0:
        return 0.0
    if (np.diff(recall) < 0).any():
        raise InvalidInputError("average_precision: recall must not decrease along the ranked predictions")
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(mpre[::-1])[::-1]
    if method == "all":
        steps = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[steps + 1] - mrec[steps]) * envelope[steps + 1]))
    if method == "101":
        # Envelope at recall r = best precision among points whose recall is >= r (the sentinel gives 0).
        points = np.linspace(0.0, 1.0, 101)
        at = np.searchsorted(mrec[1:], points, side="left") + 1
        return float(np.mean(envelope[np.minimum(at, len(mrec) - 1)]))
    raise InvalidInputError(f"average_precision: unknown method {method!r}, expected 'all' or '101'")


@dataclass(frozen=True, slots=True)
class MeanAveragePrecision:
    per_class: dict[int, float]  # AP per class, averaged over the IoU thresholds; NaN without ground truth
    mean: float  # over the classes with ground truth; NaN when there are none
    iou_thresholds: tuple[float, ...]
    truth_per_class: dict[int, int]
    names: dict[int, str] = field(default_factory=dict)


def mean_average_precision(
    preds: Predictions,
    gts: GroundTruth,
    iou: float | Sequence[float] = 0.5,
    *,
    method: APMethod = "all",
    ignore: str | None = None,
) -> MeanAveragePrecision:
    """mAP at one IoU threshold (0.5: "mAP50") or averaged over several (`np.linspace(0.5, 0.95, 10)`)."""
    thresholds = (float(iou),) if np.isscalar(iou) else tuple(float(t) for t in iou)
    if not thresholds:
        raise InvalidInputError("mean_average_precision: expected at least one IoU threshold")
    aligned = _aligned(preds, gts)
    truths = [_truth(g, ignore) for g in gts]
    per_threshold: list[dict[int, float]] = []
    gt_per_class: dict[int, int] = {}
    classes: set[int] = set()
    for t in thresholds:
        pooled = _pool(aligned, truths, t, 0.0)
        gt_per_class = pooled.gt_per_class
        classes |= set(gt_per_class) | set(pooled.class_id.tolist())
        aps = {}
        for c in set(gt_per_class) | set(pooled.class_id.tolist()):
            mine = pooled.class_id == c
            recall, precision, _ = precision_recall_curve(
                pooled.confidence[mine], pooled.tp[mine], gt_per_class.get(c, 0)
            )
            aps[c] = average_precision(recall, precision, method)
        per_threshold.append(aps)
    per_class = {
        c: float(np.mean([aps.get(c, float("nan")) for aps in per_threshold])) for c in sorted(classes)
    }
    with_truth = [per_class[c] for c in per_class if gt_per_class.get(c, 0) > 0]
    return MeanAveragePrecision(
        per_class=per_class,
        mean=float(np.mean(with_truth)) if with_truth else float("nan"),
        iou_thresholds=thresholds,
        truth_per_class=dict(sorted(gt_per_class.items())),
        names=_names(gts, aligned),
    )


# ------------------------------------------------------------------------------------------ image level


@dataclass(frozen=True, slots=True)
class ImageCounts:
    """Images, not boxes: tp = has the class and was flagged, fp = flagged without it, and so on."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def false_positive_rate(self) -> float:
        return _ratio(self.fp, self.fp + self.tn)


@dataclass(frozen=True, slots=True)
class ImagePrecisionRecall:
    per_class: dict[int, ImageCounts]
    any_class: ImageCounts  # an image is positive when it holds any of the classes
    names: dict[int, str] = field(default_factory=dict)
    min_confidence: float = 0.0


def _image_counts(truth: np.ndarray, flagged: np.ndarray) -> ImageCounts:
    return ImageCounts(
        tp=int((truth & flagged).sum()),
        fp=int((~truth & flagged).sum()),
        fn=int((truth & ~flagged).sum()),
        tn=int((~truth & ~flagged).sum()),
    )


def image_precision_recall(
    preds: Predictions,
    gts: GroundTruth,
    *,
    classes: Iterable[int] | None = None,
    min_confidence: float = 0.0,
) -> ImagePrecisionRecall:
    """Per-image precision and recall ("was there smoke in this frame?"); box positions are not compared.

    An image is truly positive for a class when its ground truth has >= 1 box of it, predicted positive when
    >= 1 prediction of it has confidence >= min_confidence. `classes` defaults to every class seen.
    """
    aligned = _aligned(preds, gts)
    truths = [_truth(g, None) for g in gts]
    if classes is None:
        seen = {int(c) for t in truths for c in t.class_ids} | {int(c) for d in aligned for c in d.class_id}
        class_list = sorted(seen)
    else:
        class_list = sorted({int(c) for c in classes})
    kept = [d.above(min_confidence) for d in aligned]
    truth_has = np.array([[c in set(t.class_ids.tolist()) for c in class_list] for t in truths], dtype=bool)
    flagged = np.array([[c in set(d.class_id.tolist()) for c in class_list] for d in kept], dtype=bool)
    truth_has = truth_has.reshape(len(truths), len(class_list))
    flagged = flagged.reshape(len(truths), len(class_list))
    return ImagePrecisionRecall(
        per_class={c: _image_counts(truth_has[:, k], flagged[:, k]) for k, c in enumerate(class_list)},
        any_class=_image_counts(truth_has.any(axis=1), flagged.any(axis=1)),
        names=_names(gts, aligned),
        min_confidence=min_confidence,
    )


# ---------------------------------------------------------------------------------------------- counts


@dataclass(frozen=True, slots=True)
class CountError:
    predicted: int
    truth: int

    @property
    def error(self) -> int:
        """Signed: positive when the pipeline counted too many."""
        return self.predicted - self.truth

    @property
    def abs_error(self) -> int:
        return abs(self.predicted - self.truth)

    @property
    def relative_error(self) -> float:
        """|error| / truth; 0 when both are 0, infinite when something was counted where there was nothing."""
        if self.truth == 0:
            return 0.0 if self.predicted == 0 else float("inf")
        return self.abs_error / self.truth


@dataclass(frozen=True, slots=True)
class CountErrors:
    per_key: dict[Hashable, CountError]
    total: CountError  # the sums: its relative_error lets over- and under-counts of different keys cancel

    @property
    def sum_abs_error(self) -> int:
        """Σ|predicted − truth| over keys: errors of different keys do not cancel."""
        return sum(e.abs_error for e in self.per_key.values())

    @property
    def weighted_relative_error(self) -> float:
        """Σ|predicted − truth| / Σ truth (WAPE); same zero-truth rule as `CountError.relative_error`."""
        if self.total.truth == 0:
            return 0.0 if self.sum_abs_error == 0 else float("inf")
        return self.sum_abs_error / self.total.truth

    @property
    def mean_abs_error(self) -> float:
        return _ratio(self.sum_abs_error, len(self.per_key))


def _count(value: object, side: str, key: Hashable) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating):
        raise InvalidInputError(f"{side}[{key!r}]: expected a count, got {value!r}")
    if not float(value).is_integer() or value < 0:
        raise InvalidInputError(f"{side}[{key!r}]: expected a non-negative whole count, got {value!r}")
    return int(value)


def count_errors(predicted: Mapping[Hashable, int], truth: Mapping[Hashable, int]) -> CountErrors:
    """Per-key and total errors of counts (e.g. keys `("car", "north")`); a key missing on one side is 0.

    Keys come in the truth's order, then the keys only the prediction has.
    """
    keys = list(truth) + [k for k in predicted if k not in truth]
    per_key = {
        k: CountError(
            predicted=_count(predicted.get(k, 0), "predicted", k), truth=_count(truth.get(k, 0), "truth", k)
        )
        for k in keys
    }
    total = CountError(
        predicted=sum(e.predicted for e in per_key.values()), truth=sum(e.truth for e in per_key.values())
    )
    return CountErrors(per_key=per_key, total=total)
