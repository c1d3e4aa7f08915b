"""Rewrites of ONNX graphs done once at load, in memory (the files on disk are never changed).

The OpenCV Zoo int8 files use block-wise `DequantizeLinear` (opset 21) on their weights, which
OpenVINO's ONNX reader does not convert, and declare their weights as graph inputs too, which
onnxruntime rejects. Dequantizing the weights to float32 once gives exactly the float network the
int8 file describes (the same arithmetic OpenCV does per call) and lets every runtime read it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_for_runtime(path: Path, dynamic_batch: bool = False, dynamic_size: bool = False) -> bytes | None:
    """The serialized model with quantized weights folded to float32 and the asked input dimensions
    made symbolic, or None if the file needs no rewrite (it is then read from disk as is)."""
    if path.suffix != ".onnx":
        return None
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    quantized = any(n.op_type == "DequantizeLinear" and all(i in weights for i in n.input) for n in graph.node)
    if not (quantized or dynamic_batch or dynamic_size or any(i.name in weights for i in graph.input)):
        return None
    arrays = {name: numpy_helper.to_array(t) for name, t in weights.items()}
    nodes, folded = [], []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(i in arrays for i in node.input):
            folded.append(numpy_helper.from_array(_dequantize(node, arrays), node.output[0]))
        else:
            nodes.append(node)
    used = {i for n in nodes for i in n.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used] + folded
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    constant = {t.name for t in kept}
    inputs = [i for i in graph.input if i.name not in constant and i.name in used]
    del graph.input[:]
    graph.input.extend(inputs)
    for port in graph.input:  # (the copies now in the graph, not the detached originals)
        dims = port.type.tensor_type.shape.dim
        free = ([0] if dynamic_batch else []) + ([2, 3] if dynamic_size and len(dims) == 4 else [])
        for axis in free:  # NCHW: batch, height, width
            dims[axis].ClearField("dim_value")
            dims[axis].dim_param = ("batch", "", "height", "width")[axis]
    return model.SerializeToString()


def _dequantize(node, arrays: dict[str, np.ndarray]) -> np.ndarray:
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    q = arrays[node.input[0]].astype(np.float32)
    scale = arrays[node.input[1]].astype(np.float32)
    zero = arrays[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
    axis = attrs.get("axis", 1) % max(q.ndim, 1)
    block = attrs.get("block_size", 0)
    if block:  # one scale per `block` consecutive elements along `axis`
        scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
    elif scale.ndim == 1 and scale.size > 1:  # per-channel along `axis`
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q - zero) * scale).astype(np.float32)
