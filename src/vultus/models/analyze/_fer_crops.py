"""The face crops (and classes) the expression models see: one canonical 48x48 grey crop framed like FER2013.

Training data (FER2013, CK+48) are 48x48 grey crops; a face in a photo is far sharper and in
colour. So every face, in training and in use, goes through the same steps: its 5 landmarks are
aligned to `FER_TEMPLATE` in a 48x48 grey crop (anti-aliased when the face is larger), and every
network input is derived from that crop only (`sface_input`: the ArcFace 112 framing, upsampled
from it). A photo then looks to the networks as a FER2013 image does.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...align import ARCFACE_112, similarity_transform

#: the seven FER2013 expressions, in its label order (every expression model here speaks these)
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CROP = 48
#: Mean YuNet landmarks (right eye, left eye, nose, mouth corners) found on 300 FER2013 PublicTest
#: crops (upscaled 3x for the detector); CK+48 crops give the same framing within a pixel.
FER_TEMPLATE = np.array([[15.2, 18.8], [32.1, 19.0], [22.7, 28.4], [16.9, 36.1], [30.6, 36.4]], np.float32)
#: FER crop -> ArcFace 112 crop (SFace's framing), a fixed similarity since the crop is aligned
TO_ARCFACE = similarity_transform(FER_TEMPLATE, ARCFACE_112)


def grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def expression_crop(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The (48, 48) uint8 grey crop of a face aligned to `FER_TEMPLATE` (RGB or grey image)."""
    g = grey(image)
    m = similarity_transform(landmarks, FER_TEMPLATE)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale >= 0.5:
        return cv2.warpAffine(g, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # a large face: warp to a few times the size, then area-average down (a plain warp would alias)
    k = int(min(np.floor(1 / scale), 8))
    big = cv2.warpAffine(g, m * k, (CROP * k, CROP * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(big, (CROP, CROP), interpolation=cv2.INTER_AREA)


def sface_input(crops: np.ndarray, size: int = 112) -> np.ndarray:
    """(N, 48, 48) grey crops -> (N, 3, size, size) float32 RGB 0..255: SFace's framing (ArcFace 112
    template), scaled to `size` (SFace is fully convolutional up to its last feature map)."""
    m = TO_ARCFACE * (size / 112)
    out = np.empty((len(crops), 3, size, size), np.float32)
    for i, c in enumerate(crops):
        out[i] = cv2.warpAffine(c, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[None]
    return out


def cnn_input(crops: np.ndarray) -> np.ndarray:
    """(N, 48, 48) grey crops -> (N, 1, 48, 48) float32 in [-1, 1], the appearance CNN's input."""
    return (np.asarray(crops, np.float32)[:, None] / 127.5 - 1.0).astype(np.float32)


def to_label(p: np.ndarray) -> "Label":
    """Class probabilities (EXPRESSIONS order) -> the `Label` analyzers report."""
    from ...types import Label

    k = int(np.argmax(p))
    return Label(EXPRESSIONS[k], float(p[k]), dict(zip(EXPRESSIONS, map(float, p))))
