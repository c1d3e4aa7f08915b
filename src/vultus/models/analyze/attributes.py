"""Age, gender and ethnicity with a mask-guided multi-task network, trained here (`training/attributes`).

The network reads an ArcFace-aligned 112x112 crop. A frozen trunk (the first blocks of the shipped
SFace embedder) gives a 14x14 feature map; five *group masks* (eyes and brows, nose, mouth, jaw and
cheeks, forehead and hair) start from the face's landmarks mapped into the crop and are refined by a
small fully convolutional network (adaptive mask learning); features pooled inside each mask and
over the whole map are fused before one head per task (group-global feature fusion).
"""

from __future__ import annotations

import cv2
import numpy as np

from ...align import ARCFACE_112, align, similarity_transform
from ...runtime import open_session
from ...types import Estimate, Face, Label
from ..registry import ModelSpec, Task, register

SPEC = register(ModelSpec(
    name="attributes", task=Task.ANALYZER, impl=__name__ + ":Attributes",
    summary="age (with an 80% interval), age group, gender, ethnicity: a mask-guided multi-task network on "
            "SFace's first blocks, trained here on UTKFace. NOT for commercial use (UTKFace)",
    package=None, file="weights/attributes.onnx",
    sha256="f3e008e121d7b34391612f26ee067a11b4004cb6f9a38662785705af020037fb",
    licence="non-commercial research only (trained on UTKFace); SFace trunk Apache-2.0",
    commercial_use=False, input_size="112x112 aligned (5 landmarks)",
    outputs=("age", "age_group", "gender", "ethnicity"),
    card="attributes.md", training="training/attributes",
))

#: UTKFace's age groups (the strata of the shared subset) and classes, in the network's output order.
AGE_GROUPS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
AGE_GROUP_STARTS = (0, 3, 10, 20, 30, 40, 50, 60, 70)
GENDERS = ("male", "female")  # UTKFace's 0 / 1
ETHNICITIES = ("white", "black", "asian", "indian", "others")  # UTKFace's 0..4 ("others": e.g. Hispanic, Middle Eastern)
GROUPS = ("eyes", "nose", "mouth", "jaw_cheeks", "forehead")
CROP = 112  # the aligned crop side
GRID = 14  # the feature map side (SFace's 14x14 stage)


def age_group_index(age: float) -> int:
    return int(np.searchsorted(AGE_GROUP_STARTS, age, side="right") - 1)


def _ellipse(canvas: np.ndarray, centre, axes, angle: float = 0.0) -> None:
    cv2.ellipse(canvas, (int(round(centre[0] * 8)), int(round(centre[1] * 8))),
                (max(1, int(round(axes[0] * 8))), max(1, int(round(axes[1] * 8)))), angle, 0, 360, 1, -1,
                lineType=cv2.LINE_AA, shift=3)


def masks_from_points(points: np.ndarray) -> np.ndarray:
    """(5, 14, 14) float32 soft group masks from the 5 landmarks in crop pixels.

    Ellipses placed in units of the eye distance `d`, drawn at crop resolution and averaged down to
    the feature grid (so a cell's value is the share of its pixels inside the region)."""
    eye_r, eye_l, nose, mouth_r, mouth_l = np.asarray(points, np.float64)
    eyes = (eye_r + eye_l) / 2
    mouth = (mouth_r + mouth_l) / 2
    d = float(np.linalg.norm(eye_l - eye_r)) or 1.0
    angle = float(np.degrees(np.arctan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0])))
    up = np.array([np.sin(np.radians(angle)), -np.cos(np.radians(angle))])  # towards the forehead
    out = np.zeros((len(GROUPS), CROP, CROP), np.float32)
    _ellipse(out[0], eyes + 0.12 * d * up, (0.95 * d, 0.38 * d), angle)  # eyes and brows
    _ellipse(out[1], (eyes + 2 * nose) / 3, (0.32 * d, 0.55 * float(np.linalg.norm(nose - eyes))), angle)
    _ellipse(out[2], mouth, (0.62 * float(np.linalg.norm(mouth_l - mouth_r)) + 0.1 * d, 0.32 * d), angle)
    for cheek in (eye_r, eye_l):  # cheeks under each eye, and the jaw below the mouth
        _ellipse(out[3], cheek + (nose - eyes) * 0.9 + (cheek - eyes) * 0.15, (0.42 * d, 0.5 * d), angle)
    _ellipse(out[3], mouth - 0.55 * d * up, (1.0 * d, 0.42 * d), angle)
    _ellipse(out[4], eyes + 1.05 * d * up, (1.35 * d, 0.6 * d), angle)  # forehead and hairline
    out[3] = np.clip(out[3] - out[1] - out[2], 0, 1)  # the cheek group is the skin around nose and mouth
    return _to_grid(out)


def _to_grid(masks: np.ndarray) -> np.ndarray:
    """(G, 112, 112) -> (G, 14, 14): the share of each cell's pixels inside each region."""
    k = CROP // GRID
    return masks.reshape(len(masks), GRID, k, GRID, k).mean(axis=(2, 4)).astype(np.float32)


def prepare(image: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
    """The face's aligned 112x112 crop and its prior group masks (from its landmarks in the crop)."""
    m = similarity_transform(face.landmarks, ARCFACE_112)
    points = np.asarray(face.landmarks, np.float64) @ m[:, :2].T + m[:, 2]
    return align(image, face.landmarks, ARCFACE_112, CROP), masks_from_points(points)


class Attributes:
    """The `FaceAnalyzer`: one network call for all faces of an image."""

    outputs = SPEC.outputs

    def __init__(self, spec):
        self.spec, self.name = spec, spec.name
        self._session = open_session(spec.weights_path(), dynamic_batch=True)

    def run(self, crops: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
        """The network's outputs for (N,112,112,3) RGB uint8 crops and (N,5,14,14) prior masks."""
        blob = np.ascontiguousarray(np.asarray(crops, np.float32).transpose(0, 3, 1, 2))
        outs = self._session.run([blob, np.ascontiguousarray(masks, np.float32)])
        return dict(zip(("gender", "ethnicity", "age_probs", "age", "age_low", "age_high", "group_masks"), outs))

    def analyze(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        if not faces:
            return faces
        crops, masks = zip(*(prepare(image, f) for f in faces))
        out = self.run(np.stack(crops), np.stack(masks))
        groups = group_probabilities(out["age_probs"])
        return [f.with_attributes(
            age=Estimate(float(out["age"][i]), "years", low=float(out["age_low"][i]), high=float(out["age_high"][i])),
            age_group=_label(AGE_GROUPS, groups[i]),
            gender=_label(GENDERS, out["gender"][i]),
            ethnicity=_label(ETHNICITIES, out["ethnicity"][i]),
        ) for i, f in enumerate(faces)]


def group_probabilities(age_probs: np.ndarray) -> np.ndarray:
    """(N, 101) probabilities over ages 0..100 -> (N, 9) over AGE_GROUPS."""
    edges = [*AGE_GROUP_STARTS, age_probs.shape[1]]
    return np.stack([age_probs[:, a:b].sum(1) for a, b in zip(edges, edges[1:])], 1)


def _label(names: tuple[str, ...], p: np.ndarray) -> Label:
    k = int(np.argmax(p))
    return Label(names[k], float(p[k]), {n: float(v) for n, v in zip(names, p)})
