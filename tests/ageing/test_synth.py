"""Synthetic ageing on real FG-NET faces: the growth curve is measured, the warp follows it, the
output is still a detectable face of the same person, and the filter drops what it must."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import dataset
from vultus.ageing.synth import (GROWTH, age_face, face_ratio, filter_sample, fit_growth, read_landmarks,
                                 strain_for)
from vultus.io import load_image
from vultus.quality import QualityPolicy


@pytest.fixture(scope="module")
def fgnet():
    root = dataset("fgnet")
    return root / "images", read_landmarks(root / "landmarks68.csv")


def test_growth_curve_is_fitted_from_fgnet(fgnet):
    _, lm = fgnet
    ages = np.array([int(re.match(r"\d{3}A(\d{2})", f).group(1)) for f in lm])
    fitted = fit_growth(ages, np.array([face_ratio(p) for p in lm.values()]))
    assert fitted == GROWTH  # the shipped constants are this fit, not typed in
    assert GROWTH.ratio(2) < GROWTH.ratio(8) < GROWTH.ratio(18) < GROWTH.adult  # faces lengthen, then stop


def test_strain_reaches_the_target_shape(fgnet):
    _, lm = fgnet
    p = lm["001A02.JPG"]
    for to in (0, 8, 20):
        s = strain_for(p, 2, to)
        assert face_ratio(s.forward(p)) == pytest.approx(face_ratio(p) * GROWTH.ratio(to) / GROWTH.ratio(2), rel=1e-6)
        assert (s.k > 0) == (to > 2)  # ageing stretches, rejuvenating shrinks the lower face
        q = s.forward(p)
        assert np.allclose(s.inverse(q), p, atol=1e-6)  # the closed-form inverse used by the warp
        iod = lambda x: np.linalg.norm(x[31] - x[36])  # noqa: E731
        assert iod(q) == pytest.approx(iod(p), rel=1e-6)  # rescaled about the eyes


def test_aged_face_is_detected_and_kept(fgnet, fused_pipeline):
    images, lm = fgnet
    img = load_image(images / "002A03.JPG")
    aged, pts = age_face(img, lm["002A03.JPG"], 3, 10)
    assert aged.shape == img.shape and not np.array_equal(aged, img)
    faces = fused_pipeline.embed(aged)
    assert faces, "the detector must still find the synthetic face"
    face = max(faces, key=lambda f: f.width * f.height)
    assert np.linalg.norm(face.landmarks[2] - pts[37:48].mean(0)) < 0.3 * np.ptp(pts[:, 0])  # nose where we put it
    own = np.mean([fused_pipeline.embed_one(images / f).embeddings["sface"] for f in ("002A03.JPG", "002A04.JPG")], 0)
    others = np.stack([fused_pipeline.embed_one(images / f).embeddings["sface"] for f in ("001A05.JPG", "010A06.JPG")])
    problems = QualityPolicy().problems(face.quality)
    assert filter_sample(face.embeddings["sface"], problems, own, others).keep
    # the same sample presented as somebody else's is dropped as an identity leak
    swapped = filter_sample(face.embeddings["sface"], problems, others[0], np.stack([own, others[1]]))
    assert not swapped.keep and "another identity" in swapped.reason


def test_filter_drops_failed_and_poor_samples():
    own, other = np.eye(4)[0], np.eye(4)[1:2]
    assert filter_sample(None, [], own, other).reason == "no face detected"
    assert "poor quality" in filter_sample(own, ["too blurry"], own, other).reason
