"""Metrics on hand-made cases whose answers are worked out in the comments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vigie.datasets.labels import LabelledImage
from vigie.datasets.metrics import (
    average_precision,
    count_errors,
    image_precision_recall,
    match_image,
    mean_average_precision,
    precision_recall,
    precision_recall_curve,
)
from vigie.errors import InvalidInputError
from vigie.vision.detections import Detections

NAMES = {0: "smoke", 1: "fire"}


def gt(boxes, classes=None, path="img.jpg", **extra) -> LabelledImage:
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    classes = np.zeros(len(boxes), int) if classes is None else classes
    return LabelledImage(Path(path), 100, 100, boxes, classes, NAMES, extra)


def det(boxes, conf, classes=None) -> Detections:
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    classes = np.zeros(len(boxes), int) if classes is None else classes
    return Detections(xyxy=boxes, confidence=conf, class_id=classes, names=NAMES)


A = [0, 0, 10, 10]
B = [50, 50, 60, 60]
FAR = [80, 80, 90, 90]


def test_perfect_match_gives_ap_one_and_full_precision_recall():
    truth = [gt([A, B], [0, 1]), gt([B])]
    preds = [det([B, A], [0.3, 0.9], [1, 0]), det([B], [0.5])]
    pr = precision_recall(preds, truth)
    assert pr.overall.tp == 3 and pr.overall.fp == 0 and pr.overall.fn == 0
    assert pr.overall.precision == 1.0 and pr.overall.recall == 1.0 and pr.overall.f1 == 1.0
    m = mean_average_precision(preds, truth)
    assert m.per_class == {0: 1.0, 1: 1.0}
    assert m.mean == 1.0
    assert m.truth_per_class == {0: 2, 1: 1}


def test_false_positive_ranked_first_halves_ap():
    # Ranked: FP (P=0, R=0), TP (P=1/2, R=1): the envelope is 1/2 over recall (0, 1].
    truth = [gt([A])]
    preds = [det([FAR, A], [0.9, 0.8])]
    assert mean_average_precision(preds, truth).mean == pytest.approx(0.5)
    assert mean_average_precision(preds, truth, method="101").mean == pytest.approx(0.5)
    pr = precision_recall(preds, truth)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (1, 1, 0)


def test_ranking_across_images_uses_confidence_not_image_order():
    # Same as above, but the FP sits in the second image: it still ranks first.
    truth = [gt([A], path="a.jpg"), gt([], path="b.jpg")]
    preds = [det([A], [0.8]), det([FAR], [0.9])]
    assert mean_average_precision(preds, truth).mean == pytest.approx(0.5)


def test_tp_fp_tp_envelope_all_point_and_101_point():
    # Two objects; ranked TP, FP, TP: (R, P) = (1/2, 1), (1/2, 1/2), (1, 2/3).
    # All-point: 1/2 * 1 + 1/2 * 2/3 = 5/6. 101-point: recall 0..0.50 (51 points) at 1, 0.51..1 (50) at 2/3.
    truth = [gt([A, B])]
    preds = [det([A, FAR, B], [0.9, 0.8, 0.7])]
    assert mean_average_precision(preds, truth).mean == pytest.approx(5 / 6)
    assert mean_average_precision(preds, truth, method="101").mean == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_precision_envelope_lifts_a_dip():
    # Three objects; ranked TP, FP, TP, TP: (R, P) = (1/3, 1), (1/3, 1/2), (2/3, 2/3), (1, 3/4).
    # The envelope raises P at R = 2/3 to 3/4 (reached later), so AP = 1/3 * 1 + 2/3 * 3/4 = 5/6,
    # not 1/3 + 1/3 * 2/3 + 1/3 * 3/4 with the raw curve. 101-point: 34 points at 1, 67 at 3/4.
    c = [30, 30, 40, 40]
    truth = [gt([A, B, c])]
    preds = [det([A, FAR, B, c], [0.9, 0.8, 0.7, 0.6])]
    assert mean_average_precision(preds, truth).mean == pytest.approx(5 / 6)
    assert mean_average_precision(preds, truth, method="101").mean == pytest.approx((34 + 67 * 0.75) / 101)


def test_duplicate_box_is_a_false_positive_and_the_most_confident_one_wins():
    truth = [gt([A])]
    near = [0, 0, 10, 12]  # IoU 100/120 with A
    preds = [det([A, near], [0.6, 0.9])]
    match = match_image(preds[0].xyxy, preds[0].confidence, preds[0].class_id, truth[0].boxes, [0])
    assert match.pred_tp.tolist() == [False, True]  # the 0.9 box takes the object even with a lower IoU
    assert match.pred_gt.tolist() == [-1, 0]
    pr = precision_recall(preds, truth)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (1, 1, 0)
    assert pr.overall.precision == 0.5
    assert mean_average_precision(preds, truth).mean == 1.0  # the duplicate ranks after the hit


def test_prediction_takes_the_best_unmatched_box():
    # P1 overlaps G1 (IoU 60/140) and G2 (IoU 90/110) and takes G2; P2 then takes G1.
    g = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    p = np.array([[4, 0, 14, 10], [0, 0, 10, 10]], float)
    match = match_image(p, [0.9, 0.8], [0, 0], g, [0, 0], iou_threshold=0.4)
    assert match.pred_gt.tolist() == [1, 0]
    assert match.gt_matched.all()


def test_class_mismatch_is_a_false_positive_and_a_miss():
    truth = [gt([A], [0])]
    preds = [det([A], [0.9], [1])]
    pr = precision_recall(preds, truth)
    assert (pr.per_class[0].tp, pr.per_class[0].fp, pr.per_class[0].fn) == (0, 0, 1)
    assert (pr.per_class[1].tp, pr.per_class[1].fp, pr.per_class[1].fn) == (0, 1, 0)
    assert math.isnan(pr.per_class[0].precision) and pr.per_class[0].recall == 0.0
    assert pr.per_class[1].precision == 0.0 and math.isnan(pr.per_class[1].recall)
    m = mean_average_precision(preds, truth)
    assert m.per_class[0] == 0.0
    assert math.isnan(m.per_class[1])  # no fire in the truth: AP undefined, left out of the mean
    assert m.mean == 0.0
    assert pr.names == NAMES


def test_iou_threshold_is_inclusive():
    half = [0, 0, 20, 10]  # IoU with A is exactly 100/200
    truth = [gt([A])]
    assert precision_recall([det([half], [1.0])], truth, iou=0.5).overall.tp == 1
    assert precision_recall([det([half], [1.0])], truth, iou=0.51).overall.tp == 0


def test_several_iou_thresholds_are_averaged():
    truth = [gt([A])]
    preds = [det([[0, 0, 10, 14]], [0.9])]  # IoU 100/140 ≈ 0.714: a hit at 0.5, a miss at 0.75
    m = mean_average_precision(preds, truth, iou=[0.5, 0.75])
    assert m.iou_thresholds == (0.5, 0.75)
    assert m.mean == pytest.approx(0.5)


def test_empty_predictions():
    truth = [gt([A]), gt([])]
    preds = [Detections.empty(), Detections.empty()]
    pr = precision_recall(preds, truth)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (0, 0, 1)
    assert math.isnan(pr.overall.precision) and pr.overall.recall == 0.0
    assert mean_average_precision(preds, truth).mean == 0.0


def test_empty_ground_truth():
    truth = [gt([])]
    pr = precision_recall([det([A], [0.5])], truth)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (0, 1, 0)
    assert pr.overall.precision == 0.0 and math.isnan(pr.overall.recall)
    assert math.isnan(mean_average_precision([det([A], [0.5])], truth).mean)


def test_nothing_at_all():
    pr = precision_recall([Detections.empty()], [gt([])])
    assert pr.per_class == {} and (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (0, 0, 0)
    m = mean_average_precision([], [])
    assert m.per_class == {} and math.isnan(m.mean)


def test_min_confidence_drops_low_predictions():
    truth = [gt([A, B])]
    preds = [det([A, B, FAR], [0.9, 0.2, 0.8])]
    pr = precision_recall(preds, truth, min_confidence=0.5)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (1, 1, 1)


def test_ignored_boxes_are_neither_found_nor_missed():
    truth = [gt([A, B], difficult=np.array([False, True]))]
    preds = [det([A, B], [0.9, 0.8])]
    pr = precision_recall(preds, truth, ignore="difficult")
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (1, 0, 0)
    counted = precision_recall(preds, truth)  # without `ignore` the difficult box is an ordinary one
    assert (counted.overall.tp, counted.overall.fp, counted.overall.fn) == (2, 0, 0)
    missed = precision_recall([det([A], [0.9])], truth, ignore="difficult")
    assert missed.overall.fn == 0


def test_predictions_keyed_by_image_path():
    truth = [gt([A], path="a.jpg"), gt([B], path="b.jpg")]
    preds = {"b.jpg": det([B], [0.9]), Path("a.jpg"): det([FAR], [0.9])}
    pr = precision_recall(preds, truth)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (1, 1, 1)
    with pytest.raises(InvalidInputError, match="without predictions"):
        precision_recall({"a.jpg": det([A], [0.9])}, truth)


def test_misaligned_predictions_are_rejected():
    with pytest.raises(InvalidInputError, match="per ground-truth image"):
        precision_recall([Detections.empty()], [gt([A]), gt([B])])
    with pytest.raises(InvalidInputError, match="expected Detections"):
        precision_recall([np.zeros((0, 4))], [gt([])])
    with pytest.raises(InvalidInputError, match="iou_threshold"):
        precision_recall([det([A], [1.0])], [gt([A])], iou=0.0)


def test_ground_truth_may_be_detections():
    truth = [det([A], [0.1])]  # its confidence plays no part
    assert mean_average_precision([det([A], [0.9])], truth).mean == 1.0


def test_precision_recall_curve_and_ap_inputs():
    recall, precision, conf = precision_recall_curve(np.array([0.2, 0.9]), np.array([True, False]), 1)
    assert recall.tolist() == [0.0, 1.0]
    assert precision.tolist() == [0.0, 0.5]
    assert conf.tolist() == [0.9, 0.2]
    assert average_precision(recall, precision) == pytest.approx(0.5)
    assert average_precision(np.array([]), np.array([])) == 0.0
    with pytest.raises(InvalidInputError, match="must not decrease"):
        average_precision(np.array([0.5, 0.2]), np.array([1.0, 1.0]))
    with pytest.raises(InvalidInputError, match="unknown method"):
        average_precision(recall, precision, method="11")  # type: ignore[arg-type]


def test_image_level_precision_recall():
    # smoke: images 1, 2 hold it; flagged in 1 and 3 -> TP 1, FP 1, FN 1, TN 1.
    # fire: image 2 holds it; flagged in 2 only, a 0.3 fire in image 4 is under the threshold.
    truth = [
        gt([A], [0], "1.jpg"),
        gt([A, B], [0, 1], "2.jpg"),
        gt([], None, "3.jpg"),
        gt([], None, "4.jpg"),
    ]
    preds = [
        det([FAR], [0.9], [0]),  # far from the smoke: still a positive image
        det([B], [0.8], [1]),
        det([A, B], [0.7, 0.6], [0, 0]),
        det([A], [0.3], [1]),
    ]
    res = image_precision_recall(preds, truth, min_confidence=0.5)
    smoke, fire = res.per_class[0], res.per_class[1]
    assert (smoke.tp, smoke.fp, smoke.fn, smoke.tn) == (1, 1, 1, 1)
    assert smoke.precision == 0.5 and smoke.recall == 0.5 and smoke.false_positive_rate == 0.5
    assert (fire.tp, fire.fp, fire.fn, fire.tn) == (1, 0, 0, 3)
    any_class = res.any_class  # positives: 1, 2; flagged: 1, 2, 3
    assert (any_class.tp, any_class.fp, any_class.fn, any_class.tn) == (2, 1, 0, 1)
    only_fire = image_precision_recall(preds, truth, classes=[1])
    assert list(only_fire.per_class) == [1]
    assert only_fire.per_class[1].fp == 1  # without the threshold the 0.3 fire counts


def test_count_errors_by_key_and_in_total():
    truth = {("car", "north"): 10, ("car", "south"): 0, ("truck", "north"): 5}
    predicted = {("car", "north"): 8, ("car", "south"): 2, ("bus", "north"): 1}
    res = count_errors(predicted, truth)
    assert list(res.per_key) == [("car", "north"), ("car", "south"), ("truck", "north"), ("bus", "north")]
    car_n = res.per_key[("car", "north")]
    assert (car_n.error, car_n.abs_error, car_n.relative_error) == (-2, 2, 0.2)
    assert res.per_key[("car", "south")].relative_error == math.inf  # counted where there was nothing
    assert res.per_key[("truck", "north")].relative_error == 1.0
    assert res.per_key[("bus", "north")].truth == 0
    assert (res.total.predicted, res.total.truth, res.total.error) == (11, 15, -4)
    assert res.total.relative_error == pytest.approx(4 / 15)
    assert res.sum_abs_error == 2 + 2 + 5 + 1
    assert res.weighted_relative_error == pytest.approx(10 / 15)
    assert res.mean_abs_error == pytest.approx(10 / 4)


def test_count_errors_with_zero_truth():
    exact = count_errors({"car": 0}, {"car": 0})
    assert exact.per_key["car"].relative_error == 0.0
    assert exact.weighted_relative_error == 0.0
    over = count_errors({"car": 3}, {})
    assert over.total.relative_error == math.inf and over.weighted_relative_error == math.inf
    assert over.per_key["car"].abs_error == 3
    empty = count_errors({}, {})
    assert empty.per_key == {} and math.isnan(empty.mean_abs_error)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3", None])
def test_count_errors_rejects_non_counts(bad):
    with pytest.raises(InvalidInputError, match="car"):
        count_errors({"car": bad}, {"car": 1})


def test_count_errors_accepts_numpy_and_whole_floats():
    res = count_errors({"car": np.int64(4)}, {"car": 4.0})
    assert res.per_key["car"].error == 0
