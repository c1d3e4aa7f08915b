"""The OpenVINO backend: compiled models shared by all threads, one inference request per thread.

OpenVINO re-plans a dynamic-shape model's memory whenever consecutive calls differ in shape, which
costs several times a small inference (7.9 ms vs 1.0 ms per YuNet call at ~150 px here). So a shape
that keeps coming back (a video's frame size, a detector's scales on same-sized photos, a batch size)
gets a model compiled for exactly that shape (0.1-0.2 s, once); shapes seen rarely (photos of every
size) stay on the dynamic model, where re-planning is small next to a large image's inference. A
compiled shape is only replaced by a newer one once it has been idle for a while, so a stream of
ever-new sizes never makes the session recompile on every call.
"""

from __future__ import annotations

import io
import os
import threading
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import RuntimeConfig
from .graph import load_for_runtime

MAX_STATIC = 6  # shapes with a compiled model of their own, per session
RECUR = 3  # sightings of a shape before it gets one
IDLE = 500  # calls a compiled shape must go unused before another shape may take its place
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
        self._source = load_for_runtime(path, dynamic_batch, dynamic_size) or str(path)
        model = self._read()
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
            self._source = model  # keep the reshaped model to derive static ones from
        self.input_names = tuple(p.get_any_name() for p in model.inputs)
        self.output_names = tuple(p.get_any_name() for p in model.outputs)
        self._settings = {"PERFORMANCE_HINT": "LATENCY",
                          "INFERENCE_NUM_THREADS": cfg.threads or os.cpu_count() or 1,
                          # "fast": bf16 where the CPU has it (OpenVINO uses f32 elsewhere); "f32":
                          # outputs identical to the reference networks (see vultus.runtime)
                          "INFERENCE_PRECISION_HINT": "f32" if cfg.precision == "f32" else "bf16",
                          # OpenVINO pins its threads to cores by default: two one-thread processes
                          # (or a process beside other work) then share core 0 while core 1 idles
                          "ENABLE_CPU_PINNING": False}
        self._dynamic = model.is_dynamic()
        self._compiled = core().compile_model(model, "CPU", self._settings)
        self._static: OrderedDict[tuple, tuple[object, int]] = OrderedDict()  # shape -> (model, last use)
        self._seen: Counter = Counter()
        self._calls = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _read(self):
        src = self._source
        return core().read_model(io.BytesIO(src) if isinstance(src, bytes) else src) if not hasattr(src, "inputs") \
            else src.clone()

    def _model_for(self, shape: tuple):
        """The compiled model to run inputs of this shape on."""
        if not self._dynamic:
            return self._compiled
        with self._lock:
            self._calls += 1
            entry = self._static.get(shape)
            if entry is not None:
                self._static[shape] = (entry[0], self._calls)
                self._static.move_to_end(shape)
                return entry[0]
            self._seen[shape] += 1
            full = len(self._static) >= MAX_STATIC
            oldest = next(iter(self._static.values()), (None, self._calls))[1]
            if self._seen[shape] < RECUR or (full and self._calls - oldest < IDLE):
                return self._compiled
            if len(self._seen) > 1000:  # forget rare shapes
                self._seen = Counter({k: v for k, v in self._seen.items() if v > 1})
        model = self._read()  # a recurring shape: compile it (outside the lock; ~0.1-0.2 s)
        model.reshape({name: list(s) for name, s in zip(self.input_names, shape)})
        compiled = core().compile_model(model, "CPU", self._settings)
        with self._lock:
            self._static[shape] = (compiled, self._calls)
            while len(self._static) > MAX_STATIC:
                self._static.popitem(last=False)
        return compiled

    def _request(self, compiled, shape: tuple):
        """This thread's inference request for this compiled model and input shape."""
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = OrderedDict()
        key = (id(compiled), shape)
        req = requests.pop(key, None)
        if req is None:
            req = compiled.create_infer_request()
            if len(requests) >= 2 * MAX_STATIC:
                requests.popitem(last=False)
        requests[key] = req
        return req

    def run(self, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        feeds = inputs if isinstance(inputs, Mapping) else dict(enumerate(inputs))
        feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
        shape = tuple(tuple(v.shape) for v in feeds.values())
        req = self._request(self._model_for(shape), shape)
        req.infer(feeds)
        # copies: the request's buffers are reused by this thread's next call
        return [req.get_output_tensor(i).data.copy() for i in range(len(self.output_names))]
