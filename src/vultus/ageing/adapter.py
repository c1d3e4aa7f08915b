"""The age adapter at run time: a linear map over one embedder's vectors, loaded from the ONNX file
that training/ageing/train.py exported (SHA-256 checked against data/age_adapter.json), then
re-normalized. Opt-in: `vultus eval ageing --adapter`, or `apply_adapters` in your own code."""

from __future__ import annotations

import hashlib
import json
import threading
from functools import cache
from importlib import resources
from typing import Any, Mapping

import cv2
import numpy as np

from ..errors import ModelError
from ..models import registry
from ..models import ageing_adapter as _entries  # noqa: F401  (registers the adapters)
from ..models.base import l2_normalize


@cache
def manifest() -> dict[str, Any]:
    try:
        return json.loads(resources.files("vultus").joinpath("data/age_adapter.json").read_text())
    except FileNotFoundError:
        return {}


class AgeAdapter:
    def __init__(self, spec, model: str):
        self.spec, self.name, self.model = spec, spec.name, model
        path = spec.weights_path()
        expected = manifest().get("models", {}).get(model, {}).get("sha256")
        if expected != hashlib.sha256(path.read_bytes()).hexdigest():
            raise ModelError(f"{path}: SHA-256 differs from data/age_adapter.json; rerun `make train-ageing`")
        self._net = cv2.dnn.readNetFromONNX(str(path))
        self._lock = threading.Lock()

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.atleast_2d(vectors), np.float32)
        with self._lock:
            self._net.setInput(x, "embedding")
            out = self._net.forward()
        return l2_normalize(out.reshape(x.shape))


def apply_adapters(embeddings: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each model's vector(s) through its age adapter (models without one pass unchanged)."""
    out = {}
    for m, v in embeddings.items():
        name = f"age_adapter_{m}"
        known = any(s.name == name for s in registry.specs("adapter"))
        out[m] = registry.load(name, "adapter")(v).reshape(np.shape(v)) if known else v
    return out


def adapt_all(embeddings: Mapping[Any, Mapping[str, np.ndarray] | None]) -> dict[Any, dict[str, np.ndarray] | None]:
    """`apply_adapters` over a whole {key: embeddings or None} map, one batch per model."""
    keys = [k for k, v in embeddings.items() if v is not None]
    out: dict[Any, dict[str, np.ndarray] | None] = {k: None for k in embeddings}
    if keys:
        models = list(embeddings[keys[0]])
        adapted = apply_adapters({m: np.stack([embeddings[k][m] for k in keys]) for m in models})
        for i, k in enumerate(keys):
            out[k] = {m: adapted[m][i] for m in models}
    return out
