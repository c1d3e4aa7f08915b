"""Verification metrics from genuine/impostor scores: accuracy, ROC, TAR at FAR, EER, fusion fitting."""

from __future__ import annotations

import numpy as np


def roc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far, tar, thresholds), thresholds descending; accept means score >= threshold."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order].astype(bool)
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # one point per distinct threshold
    tar = np.r_[0.0, tp[last] / max(y.sum(), 1)]
    far = np.r_[0.0, fp[last] / max((~y).sum(), 1)]
    return far, tar, np.r_[np.inf, s[last]]


def auc(far: np.ndarray, tar: np.ndarray) -> float:
    return float(np.trapezoid(tar, far))


def tar_at_far(far: np.ndarray, tar: np.ndarray, target: float) -> float:
    ok = far <= target
    return float(tar[ok].max()) if ok.any() else 0.0


def threshold_at_far(impostor: np.ndarray, target: float) -> float | None:
    """The lowest threshold whose false accept rate on `impostor` is at most `target`;
    None when there are too few impostor scores to measure that FAR (fewer than 10 / target)."""
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    if len(imp) < 10 / target:
        return None
    k = int(np.floor(target * len(imp)))  # at most k impostors may pass
    return float(np.nextafter(imp[k], np.inf))


def eer(far: np.ndarray, tar: np.ndarray) -> float:
    frr = 1 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximizing accuracy; the threshold sits midway between scores."""
    order = np.argsort(scores)
    s, y = scores[order], labels[order].astype(bool)
    # accept everything above position i: correct = negatives below + positives at/above
    neg_below = np.r_[0, np.cumsum(~y)]
    pos_above = y.sum() - np.r_[0, np.cumsum(y)]
    correct = neg_below + pos_above
    i = int(np.argmax(correct))
    if i == 0:
        t = s[0] - 1e-6
    elif i == len(s):
        t = s[-1] + 1e-6
    else:
        t = (s[i - 1] + s[i]) / 2
    return float(t), float(correct[i] / len(s))


def fit_fusion(x: np.ndarray, y: np.ndarray, iters: int = 50, l2: float = 1e-3) -> np.ndarray:
    """Logistic regression (Newton's method) on per-model scores; returns the model weights
    normalized to sum to 1 (the bias is absorbed by the threshold)."""
    x = np.asarray(x, np.float64)
    if x.shape[1] == 1:
        return np.ones(1)
    xb = np.column_stack([x, np.ones(len(x))])
    w = np.zeros(xb.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        g = xb.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        h = (xb * (p * (1 - p))[:, None]).T @ xb + l2 * np.eye(len(w))
        w -= np.linalg.solve(h, g)
    m = np.maximum(w[:-1], 0)
    return m / m.sum() if m.sum() > 0 else np.full(len(m), 1 / len(m))
