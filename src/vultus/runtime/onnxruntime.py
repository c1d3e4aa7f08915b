"""The onnxruntime backend (fallback): its sessions are thread-safe, so one per file is shared."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import RuntimeConfig
from .graph import load_for_runtime


class OnnxRuntimeSession:
    backend = "onnxruntime"

    def __init__(self, path: Path, cfg: RuntimeConfig, *, dynamic_batch: bool, dynamic_size: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = cfg.threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        model = load_for_runtime(path, dynamic_batch, dynamic_size) or str(path)
        # the CPU provider only: PyPI builds list AzureExecutionProvider first
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(self, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        if not isinstance(inputs, Mapping):
            inputs = dict(zip(self.input_names, inputs))
        feeds = {(self.input_names[k] if isinstance(k, int) else k): np.ascontiguousarray(v)
                 for k, v in inputs.items()}
        return self._session.run(None, feeds)
