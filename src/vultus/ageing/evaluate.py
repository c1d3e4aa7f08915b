"""Verification across ageing: genuine pairs of one person at two ages, against impostors of
similar age, in bins of enrollment-verification gap and of age at enrollment.

Protocol (the same for FG-NET and a user's CSV):
- every pair of images of one person is a genuine pair; the earlier image is the enrollment, the
  later the verification, the gap is the time between them (same-age pairs have gap 0);
- impostor pairs are images of two different people at *similar ages* (at most
  `IMPOSTOR_AGE_WINDOW` years apart, the hardest realistic impostors: peers), grouped by the age of
  the younger image; when ages are unknown (a CSV with dates only), every different-person pair is
  an impostor;
- a cell (age-at-enrollment group x gap bin) is scored with its genuine pairs against the impostors
  of the same age group: EER, TAR at FAR 1e-2 and 1e-3 (None when the cell has fewer than 1/FAR
  impostor pairs, so the FAR cannot be measured), and the mean genuine score;
- genuine-score drift: the least-squares slope of genuine score against gap, per age group.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..decide import Recognizer
from ..eval import metrics
from .data import Sample

GAP_BINS: tuple[tuple[str, float, float], ...] = (("0-2", 0, 3), ("3-5", 3, 6), ("6-10", 6, 11), ("11+", 11, np.inf))
AGE_GROUPS: tuple[tuple[str, float, float], ...] = (("under 13", 0, 13), ("13-17", 13, 18), ("adult", 18, np.inf))
IMPOSTOR_AGE_WINDOW = 2.0
FARS = (1e-2, 1e-3)


@dataclass(frozen=True)
class Cell:
    group: str  # age at enrollment: "under 13", "13-17", "adult", "all" (or "unknown")
    gap: str  # "0-2", "3-5", "6-10", "11+" or "all"
    genuine: int
    impostor: int
    eer: float | None
    tar_1e2: float | None
    tar_1e3: float | None
    mean_genuine: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Drift:
    group: str
    slope_per_year: float | None  # change of the genuine score per year of gap
    score_at_gap0: float | None
    genuine: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AgeingReport:
    setting: str  # recognizer key, plus "+adapter" when the age adapter is applied
    images: int
    people: int
    no_face: int
    cells: tuple[Cell, ...]
    drift: tuple[Drift, ...]

    def cell(self, group: str, gap: str) -> Cell:
        return next(c for c in self.cells if c.group == group and c.gap == gap)

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "images": self.images, "people": self.people, "no_face": self.no_face,
                "cells": [c.to_dict() for c in self.cells], "drift": [d.to_dict() for d in self.drift]}


@dataclass(frozen=True)
class Pairs:
    """Every unordered pair of usable images: fused score, same person or not, gap, ages."""

    score: np.ndarray
    same: np.ndarray
    gap: np.ndarray
    enrol_age: np.ndarray  # age of the earlier image (NaN if unknown)
    age_diff: np.ndarray  # |age a - age b| (NaN if unknown)


def make_pairs(samples: Sequence[Sample], vectors: Mapping[str, np.ndarray], recognizer: Recognizer,
               weights: np.ndarray | None = None) -> Pairs:
    """Pairs of `samples` (all with embeddings: rows of `vectors[model]`)."""
    w = recognizer.weights if weights is None else weights
    sim = sum(wi * (vectors[m] @ vectors[m].T) for wi, m in zip(w, recognizer.models))
    i, j = np.triu_indices(len(samples), 1)
    when = np.array([s.when for s in samples])
    age = np.array([np.nan if s.age is None else s.age for s in samples])
    person = np.array([s.person for s in samples])
    first = np.where(when[i] <= when[j], i, j)
    return Pairs(score=np.asarray(sim[i, j], np.float64), same=person[i] == person[j],
                 gap=np.abs(when[i] - when[j]), enrol_age=age[first], age_diff=np.abs(age[i] - age[j]))


def _in(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (x >= lo) & (x < hi)


def score_cell(gen: np.ndarray, imp: np.ndarray, group: str, gap: str) -> Cell:
    if len(gen) == 0 or len(imp) == 0:
        return Cell(group, gap, len(gen), len(imp), None, None, None, float(gen.mean()) if len(gen) else None)
    far, tar, _ = metrics.roc(np.r_[gen, imp], np.r_[np.ones(len(gen), bool), np.zeros(len(imp), bool)])
    tars = [metrics.tar_at_far(far, tar, f) if len(imp) >= 1 / f else None for f in FARS]
    return Cell(group, gap, len(gen), len(imp), metrics.eer(far, tar), tars[0], tars[1], float(gen.mean()))


def drift(pairs: Pairs, mask: np.ndarray, group: str) -> Drift:
    g = mask & pairs.same
    x, y = pairs.gap[g], pairs.score[g]
    if len(x) < 3 or np.ptp(x) == 0:
        return Drift(group, None, None, int(g.sum()))
    slope, intercept = np.polyfit(x, y, 1)
    return Drift(group, float(slope), float(intercept), int(g.sum()))


def evaluate_pairs(pairs: Pairs, setting: str, images: int, people: int, no_face: int) -> AgeingReport:
    known_age = bool(np.isfinite(pairs.enrol_age).any())
    groups = AGE_GROUPS if known_age else ()
    # similar-age impostors when ages are known; otherwise every different-person pair
    impostor = ~pairs.same & ((pairs.age_diff <= IMPOSTOR_AGE_WINDOW) if known_age else True)
    cells, drifts = [], []
    for name, lo, hi in (*groups, ("all", -np.inf, np.inf)):
        in_group = _in(pairs.enrol_age, lo, hi) if name != "all" else np.ones(len(pairs.score), bool)
        imp = pairs.score[impostor & in_group]
        for gname, glo, ghi in (*GAP_BINS, ("all", -np.inf, np.inf)):
            gen = pairs.score[pairs.same & in_group & _in(pairs.gap, glo, ghi)]
            cells.append(score_cell(gen, imp, name, gname))
        drifts.append(drift(pairs, in_group, name))
    return AgeingReport(setting, images, people, no_face, tuple(cells), tuple(drifts))


def evaluate(samples: Sequence[Sample], embeddings: Mapping[Path, Mapping[str, np.ndarray] | None],
             recognizer: Recognizer, setting: str | None = None) -> AgeingReport:
    """The report for one recognizer; `embeddings` maps each sample's path to its vectors (None: no face)."""
    usable = [s for s in samples if embeddings.get(s.path) is not None]
    vectors = {m: np.stack([embeddings[s.path][m] for s in usable]).astype(np.float32) for m in recognizer.models} \
        if usable else {m: np.zeros((0, 1), np.float32) for m in recognizer.models}
    pairs = make_pairs(usable, vectors, recognizer)
    return evaluate_pairs(pairs, setting or recognizer.key, len(samples), len({s.person for s in samples}),
                          len(samples) - len(usable))


def plot_tar_vs_gap(reports: Sequence[AgeingReport], path: Path, far_key: str = "tar_1e2") -> Path:
    """TAR at FAR 1e-2 per gap bin, one line per setting; children and all ages side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in ("under 13", "all") if any(c.group == g for r in reports for c in r.cells)]
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), squeeze=False)
    labels = [g for g, _, _ in GAP_BINS]
    for ax, group in zip(axes[0], groups):
        for r in reports:
            ys = [getattr(r.cell(group, g), far_key) for g in labels]
            ax.plot(labels, [np.nan if y is None else y for y in ys], marker="o", label=r.setting)
        ax.set_title(f"enrolled {'under 13' if group == 'under 13' else 'at any age'}")
        ax.set_xlabel("enrollment-verification gap (years)")
        ax.set_ylabel("TAR at FAR 1e-2 (similar-age impostors)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
