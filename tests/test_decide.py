"""Recognizer names, fusion and the shipped threshold table."""

from __future__ import annotations

import numpy as np
import pytest

from vultus import ModelError
from vultus.decide import Recognizer, calibrated, calibration


def test_parse_and_key():
    r = Recognizer.parse(" SFace+dlib:flip ")
    assert r.models == ("sface", "dlib") and r.flip and r.key == "sface+dlib:flip"
    for bad, msg in [("", "empty"), ("sface:mirror", "unknown recognizer option"), ("arcface", "unknown embedder"),
                     ("sface+sface", "twice")]:
        with pytest.raises(ModelError, match=msg):
            Recognizer.parse(bad)


def test_fused_score_is_weighted_mean():
    r = Recognizer.parse("sface+dlib")
    w = r.weights
    assert w.sum() == pytest.approx(1) and (w > 0).all()
    a = {"sface": np.array([1.0, 0.0]), "dlib": np.array([0.0, 1.0])}
    b = {"sface": np.array([1.0, 0.0]), "dlib": np.array([1.0, 0.0])}
    assert r.score(a, b) == pytest.approx(w[0])


@pytest.mark.parametrize("key", ["sface", "dlib", "sface+dlib", "sface:flip", "sface+dlib:flip"])
def test_shipped_thresholds_are_calibrated_and_ordered(key):
    assert key in calibrated()
    r = Recognizer.parse(key)
    t2, f2 = r.threshold(1e-2)
    t3, f3 = r.threshold(1e-3)
    t4, f4 = r.threshold(1e-4)
    assert (f2, f3, f4) == (1e-2, 1e-3, 1e-4)
    assert t2 < t3 < t4  # a stricter FAR needs a higher score
    best, far = r.threshold(None)
    assert far is None and t2 - 0.2 < best < t4
    assert r.threshold(5e-3)[1] == 1e-3  # never looser than asked
    with pytest.raises(ModelError, match="no threshold for FAR"):
        r.threshold(1e-9)


def test_open_set_threshold_grows_with_gallery_size():
    r = Recognizer.parse("sface")
    t1, f1 = r.open_set_threshold(1e-2, 1)
    t100, f100 = r.open_set_threshold(1e-2, 100)
    t_big, f_big = r.open_set_threshold(1e-2, 10**9)
    assert f1 == 1e-2 and f100 == 1e-4 and t1 < t100 <= t_big
    assert f_big == min(float(f) for f in calibration("sface")["far"])  # clamped to the strictest
    assert r.open_set_threshold(None, 100) == r.threshold(None)
