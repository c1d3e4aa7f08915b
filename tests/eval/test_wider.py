"""WIDER FACE average precision: small cases with known answers, then the default detector on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vultus import load_image
from vultus.eval import wider
from vultus.models import load

from ..conftest import dataset


def image(name: str, boxes_xywh, counted=None) -> wider.WiderImage:
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    keep = np.ones(len(boxes), bool) if counted is None else np.asarray(counted, bool)
    return wider.WiderImage(name, Path(name), boxes, np.zeros(len(boxes), bool), {"easy": keep})


def det(x, y, w, h, score):
    return [x, y, x + w, y + h, score]


def ap(images, preds) -> float:
    return wider.evaluate(images, {k: np.array(v) for k, v in preds.items()}, settings=("easy",))["easy"]["ap"]


def test_perfect_detections_give_ap_1():
    imgs = [image("a", [[10, 10, 40, 40], [100, 10, 40, 40]]), image("b", [[5, 5, 30, 30]])]
    preds = {"a": [det(10, 10, 40, 40, 0.9), det(100, 10, 40, 40, 0.8)], "b": [det(5, 5, 30, 30, 0.7)]}
    assert ap(imgs, preds) == pytest.approx(1.0)


def test_missed_face_halves_recall():
    imgs = [image("a", [[10, 10, 40, 40], [100, 10, 40, 40]])]
    assert ap(imgs, {"a": [det(10, 10, 40, 40, 0.9)]}) == pytest.approx(0.5)


def test_false_positive_ranked_first_and_last():
    imgs = [image("a", [[10, 10, 40, 40]])]
    # below the true face it costs nothing (the curve already reached recall 1 at precision 1) ...
    assert ap(imgs, {"a": [det(10, 10, 40, 40, 0.9), det(300, 300, 40, 40, 0.2)]}) == pytest.approx(1.0)
    # ... above it, the face is found at precision 1/2
    assert ap(imgs, {"a": [det(10, 10, 40, 40, 0.2), det(300, 300, 40, 40, 0.9)]}) == pytest.approx(0.5)


def test_duplicate_detection_counts_against_precision():
    imgs = [image("a", [[10, 10, 40, 40], [100, 10, 40, 40]])]
    # the duplicate of face 1 outranks face 2: recall 1/2 at precision 1, then recall 1 at precision 2/3
    preds = {"a": [det(10, 10, 40, 40, 0.9), det(11, 11, 40, 40, 0.8), det(100, 10, 40, 40, 0.7)]}
    assert ap(imgs, preds) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_detection_on_an_ignored_face_is_neither_hit_nor_false_positive():
    imgs = [image("a", [[10, 10, 40, 40], [100, 10, 8, 8]], counted=[True, False])]
    preds = {"a": [det(100, 10, 8, 8, 0.9), det(10, 10, 40, 40, 0.5)]}
    assert ap(imgs, preds) == pytest.approx(1.0)
    r = wider.evaluate(imgs, {k: np.array(v) for k, v in preds.items()}, settings=("easy",))["easy"]
    assert (r["recall"], r["precision"], r["faces"]) == (1.0, 1.0, 1)


def test_poor_overlap_is_a_miss():
    imgs = [image("a", [[0, 0, 40, 40]])]
    assert ap(imgs, {"a": [det(20, 0, 40, 40, 0.9)]}) == 0.0  # IoU 21*41 / (2*41*41 - 21*41) < 0.5


def test_image_without_detections_still_counts_its_faces():
    imgs = [image("a", [[10, 10, 40, 40]]), image("b", [[10, 10, 40, 40]])]
    assert ap(imgs, {"a": [det(10, 10, 40, 40, 0.9)]}) == pytest.approx(0.5)


def test_voc_ap_uses_the_precision_envelope():
    # precision rises after a dip: the envelope takes the later, higher value
    assert wider.voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 0.75])) == pytest.approx(0.5 + 0.5 * 0.75)


def test_subset_ground_truth_matches_its_readme():
    images = wider.load_subset(dataset("wider_val"))
    assert len(images) == 161
    assert sum(len(im.boxes) for im in images) == 1507
    assert sum(int(im.invalid.sum()) for im in images) == 31
    assert [sum(int(im.counted[s].sum()) for im in images) for s in wider.SETTINGS] == [394, 748, 1333]


def test_default_detector_on_real_wider_images():
    root = dataset("wider_val")
    images = [im for im in wider.load_subset(root) if im.name.startswith("19--Couple/")][:3]
    assert len(images) == 3
    detector = load("yunet", "detector")
    preds = {im.name: np.array([[*f.box, f.score] for f in detector.detect(load_image(im.path))]).reshape(-1, 5)
             for im in images}
    result = wider.evaluate(images, preds)
    assert result["easy"]["faces"] > 0
    assert result["easy"]["ap"] > 0.8
    # a wrong box convention (x y w h read as corners) would find almost nothing
    shifted = {k: v + np.array([0, 0, 200, 200, 0]) for k, v in preds.items()}
    assert wider.evaluate(images, shifted)["easy"]["ap"] < 0.3
