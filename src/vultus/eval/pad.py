"""Presentation attack detection metrics as ISO/IEC 30107-3 defines them.

- APCER: share of attack presentations wrongly classified as bona fide (accepted attacks);
- BPCER: share of bona fide presentations wrongly classified as attacks (refused live people);
- ACER: their mean (ISO/IEC 30107-3 itself deprecates ACER, but it is the usual single figure);
- non-response: presentations the system gave no decision for (here: no face found), counted apart.

Scores are "bona fide" scores: higher means more likely live, and a presentation is accepted as
bona fide when its score is at least the threshold. With one attack type (NUAA: printed photos)
APCER is that type's rate; with several, ISO reports the worst type's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import auc, roc


@dataclass(frozen=True)
class PadResult:
    threshold: float
    apcer: float
    bpcer: float
    attacks: int
    bona_fide: int
    auc: float

    @property
    def acer(self) -> float:
        return (self.apcer + self.bpcer) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": round(self.threshold, 4), "apcer": round(self.apcer, 4), "bpcer": round(self.bpcer, 4),
                "acer": round(self.acer, 4), "auc": round(self.auc, 4), "attacks": self.attacks,
                "bona_fide": self.bona_fide}


def pad_metrics(scores: np.ndarray, live: np.ndarray, threshold: float) -> PadResult:
    """APCER, BPCER and ROC AUC of bona fide scores at `threshold`."""
    scores, live = np.asarray(scores, np.float64), np.asarray(live, bool)
    attacks, bona = scores[~live], scores[live]
    far, tar, _ = roc(scores, live)
    return PadResult(float(threshold), float((attacks >= threshold).mean()) if len(attacks) else 0.0,
                     float((bona < threshold).mean()) if len(bona) else 0.0, len(attacks), len(bona), auc(far, tar))


def eer_threshold(scores: np.ndarray, live: np.ndarray) -> float:
    """The threshold where APCER and BPCER are closest (the equal error rate point): midway
    between two neighbouring scores, so it does not sit on a sample it was chosen from; where the
    classes separate, the middle of the gap."""
    scores, live = np.asarray(scores, np.float64), np.asarray(live, bool)
    candidates = np.unique(scores)
    mids = np.r_[candidates[0] - 1e-6, (candidates[:-1] + candidates[1:]) / 2, candidates[-1] + 1e-6]
    gaps = []
    for t in mids:
        apcer = (scores[~live] >= t).mean()
        bpcer = (scores[live] < t).mean()
        gaps.append((abs(apcer - bpcer), apcer + bpcer))
    best = min(gaps)
    ties = [t for t, g in zip(mids, gaps) if g == best]  # a run of equally good thresholds: take its middle
    return float(ties[len(ties) // 2])
