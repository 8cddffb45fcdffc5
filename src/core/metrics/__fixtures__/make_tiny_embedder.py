"""Makes tiny-embedder.onnx and tiny-embedder.reference.json, the test fixture of the ONNX image
embedding adapter (src/core/metrics/onnx-encoder.ts).

A small random-weight image network shaped like the models a user points the lab at (SSCD, a CLIP
image encoder): one NCHW float input of dynamic batch, a feature map and a pooled embedding vector
as outputs. The reference embeddings are computed here in numpy, independently of onnxruntime,
from the same weights and the same preprocessing the adapter documents (area resize, /255,
(x - mean) / std), so the test checks the adapter's preprocessing and output handling end to end.

Run with Debian's python3-numpy and python3-onnx:  /usr/bin/python3 make_tiny_embedder.py
"""
import base64
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 32
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

rng = np.random.default_rng(20241129)
w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
w2 = (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(np.float32)
b2 = (rng.standard_normal(16) * 0.1).astype(np.float32)
w3 = (rng.standard_normal((16, 12)) * 0.3).astype(np.float32)
b3 = (rng.standard_normal(12) * 0.1).astype(np.float32)

nodes = [
    helper.make_node("Conv", ["pixel_values", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c2"], ["feature_map"]),
    helper.make_node("GlobalAveragePool", ["feature_map"], ["pooled"]),
    helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
    helper.make_node("Gemm", ["flat", "w3", "b3"], ["embedding"]),
]
graph = helper.make_graph(
    nodes,
    "tiny_embedder",
    [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
    # the feature map comes first, so the adapter must choose the [batch, dim] output itself
    [
        helper.make_tensor_value_info("feature_map", TensorProto.FLOAT, ["batch", 16, SIZE // 4, SIZE // 4]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 12]),
    ],
    [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (w3, "w3"), (b3, "b3")]],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="memlab fixture")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, os.path.join(HERE, "tiny-embedder.onnx"))


def conv(x, w, b, stride=2, pad=1):
    n, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - k) // stride + 1
    ow = (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, w.shape[0], oh, ow), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return out + b[None, :, None, None]


def embed(rgb):  # rgb: [H, W, 3] uint8 with H, W multiples of SIZE
    h, w, _ = rgb.shape
    fy, fx = h // SIZE, w // SIZE
    small = rgb.astype(np.float64).reshape(SIZE, fy, SIZE, fx, 3).mean(axis=(1, 3))  # area resize
    x = ((small / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]
    f = np.maximum(conv(np.maximum(conv(x, w1, b1), 0), w2, b2), 0)
    return (f.mean(axis=(2, 3)) @ w3 + b3)[0]


def image(h, w, phase):
    y, x = np.mgrid[0:h, 0:w]
    r = 127.5 + 127.5 * np.sin(x / 5.0 + phase)
    g = 255.0 * y / (h - 1)
    b = ((x // 8 + y // 8 + int(phase)) % 2) * 200.0
    return np.stack([r, g, b], axis=-1).round().clip(0, 255).astype(np.uint8)


cases = []
for name, (h, w, phase) in {"gradient-64": (64, 64, 0.0), "gradient-32": (32, 32, 1.0), "wide-32x64": (32, 64, 2.0)}.items():
    rgb = image(h, w, phase)
    cases.append({
        "name": name,
        "width": w,
        "height": h,
        "rgb_base64": base64.b64encode(rgb.tobytes()).decode(),
        "embedding": [float(v) for v in embed(rgb)],
    })

with open(os.path.join(HERE, "tiny-embedder.reference.json"), "w") as f:
    json.dump({"size": SIZE, "mean": MEAN.tolist(), "std": STD.tolist(), "input": "pixel_values",
               "output": "embedding", "cases": cases}, f, indent=1)
print("wrote tiny-embedder.onnx and tiny-embedder.reference.json")
