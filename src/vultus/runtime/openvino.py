"""The OpenVINO backend: one compiled model per file, one inference request per thread."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import RuntimeConfig
from .graph import load_for_runtime

MAX_SHAPES_PER_THREAD = 8
_CORE = None
_CORE_LOCK = threading.Lock()


def core():
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            import openvino as ov

            _CORE = ov.Core()
        return _CORE


class OpenVINOSession:
    backend = "openvino"

    def __init__(self, path: Path, cfg: RuntimeConfig, *, dynamic_batch: bool, dynamic_size: bool):
        rewritten = load_for_runtime(path, dynamic_batch, dynamic_size)
        model = core().read_model(io.BytesIO(rewritten) if rewritten else str(path))
        if (dynamic_batch or dynamic_size) and path.suffix != ".onnx":  # e.g. TFLite: NHWC
            shapes = {}
            for port in model.inputs:
                dims = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
                if dynamic_batch:
                    dims[0] = -1
                if dynamic_size and len(dims) == 4:
                    dims[1] = dims[2] = -1
                shapes[port.get_any_name()] = dims
            model.reshape(shapes)
        self.input_names = tuple(p.get_any_name() for p in model.inputs)
        self.output_names = tuple(p.get_any_name() for p in model.outputs)
        settings = {"PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_NUM_THREADS": cfg.threads or os.cpu_count() or 1,
                    # f32 keeps outputs identical to the reference network; the CPU's bf16/f16
                    # default would move embeddings by ~3e-4 in cosine and shift calibrated thresholds
                    "INFERENCE_PRECISION_HINT": "f32" if cfg.precision == "f32" else "bf16"}
        self._compiled = core().compile_model(model, "CPU", settings)
        self._local = threading.local()

    def _request(self, shape: tuple) -> object:
        """This thread's inference request for inputs of this shape. A request re-plans its memory
        whenever the input shape changes (about 2x the cost of the inference on small inputs), so
        callers that alternate sizes (a detector's scales) keep one request per shape."""
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        req = requests.pop(shape, None)
        if req is None:
            req = self._compiled.create_infer_request()
            if len(requests) >= MAX_SHAPES_PER_THREAD:
                requests.pop(next(iter(requests)))  # the least recently used
        requests[shape] = req
        return req

    def run(self, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        feeds = inputs if isinstance(inputs, Mapping) else dict(enumerate(inputs))
        feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        req = self._request(tuple(v.shape for v in feeds.values()))
        req.infer(feeds)
        # copies: the request's buffers are reused by this thread's next call
        return [req.get_output_tensor(i).data.copy() for i in range(len(self.output_names))]
