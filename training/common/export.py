"""ONNX export shared by every training folder: export, check agreement, report the checksum."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def export_onnx(model, example, path: str | Path, input_names=("input",), output_names=("output",),
                dynamic_batch: bool = True, opset: int = 17, atol: float = 1e-4) -> str:
    """Export `model` (eval mode) to `path`, check that vultus's runtime reproduces PyTorch's outputs
    on `example` within `atol`, and return the file's SHA-256 (for the model's spec)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    examples = example if isinstance(example, tuple) else (example,)
    axes = {n: {0: "batch"} for n in (*input_names, *output_names)} if dynamic_batch else None
    with torch.no_grad():
        torch.onnx.export(model, examples, str(path), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=axes, opset_version=opset,
                          dynamo=False)  # the TorchScript exporter: no onnxscript needed
        expected = model(*examples)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    check_agreement(path, [e.numpy() for e in examples], [e.numpy() for e in expected], atol)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_agreement(path: Path, inputs: list[np.ndarray], expected: list[np.ndarray], atol: float) -> None:
    """Raise if the ONNX file, run by vultus's runtime, departs from PyTorch by more than `atol`."""
    from vultus.runtime import open_session

    session = open_session(path, dynamic_batch=True)
    got = session.run(inputs)
    for name, g, e in zip(session.output_names, got, expected):
        diff = float(np.abs(g - e).max())
        if diff > atol:
            raise AssertionError(f"{path.name}: output {name!r} differs from PyTorch by {diff:.2e} > {atol:.0e}")
