"""Shared fixtures: real models on real images. Data sets come from VULTUS_DATA (../shared/data)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "images"
DATA = Path(os.environ.get("VULTUS_DATA", ROOT.parent / "shared" / "data"))


def dataset(name: str) -> Path:
    """The data set folder, or skip the test with the reason."""
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"data set {name!r} not found at {path} (set VULTUS_DATA to the shared data folder)")
    return path


def vultus(*args, ok: int = 0) -> subprocess.CompletedProcess:
    """Run the CLI as a user does; check the exit code and that no traceback leaked."""
    p = subprocess.run([sys.executable, "-m", "vultus", *map(str, args)], capture_output=True, text=True, timeout=600)
    assert p.returncode == ok, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert "Traceback" not in p.stderr
    return p


def calibrated() -> bool:
    """Whether the shipped threshold table (src/vultus/data/thresholds.json) covers `sface`."""
    from vultus.decide import Recognizer
    from vultus.errors import ModelError

    try:
        Recognizer.parse("sface").threshold(1e-3)
        return True
    except ModelError:
        return False


@pytest.fixture(scope="session")
def orl() -> Path:
    return dataset("orl")


@pytest.fixture(scope="session")
def lfw() -> Path:
    return dataset("lfw")


@pytest.fixture(scope="session")
def pipeline():
    from vultus.pipeline import Pipeline

    return Pipeline("yunet", "sface")


@pytest.fixture(scope="session")
def fused_pipeline():
    from vultus.pipeline import Pipeline

    return Pipeline("yunet", "sface+dlib")


@pytest.fixture
def obama() -> Path:
    return EXAMPLES / "obama.jpg"
