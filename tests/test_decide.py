"""Recognizer names, fusion and the shipped threshold table."""

from __future__ import annotations

import numpy as np
import pytest

from vultus import ModelError
from vultus.decide import Recognizer, calibrated


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
