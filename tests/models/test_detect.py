"""Both detectors find real faces with 5 sensible landmarks, and respect their thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from vultus import ModelError, load_image
from vultus.models import create, load

DETECTORS = ["yunet", "centerface"]


@pytest.mark.parametrize("name", DETECTORS)
def test_one_face_in_portrait(name, obama):
    faces = load(name, "detector").detect(load_image(obama))
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.8
    x1, y1, x2, y2 = f.box
    assert (f.landmarks[:, 0] > x1).all() and (f.landmarks[:, 0] < x2).all()
    assert (f.landmarks[:, 1] > y1).all() and (f.landmarks[:, 1] < y2).all()
    le, re, nose, lm, rm = f.landmarks
    assert le[0] < re[0] and lm[0] < rm[0]  # image-left first
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])  # eyes above nose above mouth


@pytest.mark.parametrize("name", DETECTORS)
def test_orl_faces(name, orl):
    det = load(name, "detector")
    found = sum(len(det.detect(load_image(orl / f"s{s}" / "1.pgm"))) == 1 for s in range(1, 11))
    assert found >= 9


@pytest.mark.parametrize("name", DETECTORS)
def test_blank_image_has_no_face(name):
    assert load(name, "detector").detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_min_face_size_and_threshold(obama):
    img = load_image(obama)
    assert create("yunet", "detector", min_face_size=10_000).detect(img) == []
    assert create("yunet", "detector", score_threshold=0.99).detect(img) == []


def test_multiscale_keeps_one_box_per_face(obama):
    faces = create("yunet", "detector", scales=(1.0, 0.5)).detect(load_image(obama))
    assert len(faces) == 1


def test_unknown_detector():
    with pytest.raises(ModelError, match="unknown detector 'nope'"):
        load("nope", "detector")
