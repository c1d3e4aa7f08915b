"""Expression data sets and metrics: FER2013 (in domain) and CK+48 (out of domain).

FER2013 comes as one `.npz` per split of concatenated JPEG files (see the data set's README);
CK+48 as PNG files listed in `index.csv`. Both are 48x48 grey face crops. Labels follow FER2013's
codes; `CLASSES` gives their names in that order.

CK+ has no neutral class and one that FER2013 lacks, contempt. The rule used everywhere here:
contempt images are left out of the scores (`contempt="drop"`, the headline figure, "CK+48 without
contempt"), and a second figure counts them as wrong whatever is predicted (`contempt="wrong"`),
since no 7-class FER model can say contempt. A prediction of neutral on a CK+ image is always wrong.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.analyze._fer_crops import EXPRESSIONS as CLASSES
FER_SPLITS = ("Training", "PublicTest", "PrivateTest")
_CK_NAMES = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "sadness": "sad",
             "surprise": "surprise"}


@dataclass(frozen=True)
class ExpressionSet:
    """Grey face crops with FER2013 labels; `groups` names what images belong together (a CK+
    sequence), for reports that must not count near-duplicates as independent."""

    name: str
    images: np.ndarray  # (N, H, W) uint8
    labels: np.ndarray  # (N,) int64, indices into CLASSES
    groups: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return len(self.labels)


def load_fer2013(root: Path, split: str) -> ExpressionSet:
    if split not in FER_SPLITS:
        raise ValueError(f"unknown FER2013 split {split!r}; one of {', '.join(FER_SPLITS)}")
    from PIL import Image

    with np.load(Path(root) / f"fer2013_{split}.npz") as d:
        jpeg, offsets, labels, names = d["jpeg"], d["offsets"], d["labels"], d["names"]
    images = np.stack([np.asarray(Image.open(io.BytesIO(jpeg[a:b].tobytes())).convert("L"))
                       for a, b in zip(offsets[:-1], offsets[1:])])
    return ExpressionSet(f"FER2013 {split}", images, labels.astype(np.int64), names.astype(str))


def load_ckplus48(root: Path, contempt: bool = False) -> ExpressionSet:
    """CK+48 with FER2013 label indices; contempt images (label -1) only if `contempt`."""
    from PIL import Image

    root = Path(root)
    rows = list(csv.DictReader(open(root / "index.csv", newline="")))
    if not contempt:
        rows = [r for r in rows if r["emotion"] != "contempt"]
    labels = np.array([CLASSES.index(_CK_NAMES[r["emotion"]]) if r["emotion"] in _CK_NAMES else -1
                       for r in rows], np.int64)
    images = np.stack([np.asarray(Image.open(root / r["path"]).convert("L")) for r in rows])
    return ExpressionSet("CK+48", images, labels, np.array([r["sequence"] for r in rows]))


# -- metrics ---------------------------------------------------------------------------------------
def confusion(labels: np.ndarray, predicted: np.ndarray, n: int = len(CLASSES)) -> np.ndarray:
    """(n, n) counts, rows = true class, columns = predicted class."""
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m


def scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 over the classes present in `labels`, and the expected calibration error.

    Labels of -1 (CK+ contempt) are images no class can match: they count as wrong."""
    labels = np.asarray(labels)
    predicted = probs.argmax(1)
    known = labels >= 0
    cm = confusion(labels[known], predicted[known], probs.shape[1])
    present = np.nonzero(cm.sum(1))[0]
    tp = np.diag(cm)[present]
    precision = tp / np.maximum(cm.sum(0)[present], 1)
    recall = tp / cm.sum(1)[present]
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return {"accuracy": float((predicted == labels).mean()), "macro_f1": float(f1.mean()),
            "ece": expected_calibration_error(labels, probs), "n": int(len(labels))}


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins."""
    conf, correct = probs.max(1), probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            gap += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(gap)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (golden-section
    search on log T; the NLL is unimodal in T)."""
    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        return float((np.log(np.exp(z).sum(1)) - z[np.arange(len(labels)), labels]).mean())

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        lo, hi = (lo, b) if nll(a) < nll(b) else (a, hi)
    return float(np.exp((lo + hi) / 2))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    z = np.exp(z - z.max(-1, keepdims=True))
    return (z / z.sum(-1, keepdims=True)).astype(np.float32)


# -- plots -----------------------------------------------------------------------------------------
def plot_confusions(panels: list[tuple[str, np.ndarray]], path: Path, classes=CLASSES) -> Path:
    """Row-normalised confusion matrices side by side, one panel per (title, counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 if len(panels) == 4 else min(len(panels), 3)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, cm) in zip(axes.flat, panels):
        rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                if cm[i].sum():
                    ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                            color="white" if rates[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=60, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_title(title, fontsize=8.5)
        ax.set_xlabel("predicted", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(curves: list[tuple[str, np.ndarray, np.ndarray]], path: Path, bins: int = 15) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, per (title, labels, probs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    edges = np.linspace(0, 1, bins + 1)
    for title, labels, probs in curves:
        conf, correct = probs.max(1), probs.argmax(1) == labels
        idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
        xs = [conf[idx == b].mean() for b in range(bins) if (idx == b).sum() >= 10]
        ys = [correct[idx == b].mean() for b in range(bins) if (idx == b).sum() >= 10]
        ax.plot(xs, ys, "o-", ms=3, label=f"{title} (ECE {expected_calibration_error(labels, probs):.3f})")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
