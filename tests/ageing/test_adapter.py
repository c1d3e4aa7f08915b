"""The shipped age adapter: loads from the package (hash checked), keeps unit vectors, and the CLI
scores FG-NET with it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import dataset
from vultus.ageing.adapter import adapt_all, apply_adapters, manifest

pytestmark = pytest.mark.skipif(not manifest(), reason="no age adapter trained (make train-ageing)")


def test_shipped_and_applied():
    assert set(manifest()["models"]) == {"sface", "dlib"}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    out = apply_adapters({"sface": x, "dlib": x[0], "other": x})
    assert out["sface"].shape == (5, 128) and out["dlib"].shape == (128,)
    assert np.allclose(np.linalg.norm(out["sface"], axis=1), 1, atol=1e-5)
    assert out["other"] is x  # no adapter for that model: unchanged
    assert not np.allclose(out["sface"], x)
    batch = adapt_all({"a": {"sface": x[0]}, "b": None})
    assert batch["b"] is None and np.allclose(batch["a"]["sface"], out["sface"][0], atol=1e-6)


def test_cli_with_adapter(tmp_path):
    root = dataset("fgnet") / "images"
    files = sorted(root.glob("00[12]A*.JPG"))
    (tmp_path / "two.csv").write_text("file,person,age\n" + "".join(f"{f},{f.name[:3]},{int(f.name[4:6])}\n"
                                                                   for f in files))
    out = subprocess.run([sys.executable, "-m", "vultus", "eval", "ageing", "--csv", str(tmp_path / "two.csv"),
                          "--adapter", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    settings = [json.loads(line)["setting"] for line in out.stdout.splitlines()]
    assert settings == ["sface", "sface+age-adapter"]
