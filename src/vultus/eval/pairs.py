"""The LFW pairs protocol: 10 folds, the threshold (and any fusion) learned on 9, tested on the 10th."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..decide import Recognizer
from ..errors import VultusError
from . import metrics


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


def read_pairs(pairs_file: str | Path, root: str | Path, ext: str = "jpg") -> list[Pair]:
    """Read an LFW-format pairs file: a header `folds n`, then per fold n matched lines
    `name i j` and n mismatched lines `name1 i name2 j`. Images are `root/name/name_%04d.ext`."""
    path, root = Path(pairs_file), Path(root)
    try:
        lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise VultusError(f"{path}: cannot read pairs file ({e})") from None
    if not lines:
        raise VultusError(f"{path}: empty pairs file")

    def img(name: str, i: str) -> Path:
        return root / name / f"{name}_{int(i):04d}.{ext}"

    head = lines[0]
    if len(head) == 2 and all(t.isdigit() for t in head):
        folds, n = int(head[0]), int(head[1])
        body = lines[1:]
    elif len(head) == 1 and head[0].isdigit():  # pairsDevTrain style: just a count
        folds, n, body = 1, int(head[0]), lines[1:]
    else:
        raise VultusError(f"{path}: first line must be 'folds pairs_per_class', e.g. '10 300'")
    pairs = []
    for k, parts in enumerate(body):
        fold = min(k // (2 * n), folds - 1) if n else 0
        try:
            if len(parts) == 3:
                pairs.append(Pair(img(parts[0], parts[1]), img(parts[0], parts[2]), True, fold))
            elif len(parts) == 4:
                pairs.append(Pair(img(parts[0], parts[1]), img(parts[2], parts[3]), False, fold))
            else:
                raise ValueError
        except ValueError:
            raise VultusError(f"{path}:{k + 2}: expected 'name i j' or 'name1 i name2 j'") from None
    return pairs


@dataclass
class PairScores:
    """Per-model cosine scores of every pair, and which pairs had an image with no detected face."""

    labels: np.ndarray
    folds: np.ndarray
    per_model: dict[str, np.ndarray]
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def score_pairs(pairs: list[Pair], embeddings: dict[Path, dict[str, np.ndarray] | None],
                models: Iterable[str]) -> PairScores:
    """Per-model cosine of every pair; a pair with an image without a face scores -1 (a reject,
    which counts against accuracy, as it should)."""
    models = list(models)
    per_model = {m: np.full(len(pairs), -1.0) for m in models}
    missing = np.zeros(len(pairs), bool)
    for k, p in enumerate(pairs):
        ea, eb = embeddings.get(p.a), embeddings.get(p.b)
        if ea is None or eb is None:
            missing[k] = True
            continue
        for m in models:
            per_model[m][k] = float(np.dot(ea[m], eb[m]))
    return PairScores(np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]), per_model, missing)


@dataclass(frozen=True)
class PairsReport:
    recognizer: str
    accuracy_mean: float
    accuracy_std: float
    fold_accuracies: tuple[float, ...]
    auc: float
    tar_at_far_1e3: float
    eer: float
    pairs: int
    missing_faces: int
    roc: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False, default=(np.zeros(0), np.zeros(0)))

    def to_dict(self) -> dict:
        return {
            "recognizer": self.recognizer,
            "accuracy_mean": round(self.accuracy_mean, 5),
            "accuracy_std": round(self.accuracy_std, 5),
            "fold_accuracies": [round(a, 4) for a in self.fold_accuracies],
            "auc": round(self.auc, 5),
            "tar_at_far_1e-3": round(self.tar_at_far_1e3, 5),
            "eer": round(self.eer, 5),
            "pairs": self.pairs,
            "missing_faces": self.missing_faces,
        }


def ten_fold(scores: PairScores, recognizer: Recognizer) -> PairsReport:
    """Accuracy by the standard protocol; fusion weights and threshold come from the training folds.

    AUC, TAR@FAR and EER are computed on scores pooled over folds, each fold's fused score using
    the weights learned without it.
    """
    x = np.column_stack([scores.per_model[m] for m in recognizer.models])
    y = scores.labels
    folds = np.unique(scores.folds)
    accs, fused = [], np.zeros(len(y))
    for f in folds:
        test, train = scores.folds == f, scores.folds != f
        if len(folds) == 1:
            train = test  # a single-fold file: report training accuracy, said in the docs
        w = metrics.fit_fusion(x[train], y[train])
        t, _ = metrics.best_threshold(x[train] @ w, y[train])
        fused[test] = x[test] @ w
        accs.append(float(np.mean((fused[test] >= t) == y[test])))
    far, tar, _ = metrics.roc(fused, y)
    return PairsReport(
        recognizer=recognizer.key, accuracy_mean=float(np.mean(accs)), accuracy_std=float(np.std(accs)),
        fold_accuracies=tuple(accs), auc=metrics.auc(far, tar), tar_at_far_1e3=metrics.tar_at_far(far, tar, 1e-3),
        eer=metrics.eer(far, tar), pairs=len(y), missing_faces=int(scores.missing.sum()), roc=(far, tar),
    )


def plot_curves(reports: list[PairsReport], out: str | Path) -> list[Path]:
    """ROC (TAR vs FAR, log x) and DET (FRR vs FAR, log-log) curves as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in ("roc", "det"):
        fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=110)
        for r in reports:
            far, tar = r.roc
            ok = far > 0
            if kind == "roc":
                ax.plot(far[ok], tar[ok], label=f"{r.recognizer} (AUC {r.auc:.4f})")
            else:
                ax.plot(far[ok], np.maximum(1 - tar[ok], 1e-4), label=f"{r.recognizer} (EER {r.eer:.2%})")
        ax.set_xscale("log")
        if kind == "det":
            ax.set_yscale("log")
        ax.set_xlabel("false accept rate")
        ax.set_ylabel("true accept rate" if kind == "roc" else "false reject rate")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{kind.upper()} on {reports[0].pairs} pairs")
        fig.tight_layout()
        p = out.with_name(f"{out.stem}_{kind}.png")
        fig.savefig(p)
        plt.close(fig)
        written.append(p)
    return written
