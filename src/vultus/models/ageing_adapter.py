"""Registry entries of the age adapters trained here (training/ageing/, `make train-ageing`):
one linear map per embedder, ONNX inside the vultus package, model card docs/models/age_adapter.md."""

from __future__ import annotations

from .registry import ModelSpec, register

for _model in ("sface", "dlib"):
    register(ModelSpec(
        name=f"age_adapter_{_model}", task="adapter", impl=".ageing.adapter:AgeAdapter",
        summary=f"linear age adapter over {_model} embeddings, trained on FG-NET (opt-in; see its model card)",
        package="vultus", file=f"data/age_adapter_{_model}.onnx",
        licence="Apache-2.0 (vultus); trained on FG-NET (research use)", commercial_use=False,
        input_size=f"{_model} embedding (128)", options={"model": _model},
    ))
