"""One model runtime: every neural network vultus runs loads through `open_session`.

A `Session` is a compiled model shared by all threads; each thread gets its own inference request
(OpenVINO) or calls the thread-safe session (onnxruntime), so models need no locks and one loaded
model serves every worker thread of a process. OpenVINO is the default CPU runtime (it also reads
TFLite files such as MediaPipe's); onnxruntime is the fallback for ONNX files when OpenVINO is not
installed or is switched off (`VULTUS_RUNTIME=onnxruntime`).

Settings (environment, or `configure()` before the first model loads):
- `VULTUS_RUNTIME`: `openvino` | `onnxruntime` | `auto` (default: OpenVINO when installed);
- `VULTUS_THREADS`: CPU threads one inference may use (default: all cores). Processes or threads
  that run in parallel should each use fewer (the speed benchmark's workers use 1);
- `VULTUS_PRECISION`: `fast` (default: bf16 arithmetic where the CPU has it, f32 elsewhere; SFace
  runs in 8.9 instead of 14.6 ms per face here, LFW accuracy 99.35 % vs 99.32 %, and the calibrated
  thresholds give the same observed FAR, 1.00e-3 vs 1.01e-3 at the 1e-3 threshold) or `f32` (outputs
  identical to the reference networks as OpenCV runs them: for bit-level reproduction).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from ..errors import ModelError

__all__ = ["RuntimeConfig", "Session", "configure", "config", "open_session", "sha256_of"]


@dataclass(frozen=True)
class RuntimeConfig:
    backend: str = "auto"  # "openvino" | "onnxruntime" | "auto"
    threads: int = 0  # per inference; 0 = all cores
    precision: str = "fast"  # "fast" | "f32"

    @classmethod
    def from_env(cls) -> "RuntimeConfig":
        return cls(backend=os.environ.get("VULTUS_RUNTIME", "auto").lower(),
                   threads=int(os.environ.get("VULTUS_THREADS", "0") or 0),
                   precision=os.environ.get("VULTUS_PRECISION", "fast").lower())


_config = RuntimeConfig.from_env()


def config() -> RuntimeConfig:
    return _config


def configure(**changes) -> RuntimeConfig:
    """Change runtime settings for models loaded from now on (e.g. `configure(threads=1)`)."""
    global _config
    new = replace(_config, **changes)
    if new.backend not in ("auto", "openvino", "onnxruntime"):
        raise ModelError(f"unknown runtime {new.backend!r}; use openvino, onnxruntime or auto")
    if new.precision not in ("f32", "fast"):
        raise ModelError(f"unknown precision {new.precision!r}; use fast or f32")
    _config = new
    return _config


class Session(Protocol):
    """A loaded model. `run` takes one array per input (by position or name), returns every output."""

    backend: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]: ...


def open_session(path: str | Path, *, dynamic_batch: bool = False, dynamic_size: bool = False,
                 cfg: RuntimeConfig | None = None) -> Session:
    """Load the model at `path` (.onnx or .tflite) with the configured backend.

    `dynamic_batch` / `dynamic_size` free the batch / spatial dimensions of a file that fixes them,
    so one compiled model serves any batch or image size without recompiling.
    """
    cfg = cfg or _config
    path = Path(path)
    backend = _choose_backend(cfg, path)
    if backend == "openvino":
        from .openvino import OpenVINOSession

        return OpenVINOSession(path, cfg, dynamic_batch=dynamic_batch, dynamic_size=dynamic_size)
    from .onnxruntime import OnnxRuntimeSession

    return OnnxRuntimeSession(path, cfg, dynamic_batch=dynamic_batch, dynamic_size=dynamic_size)


def _choose_backend(cfg: RuntimeConfig, path: Path) -> str:
    has_ov = _installed("openvino")
    if cfg.backend == "openvino" or (cfg.backend == "auto" and has_ov):
        if not has_ov:
            raise ModelError("the OpenVINO runtime is not installed (pip install openvino)")
        return "openvino"
    if path.suffix == ".tflite":
        raise ModelError(f"{path.name}: TFLite models need the OpenVINO runtime (pip install openvino; "
                         "VULTUS_RUNTIME must not be onnxruntime)")
    if not _installed("onnxruntime"):
        raise ModelError("no model runtime is installed: pip install openvino (or onnxruntime)")
    return "onnxruntime"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


_HASHED: dict[Path, str] = {}
_HASH_LOCK = threading.Lock()


def sha256_of(path: Path) -> str:
    """SHA-256 of a weight file, computed once per process."""
    path = Path(path).resolve()
    with _HASH_LOCK:
        if path not in _HASHED:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            _HASHED[path] = h.hexdigest()
        return _HASHED[path]
