"""The model runtime: same outputs as the reference (OpenCV running the same files), the
onnxruntime fallback agrees, sessions are shared safely by threads, weights are checked."""

from __future__ import annotations

import dataclasses
import shutil
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from vultus import runtime
from vultus.align import ARCFACE_112, align
from vultus.errors import ModelError
from vultus.io import load_image
from vultus.models import registry

from ..conftest import EXAMPLES


@pytest.fixture(scope="module")
def crops():
    det = registry.create("yunet")
    out = []
    for name in ("obama", "obama2", "biden"):
        img = load_image(EXAMPLES / f"{name}.jpg")
        out.append(align(img, det.detect(img)[0].landmarks, ARCFACE_112, 112))
    return np.stack(out)


@pytest.fixture
def exact():
    """Sessions opened inside use f32 (the precision that must match the reference exactly)."""
    before = runtime.config()
    runtime.configure(precision="f32")
    yield
    runtime.configure(**dataclasses.asdict(before))


def reference_sface(crops):
    net = cv2.dnn.readNetFromONNX(str(registry.get("sface").weights_path()))
    out = []
    for c in crops:
        net.setInput(cv2.dnn.blobFromImages([c]), "data")
        v = net.forward().ravel()
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


def test_sface_f32_matches_opencv(crops, exact):
    ours = registry.create("sface").embed(crops)
    assert (ours * reference_sface(crops)).sum(1).min() > 0.99999


def test_default_precision_stays_close(crops):
    ours = registry.create("sface").embed(crops)
    assert (ours * reference_sface(crops)).sum(1).min() > 0.999


def test_onnxruntime_fallback_agrees(crops, exact):
    pytest.importorskip("onnxruntime")
    runtime.configure(backend="onnxruntime")
    try:
        emb = registry.create("sface")
        assert emb._session.backend == "onnxruntime"
        assert (emb.embed(crops) * reference_sface(crops)).sum(1).min() > 0.99999
    finally:
        runtime.configure(backend="auto")


def test_yunet_matches_opencv(exact):
    img = load_image(EXAMPLES / "obama.jpg")
    ours = registry.create("yunet", scales=(1.0,), score_threshold=0.6).detect(img)
    det = cv2.FaceDetectorYN.create(str(registry.get("yunet").weights_path()), "", (img.shape[1], img.shape[0]),
                                    0.6, 0.3, 5000)
    _, ref = det.detect(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert len(ours) == len(ref) == 1
    np.testing.assert_allclose(ours[0].box, [*ref[0, :2], *(ref[0, :2] + ref[0, 2:4])], atol=0.01)
    np.testing.assert_allclose(ours[0].landmarks.ravel(), ref[0, 4:14], atol=0.01)


def test_threads_share_a_session(crops):
    emb = registry.load("sface")
    serial = emb.embed(crops)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: emb.embed(crops), range(16)))
    for r in results:
        np.testing.assert_allclose(r, serial, atol=1e-6)


def test_alternating_shapes_stay_correct():
    """A detector's two scales alternate input shapes; each shape gets its own compiled model."""
    det = registry.create("yunet")
    img = load_image(EXAMPLES / "obama.jpg")
    first = det.detect(img)
    for _ in range(3):
        again = det.detect(img)
        np.testing.assert_allclose(again[0].box, first[0].box, atol=1e-3)


def test_damaged_weights_are_refused(tmp_path):
    spec = registry.get("yunet")
    copy = tmp_path / "pkg" / "models" / "yunet.onnx"
    copy.parent.mkdir(parents=True)
    shutil.copy(spec.weights_path(), copy)
    with open(copy, "r+b") as f:  # flip one byte
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    bad = dataclasses.replace(spec, package=None, file=str(copy))
    with pytest.raises(ModelError, match="SHA-256"):
        bad.weights_path()


def test_tflite_needs_openvino(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="OpenVINO"):
        runtime.open_session(f, cfg=runtime.RuntimeConfig(backend="onnxruntime"))


def test_unknown_settings_are_refused():
    before = runtime.config()
    with pytest.raises(ModelError):
        runtime.configure(precision="int3")
    with pytest.raises(ModelError):
        runtime.configure(backend="tensorflow")
    assert runtime.config() == before
