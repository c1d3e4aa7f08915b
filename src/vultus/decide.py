"""Scores and decisions: fusion of several embedders' cosines, and thresholds calibrated per target FAR.

A *recognizer* is one embedder or a fusion of several, optionally with flip test-time augmentation,
written as a string: "sface", "dlib", "sface+dlib", "sface+dlib:flip". Its score for two faces is a
weighted mean of the models' cosine similarities (weights learned by logistic regression on LFW;
equal weights until calibrated). Thresholds come from `data/thresholds.json`, which
`bench/calibrate.py` (`make calibrate`) writes from every identity-labelled set in ../shared/data
(LFW, ORL, FG-NET, UTKFace) so that a FAR asked for also holds on data it was not calibrated on
(leave-one-data-set-out, docs/benchmarks.md); nothing here is typed in by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Mapping

import numpy as np

from .errors import ModelError
from .models import registry


@dataclass(frozen=True)
class Recognizer:
    models: tuple[str, ...]
    flip: bool = False

    @classmethod
    def parse(cls, text: str) -> "Recognizer":
        base, _, opt = text.strip().lower().partition(":")
        if opt not in ("", "flip"):
            raise ModelError(f"unknown recognizer option {opt!r} in {text!r}; the only option is ':flip'")
        models = tuple(m for m in base.split("+") if m)
        if not models:
            raise ModelError(f"empty recognizer {text!r}; try 'sface', 'dlib' or 'sface+dlib'")
        for m in models:
            registry.get(m, "embedder")
        if len(set(models)) != len(models):
            raise ModelError(f"recognizer {text!r} names a model twice")
        return cls(models, opt == "flip")

    @property
    def key(self) -> str:
        return "+".join(self.models) + (":flip" if self.flip else "")

    def __str__(self) -> str:
        return self.key

    def _entry(self) -> dict[str, Any]:
        """This recognizer's calibration; a flip variant falls back to its plain entry."""
        return calibration(self.key) or calibration("+".join(self.models)) or {}

    @property
    def weights(self) -> np.ndarray:
        """Fusion weights, one per model, summing to 1."""
        w = self._entry().get("weights")
        if w and set(w) == set(self.models):
            return np.array([w[m] for m in self.models], np.float64)
        return np.full(len(self.models), 1.0 / len(self.models))

    def score(self, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
        return float(sum(w * float(np.dot(a[m], b[m])) for w, m in zip(self.weights, self.models)))

    def fuse(self, per_model: Mapping[str, np.ndarray]) -> np.ndarray:
        """Fused scores from arrays of per-model cosines (same shape)."""
        return sum(w * np.asarray(per_model[m], np.float64) for w, m in zip(self.weights, self.models))

    def threshold(self, target_far: float | None = None) -> tuple[float, float | None]:
        """(threshold, the FAR it was calibrated for). None asks for the best-accuracy threshold."""
        entry = self._entry()
        if not entry:
            raise ModelError(f"recognizer {self.key!r} has no calibrated thresholds; calibrated: "
                             f"{', '.join(calibrated()) or 'none'} (run bench/calibrate.py)")
        if target_far is None:
            return float(entry["best_accuracy"]), None
        table = {float(k): float(v) for k, v in entry["far"].items()}
        # the calibrated FAR closest to the target from below (never looser than asked)
        usable = [f for f in table if f <= target_far * 1.0001]
        if not usable:
            raise ModelError(f"no threshold for FAR {target_far:g} for {self.key!r}; "
                             f"calibrated FARs: {', '.join(f'{f:g}' for f in sorted(table))}")
        far = max(usable)
        return table[far], far


    def open_set_threshold(self, target_fpir: float | None, gallery_size: int) -> tuple[float, float | None]:
        """(threshold, per-comparison FAR used) for identification against `gallery_size` identities.

        `target_fpir` is the rate of unknown faces that may be taken for someone in the gallery.
        One search makes `gallery_size` comparisons, so each must be held to about
        target / gallery_size (a union bound); without this a FAR of 1e-3 per comparison lets most
        strangers match somebody in a gallery of thousands. The per-comparison thresholds are those
        of the cross-data-set table, so the bound FPIR <= gallery_size x FAR inherits its
        leave-one-data-set-out check. When the table holds no FAR that strict, the strictest
        calibrated one is used (and reported)."""
        if target_fpir is None:
            return self.threshold(None)
        per_comparison = target_fpir / max(gallery_size, 1)
        fars = sorted(float(f) for f in self._entry().get("far", {}))
        if fars and per_comparison < fars[0]:
            per_comparison = fars[0]
        return self.threshold(per_comparison)


@cache
def _table() -> dict[str, Any]:
    try:
        return json.loads(resources.files("vultus").joinpath("data/thresholds.json").read_text())
    except FileNotFoundError:
        return {}


def calibration(key: str) -> dict[str, Any] | None:
    return _table().get("recognizers", {}).get(key)


def calibrated() -> list[str]:
    return sorted(_table().get("recognizers", {}))


DEFAULT_FAR = 1e-3
