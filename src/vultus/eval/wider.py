"""Detection average precision on WIDER FACE validation images, by the official protocol.

The WIDER FACE toolkit scores a detector on three settings, easy / medium / hard; each setting
lists, per image, which ground-truth boxes count (`gt_list` in `ground_truth/wider_<setting>_val.mat`).
The other boxes are *ignored*: a detection that lands on one is neither a true nor a false
positive. The protocol, as the toolkit describes and implements it:

* detection scores are min-max normalised over the whole run, then swept over 1,000 thresholds;
* per image, detections are taken best first; each is matched to the ground-truth box it overlaps
  most, and is a hit when that IoU is at least 0.5 (boxes are in inclusive pixel coordinates, so
  widths are x2 - x1 + 1). A second hit on an already found face finds nothing new, so it lowers
  precision like a false positive;
* images without ground-truth boxes or without detections are skipped (their faces still count
  as misses in recall);
* AP is the area under the precision envelope (VOC style: precision made monotone from the right,
  summed over the recall steps).

On top of the three official settings we add `min20`: every valid face at least 20 px tall counts,
smaller and `invalid` faces are ignored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

SETTINGS = ("easy", "medium", "hard")
MIN_HEIGHT = 20  # the `min20` setting: faces at least this many pixels tall
IOU = 0.5
THRESHOLDS = 1000  # score thresholds swept by the official toolkit


@dataclass(frozen=True)
class WiderImage:
    name: str  # "<event>/<file>.jpg", relative to WIDER_val/images
    path: Path
    boxes: np.ndarray  # (N, 4) ground truth, x y w h
    invalid: np.ndarray  # (N,) bool
    counted: Mapping[str, np.ndarray]  # setting -> (N,) bool, True where the face counts


def load_subset(root: Path) -> list[WiderImage]:
    """The images of `subset.txt` with their ground truth (boxes and attributes from
    `wider_face_val_bbx_gt.txt`, the per-setting counted faces from the toolkit's .mat files)."""
    from scipy.io import loadmat

    root = Path(root)
    names = [line.strip() for line in (root / "subset.txt").read_text().splitlines() if line.strip()]
    text = _read_gt_txt(root / "wider_face_val_bbx_gt.txt")
    full = loadmat(root / "ground_truth" / "wider_face_val.mat")
    lists = {s: loadmat(root / "ground_truth" / f"wider_{s}_val.mat")["gt_list"] for s in SETTINGS}

    # (event, file stem) -> (event index, file index) in the .mat lists
    where = {}
    for e, files in enumerate(full["file_list"][:, 0]):
        event = str(full["event_list"][e, 0][0])
        for f, cell in enumerate(files[:, 0]):
            where[(event, str(cell[0]))] = (e, f)

    images = []
    for name in names:
        event, file = name.split("/")
        e, f = where[(event, file.removesuffix(".jpg"))]
        boxes, invalid = text[name]
        mat_boxes = full["face_bbx_list"][e, 0][f, 0].astype(np.float64).reshape(-1, 4)
        if not np.array_equal(mat_boxes, boxes):  # both files must describe the same faces in order
            raise ValueError(f"{name}: ground truth differs between the .txt and the .mat files")
        counted = {}
        for s in SETTINGS:
            keep = np.zeros(len(boxes), bool)
            keep[lists[s][e, 0][f, 0].astype(np.int64).reshape(-1) - 1] = True  # 1-based in MATLAB
            counted[s] = keep
        counted["min20"] = (boxes[:, 3] >= MIN_HEIGHT) & ~invalid
        images.append(WiderImage(name, root / "WIDER_val" / "images" / name, boxes, invalid, counted))
    return images


def _read_gt_txt(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (boxes x y w h, invalid flags). An image with no face has one all-zero line."""
    lines = path.read_text().split("\n")
    out, i = {}, 0
    while i < len(lines) and lines[i].strip():
        name, n = lines[i].strip(), int(lines[i + 1])
        rows = np.array([[float(v) for v in lines[i + 2 + k].split()] for k in range(max(n, 1))]).reshape(-1, 10)
        rows = rows[:n]
        out[name] = (rows[:, :4], rows[:, 7].astype(bool))
        i += 2 + max(n, 1)
    return out


def evaluate(images: list[WiderImage], predictions: Mapping[str, np.ndarray],
             settings: tuple[str, ...] = (*SETTINGS, "min20")) -> dict[str, dict[str, float]]:
    """AP per setting. `predictions`: image name -> (M, 5) array of x1 y1 x2 y2 score.

    Also returns, per setting, recall and precision with every detection kept (the operating
    point of a detector run at its own score threshold)."""
    preds = _normalise_scores(predictions)
    out = {}
    for s in settings:
        proposals = np.zeros(THRESHOLDS)  # detections kept at each threshold, ignored hits excluded
        found = np.zeros(THRESHOLDS)  # counted faces found at each threshold
        n_faces = 0
        for img in images:
            counted = img.counted[s]
            n_faces += int(counted.sum())
            pred = preds.get(img.name, np.zeros((0, 5)))
            if len(img.boxes) == 0 or len(pred) == 0:
                continue
            p, f = _curve(pred, img.boxes, counted)
            proposals += p
            found += f
        precision = np.divide(found, proposals, out=np.zeros(THRESHOLDS), where=proposals > 0)
        recall = found / max(n_faces, 1)
        out[s] = {"ap": voc_ap(recall, precision), "recall": float(recall[-1]),
                  "precision": float(precision[-1]), "faces": n_faces}
    return out


def _normalise_scores(predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Min-max normalise all scores to [0, 1] (the fixed threshold sweep assumes that range),
    and sort each image's detections best first."""
    preds = {k: np.asarray(v, np.float64).reshape(-1, 5) for k, v in predictions.items()}
    scores = np.concatenate([p[:, 4] for p in preds.values()] + [np.zeros(0)])
    lo, hi = (scores.min(), scores.max()) if len(scores) else (0.0, 1.0)
    out = {}
    for k, p in preds.items():
        p = p[np.argsort(-p[:, 4], kind="stable")].copy()
        p[:, 4] = (p[:, 4] - lo) / (hi - lo) if hi > lo else 1.0
        out[k] = p
    return out


def _curve(pred: np.ndarray, gt_xywh: np.ndarray, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's (proposals, faces found) at each threshold of the sweep; `pred` best first."""
    gt = np.column_stack([gt_xywh[:, :2], gt_xywh[:, :2] + gt_xywh[:, 2:4]])
    overlaps = iou_matrix(pred[:, :4], gt)
    is_proposal = np.ones(len(pred), bool)
    state = np.zeros(len(gt), np.int8)  # 0 not found yet, 1 found, -1 an ignored face was hit
    found_so_far = np.zeros(len(pred), np.int64)
    for h in range(len(pred)):
        j = int(np.argmax(overlaps[h]))
        if overlaps[h, j] >= IOU:
            if not counted[j]:
                state[j] = -1
                is_proposal[h] = False
            elif state[j] == 0:
                state[j] = 1
        found_so_far[h] = int((state == 1).sum())
    # threshold t keeps the detections with score >= t; thresholds run from 0.999 down to 0
    thresholds = 1 - np.arange(1, THRESHOLDS + 1) / THRESHOLDS
    kept = np.searchsorted(-pred[:, 4], -thresholds, side="right")  # scores are sorted descending
    cum_prop = np.concatenate([[0], np.cumsum(is_proposal)])
    cum_found = np.concatenate([[0], found_so_far])
    return cum_prop[kept].astype(np.float64), cum_found[kept].astype(np.float64)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` with every box of `b` (x1 y1 x2 y2, inclusive pixel coordinates)."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope; `recall` must be non-decreasing."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # best precision at this recall or beyond
    step = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))
