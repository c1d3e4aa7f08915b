"""Export the chosen run to one ONNX file: SFace's first blocks (its int8 weights as shipped) feeding
the trained head, with the age interval calibrated on validation. Checks that the file agrees with
PyTorch before writing it.

    python -m training.attributes.export [RUN_KEY]     # default: the best validation score

Writes `src/vultus/weights/attributes.onnx` and prints its SHA-256 (copy it into the model spec in
`src/vultus/models/analyze/attributes.py`) and `bench/results/attributes/export.json`.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from vultus.models import registry
from vultus.runtime import RuntimeConfig, open_session, sha256_of

#: the agreement check runs the file in float32 (the runtime's `fast` precision, bf16 where the CPU
#: has it, moves probabilities by about 1e-2, so it would test the CPU rather than the export)
F32 = RuntimeConfig(backend="auto", threads=1, precision="f32")

from . import config
from .model import AGES
from .train import RUNS, Labels, RunConfig, build, inputs_for, load_run, predict

COVERAGE = 0.8  # the age interval's target coverage on validation
OUTPUTS = ("gender", "ethnicity", "age_probs", "age", "age_low", "age_high", "group_masks")
OPSET = 21  # SFace's


class Exported(nn.Module):
    """The head with softmaxes and the age estimate, interval and masks as named outputs."""

    def __init__(self, head: nn.Module, interval_scale: float):
        super().__init__()
        self.head = head
        self.register_buffer("bins", torch.arange(AGES, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(float(interval_scale)))

    def forward(self, features, masks):
        g, r, a, m = self.head(features, masks)
        p = torch.softmax(a, 1)
        age = p @ self.bins
        low, high = quantile_bounds(p, self.bins)
        return (torch.softmax(g, 1), torch.softmax(r, 1), p, age,
                (age - self.scale * (age - low)).clamp(min=0), age + self.scale * (high - age), m)


def quantile_bounds(p, bins):
    """The distribution's 10th and 90th percentiles (bin values)."""
    cdf = torch.cumsum(p, 1)
    lo = (cdf < (1 - COVERAGE) / 2).to(p.dtype).sum(1)
    hi = (cdf < 1 - (1 - COVERAGE) / 2).to(p.dtype).sum(1)
    return lo, hi


def interval_scale(age_mean, age_probs, truth) -> float:
    """The smallest widening of the 10-90 % range that covers COVERAGE of validation faces."""
    bins = torch.arange(AGES, dtype=torch.float32)
    lo, hi = quantile_bounds(torch.from_numpy(age_probs), bins)
    lo, hi = lo.numpy(), hi.numpy()
    # the scale each face needs to be covered, then its COVERAGE quantile
    need = np.where(truth < age_mean, (age_mean - truth) / np.maximum(age_mean - lo, 0.5),
                    (truth - age_mean) / np.maximum(hi - age_mean, 0.5))
    return float(np.quantile(need, COVERAGE))


def best_run() -> str:
    runs = [json.loads(p.read_text()) for p in RUNS.glob("*.json")]
    runs = [r for r in runs if r["config"]["variant"] in ("global", "groups", "fused")]
    return max(runs, key=lambda r: r["best"]["score"])["key"]


def trunk(layer: str) -> onnx.ModelProto:
    """SFace (its int8 file as shipped) cut after `layer`."""
    sface = onnx.load(str(registry.get("sface").weights_path()))
    return onnx.utils.Extractor(sface).extract_model(["data"], [layer])


def input_name(cfg) -> str:
    """What the head reads: a trunk tensor, or the crop itself (the from-scratch baseline)."""
    return {"embedding": config.EMBEDDING, "scratch": "data"}.get(cfg.variant, cfg.layer)


def to_onnx(cfg, head: nn.Module, scale: float) -> onnx.ModelProto:
    """One model: crops (N,3,112,112 RGB 0..255) and prior masks in, the OUTPUTS out."""
    wrapped = Exported(head, scale).eval()
    name = input_name(cfg)
    shape = {"data": (2, 3, 112, 112), config.EMBEDDING: (2, 128)}.get(name, (2, 512, 14, 14))
    batch = torch.export.Dim("batch")
    buf = io.BytesIO()
    torch.onnx.export(wrapped, (torch.rand(shape) * 10, torch.rand(2, 5, 14, 14)), buf,
                      input_names=[name, "masks"], output_names=list(OUTPUTS), opset_version=OPSET,
                      dynamo=True, optimize=False, dynamic_shapes=({0: batch}, {0: batch}))
    head_onnx = onnx.load_from_string(buf.getvalue())
    if name == "data":
        return head_onnx
    base = trunk(name)
    head_onnx.ir_version = base.ir_version = max(head_onnx.ir_version, base.ir_version)
    merged = onnx.compose.merge_models(base, head_onnx, io_map=[(name, name)], prefix2="head_")
    renamed = {"head_" + o: o for o in (*OUTPUTS, "masks")}
    for port in (*merged.graph.input, *merged.graph.output):
        port.name = renamed.get(port.name, port.name)
    for node in merged.graph.node:
        node.input[:] = [renamed.get(i, i) for i in node.input]
        node.output[:] = [renamed.get(o, o) for o in node.output]
    merged.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    merged.producer_name = "vultus training/attributes"
    merged.doc_string = f"vultus attributes: SFace trunk to {name} + head ({cfg.key})"
    onnx.helper.set_model_props(merged, {"run_config": json.dumps(asdict(cfg)), "interval_scale": repr(scale)})
    onnx.checker.check_model(merged)
    return merged


def pytorch_from_onnx(path: Path):
    """The exported network rebuilt in PyTorch from the file itself: its trunk run from the file's
    own subgraph, the head as a PyTorch module loaded with the file's head weights. Returns
    `f(crops, masks) -> {output: array}` for the agreement test."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    cfg = RunConfig(**json.loads(props["run_config"]))
    head = build(cfg).eval()
    weights = {t.name.removeprefix("head_head."): torch.from_numpy(onnx.numpy_helper.to_array(t).copy())
               for t in model.graph.initializer if t.name.startswith("head_head.")}
    state = head.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path}: no weights for {missing[:5]} in the file")
    head.load_state_dict({k: weights[k].reshape(v.shape) if k in weights else v for k, v in state.items()})
    wrapped = Exported(head, float(props["interval_scale"])).eval()
    layer = input_name(cfg)
    trunk_path = Path(tempfile.mkdtemp()) / "trunk.onnx"
    onnx.save(onnx.utils.Extractor(model).extract_model(["data"], [layer]), str(trunk_path))
    trunk_session = open_session(trunk_path, dynamic_batch=True, cfg=F32)

    @torch.no_grad()
    def run(crops: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
        blob = np.ascontiguousarray(np.asarray(crops, np.float32).transpose(0, 3, 1, 2))
        features = trunk_session.run([blob])[0]
        outs = wrapped(torch.from_numpy(features), torch.from_numpy(np.asarray(masks, np.float32)))
        return {name: o.numpy() for name, o in zip(OUTPUTS, outs)}

    return run


def export(key: str) -> Path:
    torch.set_num_threads(1)
    cfg, head = load_run(key)
    labels = Labels()
    plain, flipped = inputs_for(cfg, labels)
    val = labels.rows("val", source="utkface")
    _, _, age_mean, age_probs = predict(cfg, head, labels, plain, flipped, val)
    scale = interval_scale(age_mean, age_probs, labels.age[val])
    model = to_onnx(cfg, head, scale)
    config.WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attributes.onnx"
        onnx.save(model, str(path))
        agreement = check_agreement(path, labels, val[:64])
        config.WEIGHTS.write_bytes(path.read_bytes())
    info = {"run": key, "layer": cfg.layer, "interval_scale": scale, "coverage_target": COVERAGE,
            "bytes": config.WEIGHTS.stat().st_size, "sha256": sha256_of(config.WEIGHTS), **agreement}
    (config.CACHE / "export.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))
    return config.WEIGHTS


def check_agreement(path: Path, labels: Labels, rows: np.ndarray) -> dict:
    """Run the ONNX file on real crops, and PyTorch with the file's own weights on the same crops:
    every output must agree."""
    crops = np.load(config.CACHE / "utkface" / "crops.npy", mmap_mode="r")
    utk0 = int(np.flatnonzero(labels.source == "utkface")[0])
    crops, masks = np.asarray(crops[rows - utk0]), labels.prior[rows]
    blob = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32)
    onnx_out = dict(zip(OUTPUTS, open_session(path, dynamic_batch=True, cfg=F32).run([blob, masks])))
    torch_out = pytorch_from_onnx(path)(crops, masks)
    diffs = {name: float(np.abs(onnx_out[name] - torch_out[name]).max()) for name in OUTPUTS}
    probabilities = max(diffs[k] for k in ("gender", "ethnicity", "age_probs", "group_masks"))
    if probabilities > 1e-3 or max(diffs["age"], diffs["age_high"]) > 0.05:
        raise SystemExit(f"ONNX and PyTorch disagree: {diffs}")
    return {"max_abs_diff": diffs}


if __name__ == "__main__":
    export(sys.argv[1] if len(sys.argv) > 1 else best_run())
