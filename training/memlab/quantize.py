"""Weight-only int8 quantization by rewriting the ONNX graph (there is no Python onnxruntime here,
so onnxruntime's quantizer is not available).

Each float weight feeding a Conv or MatMul becomes an int8 initializer with one symmetric scale
per output channel, followed by a DequantizeLinear node that restores the original tensor name.
Compute stays fp32, so every backend runs it; the file shrinks about 4x.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper, helper

MIN_ELEMENTS = 256  # tiny tensors (biases, norms) stay fp32: no size win, avoidable error


def quantize_int8(src: str, dst: str) -> None:
    model = onnx.load(src)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    # Which axis holds the output channels, by consumer: Conv W is [out, in, kh, kw] -> axis 0;
    # MatMul B is [in, out] -> axis 1; Gemm B is [out, in] when transB is set.
    axis_for: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "Conv" and node.input[1] in inits:
            axis_for[node.input[1]] = 0
        elif node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2:
            axis_for[node.input[1]] = 1
        elif node.op_type == "Gemm" and node.input[1] in inits:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            axis_for[node.input[1]] = 0 if trans_b else 1

    new_nodes = []
    for name, axis in axis_for.items():
        w = numpy_helper.to_array(inits[name]).astype(np.float32)
        if w.size < MIN_ELEMENTS:
            continue
        reduce = tuple(i for i in range(w.ndim) if i != axis)
        scale = np.abs(w).max(axis=reduce) / 127.0
        scale[scale == 0] = 1.0
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(inits[name])
        graph.initializer.extend([
            numpy_helper.from_array(q, name + "_int8"),
            numpy_helper.from_array(scale.astype(np.float32), name + "_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), name + "_zero"),
        ])
        new_nodes.append(helper.make_node("DequantizeLinear", [name + "_int8", name + "_scale", name + "_zero"], [name],
                                          name=name + "_dequantize", axis=axis))
    # Dequantize nodes go first so the graph stays topologically sorted.
    nodes = new_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
