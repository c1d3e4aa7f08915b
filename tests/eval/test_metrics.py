"""Verification metrics and the LFW pairs protocol on data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from vultus import VultusError
from vultus.decide import Recognizer
from vultus.eval import metrics
from vultus.eval.pairs import PairScores, read_pairs, ten_fold


def test_roc_auc_eer_on_separable_scores():
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0])
    far, tar, _ = metrics.roc(s, y)
    assert metrics.auc(far, tar) == pytest.approx(1.0)
    assert metrics.eer(far, tar) == pytest.approx(0.0)
    t, acc = metrics.best_threshold(s, y)
    assert acc == 1.0 and 0.3 < t < 0.7


def test_roc_on_overlapping_scores():
    rng = np.random.default_rng(0)
    s = np.r_[rng.normal(1, 1, 5000), rng.normal(0, 1, 5000)]
    y = np.r_[np.ones(5000), np.zeros(5000)]
    far, tar, _ = metrics.roc(s, y)
    # two unit Gaussians one sigma apart: AUC = Phi(1/sqrt(2)) = 0.760
    assert metrics.auc(far, tar) == pytest.approx(0.760, abs=0.015)
    assert metrics.eer(far, tar) == pytest.approx(0.309, abs=0.015)


def test_threshold_at_far():
    imp = np.linspace(0, 1, 100_001)
    t = metrics.threshold_at_far(imp, 1e-3)
    assert np.mean(imp >= t) <= 1e-3
    assert metrics.threshold_at_far(imp[:500], 1e-3) is None  # too few impostors to measure it


def test_fusion_prefers_the_informative_model():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    good = y + rng.normal(0, 0.3, 4000)
    noise = rng.normal(0, 1, 4000)
    w = metrics.fit_fusion(np.column_stack([good, noise]), y)
    assert w.sum() == pytest.approx(1) and w[0] > 0.9


def test_ten_fold_learns_threshold_on_training_folds():
    rng = np.random.default_rng(2)
    y = np.tile(np.r_[np.ones(30), np.zeros(30)], 10).astype(bool)
    folds = np.repeat(np.arange(10), 60)
    s = np.where(y, 0.6, 0.2) + rng.normal(0, 0.05, len(y))
    rep = ten_fold(PairScores(y, folds, {"sface": s}, np.zeros(len(y), bool)), Recognizer(("sface",)))
    assert rep.accuracy_mean == 1.0 and len(rep.fold_accuracies) == 10


def test_read_lfw_pairs(lfw):
    pairs = read_pairs(lfw / "pairs.txt", lfw / "lfw")
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert {p.fold for p in pairs} == set(range(10))
    assert pairs[0].same and pairs[300].same is False and pairs[600].fold == 1
    assert all(p.a.exists() and p.b.exists() for p in pairs[:50])


def test_bad_pairs_file(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("hello world\n")
    with pytest.raises(VultusError, match="first line"):
        read_pairs(f, tmp_path)
    f.write_text("1 1\nA 1 2\nB 1 C\n")
    with pytest.raises(VultusError, match=":3"):
        read_pairs(f, tmp_path)
