"""What the detectors share: resizing for the network and multi-scale merging."""

from __future__ import annotations

import cv2
import numpy as np

from ...types import Face
from ..base import faces_from_arrays
from ..registry import ModelSpec


class BaseDetector:
    """Runs `_forward` at one or more scales of the image and merges the results with NMS.

    `_forward(image_rgb_resized) -> (boxes xyxy, scores, landmarks (N,10))` in resized pixels.
    Subclasses set `stride` (the network's input must be a multiple of it, or 1).
    """

    stride = 1

    def __init__(self, spec: ModelSpec, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 min_face_size: float = 10.0, max_side: int = 1280, scales: tuple[float, ...] = (1.0,)):
        self.spec = spec
        self.name = spec.name
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_face_size = float(min_face_size)
        self.max_side = int(max_side)
        self.scales = tuple(float(s) for s in scales)

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        parts = []
        for s in self.scales:
            # the long side is capped at max_side * s, so huge photos stay affordable
            f = min(s, self.max_side * s / max(h, w))
            nw, nh = max(self.stride, round(w * f)), max(self.stride, round(h * f))
            resized = image if (nw, nh) == (w, h) else cv2.resize(
                image, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
            boxes, scores, lms = self._forward(resized)  # thread-safe: the runtime's sessions are
            if len(scores):
                sx, sy = w / nw, h / nh
                boxes = boxes * np.array([sx, sy, sx, sy], np.float32)
                lms = lms * np.tile(np.array([sx, sy], np.float32), 5)
                parts.append((boxes, scores, lms))
        if not parts:
            return []
        boxes, scores, lms = (np.concatenate(p) for p in zip(*parts))
        if len(parts) > 1 or self.nms_after_forward:
            keep = nms(boxes, scores, self.nms_threshold)
            boxes, scores, lms = boxes[keep], scores[keep], lms[keep]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return faces_from_arrays(boxes, scores, lms, self.min_face_size)

    nms_after_forward = False

    def _forward(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]]).tolist()
    keep = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), 0.0, iou)
    return np.asarray(keep, dtype=np.int64).reshape(-1)
