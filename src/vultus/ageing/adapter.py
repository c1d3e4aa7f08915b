"""The age adapter at run time: a linear map over one embedder's vectors, exported to ONNX by
training/ageing/train.py (`make train-ageing`), run through vultus's model runtime, then
re-normalized. Opt-in: `vultus eval ageing --adapter`, or `apply_adapters` in your own code.

The weights are `weights/age_adapter_<model>.onnx` inside the package, each checked at load against
the SHA-256 that training wrote to `weights/age_adapter.json` (with the family, parameter, setting,
and whether it is on by default). Licence: vultus's code; trained on FG-NET (research use only), so
not for commercial use. Model card: docs/models/age_adapter.md.

It is not a registry model: the registry has no task for a vectors-to-vectors map, and an adapter
registered as an embedder would be offered as one.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ModelError
from ..models.base import l2_normalize
from ..runtime import open_session, sha256_of

_LOCK = threading.Lock()
_LOADED: dict[str, "AgeAdapter"] = {}


def _weights() -> Path:
    return Path(str(resources.files("vultus").joinpath("weights")))


@cache
def manifest() -> dict[str, Any]:
    """What training wrote about the shipped adapters ({} when none is shipped)."""
    path = _weights() / "age_adapter.json"
    return json.loads(path.read_text()) if path.is_file() else {}


class AgeAdapter:
    def __init__(self, model: str):
        entry = manifest().get("models", {}).get(model)
        if entry is None:
            raise ModelError(f"no age adapter for {model!r}; shipped: {', '.join(manifest().get('models', {})) or 'none'}")
        path = _weights() / entry["file"]
        if not path.is_file() or sha256_of(path) != entry["sha256"]:
            raise ModelError(f"{path}: missing or its SHA-256 differs from age_adapter.json; rerun `make train-ageing`")
        self.model = model
        self._session = open_session(path, dynamic_batch=True)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.atleast_2d(vectors), np.float32)
        return l2_normalize(self._session.run([x])[0].reshape(x.shape))


def adapter(model: str) -> AgeAdapter:
    """The shared adapter of one embedder (loaded once per process)."""
    with _LOCK:
        if model not in _LOADED:
            _LOADED[model] = AgeAdapter(model)
        return _LOADED[model]


def apply_adapters(embeddings: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each model's vector(s) through its age adapter (models without one pass unchanged)."""
    shipped = manifest().get("models", {})
    return {m: adapter(m)(v).reshape(np.shape(v)) if m in shipped else v for m, v in embeddings.items()}


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
