"""Landmark accuracy on FG-NET's 68-point markup: normalized mean error against iBUG-order points.

FG-NET's own 68 points are not the iBUG 300-W scheme (see the data set's README): its jaw has 15
points, each brow is a closed 6-point outline, each eye has 4 contour points and the pupil, and the
mouth's inner 8 iBUG points are 6 points, the mouth's centre and the nose tip. So predictions in
iBUG order (our mesh through `vultus.mesh.to68`, dlib's 68-point predictor) are compared on the
points both schemes mark the same way, `COMMON` below (35 points); the lids' midpoints are the means
of iBUG's two lid points. The error is normalized by the ground truth's outer-eye-corner distance
(the "inter-ocular" NME of 300-W).

People, not images, are split: a subject's images are all in one part (`split`), so a choice made
on `val` or a correction fitted on `train` is judged on people it never saw (`test`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..types import Face

# (what, FG-NET index, iBUG indices whose mean corresponds to it); image-left first
COMMON: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("brow outer end (image-left)", 21, (17,)),
    ("brow inner end (image-left)", 24, (21,)),
    ("brow inner end (image-right)", 18, (22,)),
    ("brow outer end (image-right)", 15, (26,)),
    ("eye outer corner (image-left)", 27, (36,)),
    ("upper lid middle (image-left)", 28, (37, 38)),
    ("eye inner corner (image-left)", 29, (39,)),
    ("lower lid middle (image-left)", 30, (40, 41)),
    ("eye inner corner (image-right)", 34, (42,)),
    ("upper lid middle (image-right)", 33, (43, 44)),
    ("eye outer corner (image-right)", 32, (45,)),
    ("lower lid middle (image-right)", 35, (46, 47)),
    ("nose tip", 67, (30,)),
    ("nostril base (image-left)", 40, (31,)),
    ("below the nose (subnasale)", 41, (33,)),
    ("nostril base (image-right)", 42, (35,)),
    *((f"outer lip {i}", i, (i,)) for i in range(48, 60)),  # the same 12 points in both schemes
    ("inner upper lip (image-left)", 65, (61,)),
    ("inner upper lip middle", 64, (62,)),
    ("inner upper lip (image-right)", 63, (63,)),
    ("inner lower lip (image-right)", 62, (65,)),
    ("inner lower lip middle", 61, (66,)),
    ("inner lower lip (image-left)", 60, (67,)),
    ("chin", 7, (8,)),
)
OUTER_EYE_CORNERS = (27, 32)  # FG-NET indices: the normalizing distance
# The 5 points detectors give (image-left eye, image-right eye, nose tip, mouth corners): FG-NET's
# pupils, nose tip and mouth corners, and the iBUG points that stand for them (eye = contour mean)
FIVE_FGNET = (31, 36, 67, 48, 54)
FIVE_IBUG = (tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,))

NAME = re.compile(r"(\d{3})A(\d{2})([ab]?)\.JPG", re.I)


@dataclass(frozen=True, eq=False)
class Annotated:
    path: Path
    subject: int
    age: int
    points: np.ndarray  # (68, 2) FG-NET markup, pixels of the stored image

    @property
    def iod(self) -> float:
        a, b = OUTER_EYE_CORNERS
        return float(np.linalg.norm(self.points[a] - self.points[b]))


def split(subject: int) -> str:
    """The part a subject belongs to: `val` (choices), `train` (fitted corrections), `test`."""
    return {1: "val", 3: "test"}.get(subject % 5, "train")


def load_fgnet(root: Path, part: str | None = None) -> list[Annotated]:
    """FG-NET's images with their 68 points (all, or one part of the subject split)."""
    out = []
    with open(root / "landmarks68.csv", newline="") as f:
        for row in csv.DictReader(f):
            m = NAME.fullmatch(row["file"])
            subject = int(m.group(1))
            if part is not None and split(subject) != part:
                continue
            pts = np.array([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)], np.float32)
            out.append(Annotated(root / "images" / row["file"], subject, int(m.group(2)), pts))
    return out


def common_points(ibug68: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG-order points -> the (35, 2) points comparable with FG-NET."""
    return np.stack([ibug68[list(idx)].mean(0) for _, _, idx in COMMON])


def fgnet_common(points: np.ndarray) -> np.ndarray:
    return points[[fg for _, fg, _ in COMMON]]


def nme(ibug68: np.ndarray, truth: Annotated) -> float:
    """Mean point error over `COMMON`, in units of the true outer-eye-corner distance."""
    err = np.linalg.norm(common_points(ibug68) - fgnet_common(truth.points), axis=1)
    return float(err.mean() / truth.iod)


def nme5(five: np.ndarray, truth: Annotated) -> float:
    """The same for 5 points (eye centres, nose tip, mouth corners), e.g. a detector's."""
    err = np.linalg.norm(np.asarray(five)[:, :2] - truth.points[list(FIVE_FGNET)], axis=1)
    return float(err.mean() / truth.iod)


def five_from_ibug(ibug68: np.ndarray) -> np.ndarray:
    return np.stack([ibug68[list(idx)].mean(0) for idx in FIVE_IBUG])


def match(faces: list[Face], truth: Annotated) -> Face | None:
    """The detected face that is the annotated one: its eyes nearest the true eyes, within half
    the inter-ocular distance; None if the detector missed it."""
    eyes = truth.points[list(FIVE_FGNET[:2])]
    best, best_d = None, 0.5 * truth.iod
    for f in faces:
        d = float(np.linalg.norm(f.landmarks[:2] - eyes, axis=1).mean())
        if d < best_d:
            best, best_d = f, d
    return best
