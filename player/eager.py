"""The HNeRV-style eager PyTorch decoder, rebuilt from a package's own decoder graph.

The official HNeRV code decodes by calling the fp32 PyTorch module on each batch and synchronising.
nerv-bench needs that as its baseline, but the player may not import the trainer's models (import
direction: player -> runtime only). So this module interprets the package's ONNX graph node by node
with ``torch.nn.functional`` (the same kernels the official module calls: conv2d, pixel_shuffle,
gelu/erf, tanh), fed with the package's dequantised weights: one eager forward per batch, fp32.

Only nerv-bench imports this module, and only when the eager baseline runs: it imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from nervkit.runtime.errors import UserError

from .macs import load_graph


def _ints(t) -> list[int]:
    return [int(v) for v in t.tolist()]


def _conv(x, w, b=None, *, group=1, strides=None, pads=None, dilations=None, auto_pad=b"NOTSET",
          kernel_shape=None):
    n = w.dim() - 2
    if auto_pad not in (b"NOTSET", b"VALID"):
        raise UserError(f"Conv auto_pad={auto_pad.decode()} is not supported by the eager decoder")
    pads = pads or [0] * (2 * n)
    begin, end = pads[:n], pads[n:]
    if begin != end:  # F.pad lists the last axis first
        x = F.pad(x, [p for i in reversed(range(n)) for p in (begin[i], end[i])])
        begin = [0] * n
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    return conv(x, w, b, stride=strides or 1, padding=begin, dilation=dilations or 1, groups=group)


def _depth_to_space(x, *, blocksize, mode=b"DCR"):
    if mode == b"CRD":
        return F.pixel_shuffle(x, blocksize)
    n, c, h, w = x.shape
    s = blocksize
    x = x.reshape(n, s, s, c // (s * s), h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, c // (s * s), h * s, w * s)


def _conv_transpose(x, w, b=None, *, group=1, strides=None, pads=None, dilations=None, output_padding=None,
                    kernel_shape=None):
    n = w.dim() - 2
    pads = pads or [0] * (2 * n)
    if pads[:n] != pads[n:]:
        raise UserError("ConvTranspose with asymmetric pads is not supported by the eager decoder")
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[n - 1]
    return conv(x, w, b, stride=strides or 1, padding=pads[:n], output_padding=output_padding or 0,
                groups=group, dilation=dilations or 1)


def _average_pool(x, *, kernel_shape, strides=None, pads=None, ceil_mode=0, count_include_pad=0,
                  auto_pad=b"NOTSET"):
    n = len(kernel_shape)
    pads = pads or [0] * (2 * n)
    if auto_pad != b"NOTSET" or pads[:n] != pads[n:]:
        raise UserError("AveragePool with auto_pad or asymmetric pads is not supported by the eager decoder")
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
    return pool(x, kernel_shape, strides or 1, pads[:n], bool(ceil_mode), bool(count_include_pad))


def _resize(x, roi=None, scales=None, sizes=None, *, mode=b"nearest",
            coordinate_transformation_mode=b"half_pixel", nearest_mode=b"round_prefer_floor", **_cubic):
    """``linear`` + ``half_pixel`` is bilinear without corner alignment; ``nearest`` + ``asymmetric`` +
    ``floor`` is torch's nearest. Other combinations are refused rather than approximated."""
    size = _ints(sizes)[2:] if sizes is not None and sizes.numel() else None
    factor = [float(v) for v in scales.tolist()[2:]] if size is None else None
    if mode == b"linear" and coordinate_transformation_mode == b"half_pixel":
        kind = {1: "linear", 2: "bilinear", 3: "trilinear"}[x.dim() - 2]
        return F.interpolate(x, size=size, scale_factor=factor, mode=kind, align_corners=False)
    if mode == b"nearest" and coordinate_transformation_mode == b"asymmetric" and nearest_mode == b"floor":
        return F.interpolate(x, size=size, scale_factor=factor, mode="nearest")
    raise UserError(f"Resize mode={mode.decode()} coordinate_transformation_mode="
                    f"{coordinate_transformation_mode.decode()} is not supported by the eager decoder")


def _pad(x, pads, value=None, axes=None, *, mode=b"constant"):
    axes = _ints(axes) if axes is not None else list(range(x.dim()))
    p = _ints(pads)
    n = len(axes)
    width = [0] * (2 * x.dim())  # F.pad order: last axis first, (begin, end) each
    for i, a in enumerate(axes):
        k = x.dim() - 1 - a % x.dim()
        width[2 * k], width[2 * k + 1] = p[i], p[n + i]
    while len(width) > 2 and width[-2:] == [0, 0]:  # non-constant modes pad only trailing dims
        width = width[:-2]
    kind = {b"constant": "constant", b"reflect": "reflect", b"edge": "replicate"}[mode]
    fill = float(value) if value is not None and kind == "constant" else None
    return F.pad(x, width, mode=kind, value=fill)


def _reshape(x, shape, *, allowzero=0):
    dims = _ints(shape)
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _slice(x, starts, ends, axes=None, steps=None):
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(axes)
    index = [slice(None)] * x.dim()
    for a, s, e, st in zip(axes, _ints(starts), _ints(ends), steps, strict=True):
        if st < 1:
            raise UserError("Slice with a negative step is not supported by the eager decoder")
        index[a] = slice(s, e, st)  # Python clamps out-of-range bounds as ONNX does
    return x[tuple(index)]


def _axes(axes_attr, axes_input) -> list[int] | None:
    if axes_input is not None:
        return _ints(axes_input)
    return list(axes_attr) if axes_attr is not None else None


def _reduce_mean(x, axes_in=None, *, axes=None, keepdims=1, noop_with_empty_axes=0):
    dims = _axes(axes, axes_in)
    if not dims and noop_with_empty_axes:
        return x
    return x.mean(dim=dims or list(range(x.dim())), keepdim=bool(keepdims))


def _split(x, split=None, *, axis=0, num_outputs=None, _n_out=1):
    sizes = _ints(split) if split is not None else None
    if sizes is None:
        n = num_outputs or _n_out
        sizes = [math.ceil(x.shape[axis] / n)] * n
        sizes[-1] = x.shape[axis] - sum(sizes[:-1])
    return list(torch.split(x, sizes, dim=axis))


def _gather(x, i, *, axis=0):
    flat = torch.index_select(x, axis, i.reshape(-1).long() % x.shape[axis])
    return flat.reshape((*x.shape[:axis], *i.shape, *x.shape[axis + 1:]))


def _squeeze(x, axes_in=None, *, axes=None):
    dims = _axes(axes, axes_in)
    return x.squeeze(tuple(dims)) if dims else x.squeeze()


def _unsqueeze(x, axes_in=None, *, axes=None):
    out = list(x.shape)
    dims = _axes(axes, axes_in)
    for a in sorted(a % (x.dim() + len(dims)) for a in dims):
        out.insert(a, 1)
    return x.reshape(out)


OPS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "AveragePool": _average_pool, "Resize": _resize,
    "DepthToSpace": _depth_to_space,
    "Gelu": lambda x, *, approximate=b"none": F.gelu(x, approximate=approximate.decode()),
    "Erf": torch.erf, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid, "Relu": torch.relu,
    "LeakyRelu": lambda x, *, alpha=0.01: F.leaky_relu(x, alpha),
    "Sin": torch.sin, "Cos": torch.cos,
    "Clip": lambda x, lo=None, hi=None: torch.clamp(x, lo, hi),
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
    "Mod": lambda a, b, *, fmod=0: torch.fmod(a, b) if fmod else torch.remainder(a, b),
    "ReduceMean": _reduce_mean,
    "Identity": lambda x: x,
    "Shape": lambda x, *, start=0, end=None: torch.tensor(x.shape[start:end], dtype=torch.int64),
    "Gather": _gather,
    "Reshape": _reshape, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": lambda x, *, perm=None: x.permute(*(perm or reversed(range(x.dim())))),
    "Concat": lambda *xs, axis: torch.cat(xs, dim=axis),
    "Slice": _slice, "Split": _split, "Pad": _pad,
}
"""ONNX op -> torch function of the op's inputs (None where omitted) and attributes (keywords).
What the families' exported decoder graphs contain (after Haar lowering), no more."""


class EagerGraph(torch.nn.Module):
    """The decoder graph as a torch module: ``forward(*inputs)`` -> frames ``[n, 3, H, W]`` in [0, 1].

    ``inputs`` are float32 ``[n, ...]`` tensors in the package's ``embed_names`` order; every weight is a
    float32 buffer, so ``.to(device)`` moves the whole decoder.
    """

    def __init__(self, model, weights: dict[str, np.ndarray]):
        super().__init__()
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node} - set(OPS) - {"Constant"})
        if unsupported:
            raise UserError(f"the eager decoder does not implement ONNX op(s) {', '.join(unsupported)}")
        self._names: dict[str, str] = {}
        for i, init in enumerate(graph.initializer):
            if init.name in weights:
                value = weights[init.name]
            elif init.data_location == init.EXTERNAL:
                raise UserError(f"the package holds no weights for external initializer {init.name!r}")
            else:
                value = numpy_helper.to_array(init)
            self._add(f"w{i}", init.name, torch.from_numpy(np.array(value)))
        self.nodes = []
        for j, node in enumerate(graph.node):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Constant":
                value = np.array(numpy_helper.to_array(attrs["value"]))
                self._add(f"c{j}", node.output[0], torch.from_numpy(value))
                continue
            if node.op_type == "Split" and "split" not in attrs and len(node.input) < 2:
                attrs["_n_out"] = len(node.output)
            self.nodes.append((OPS[node.op_type], list(node.input), list(node.output), attrs))
        self.inputs = [i.name for i in graph.input if i.name not in self._names]
        self.outputs = [o.name for o in graph.output]

    def _add(self, key: str, name: str, value: torch.Tensor) -> None:
        self.register_buffer(key, value)
        self._names[name] = key

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        values = {name: getattr(self, key) for name, key in self._names.items()}
        values.update(zip(self.inputs, inputs, strict=True))
        for fn, ins, outs, attrs in self.nodes:
            result = fn(*(values[n] if n else None for n in ins), **attrs)
            if isinstance(result, (list, tuple)):
                values.update(zip(outs, result, strict=True))
            else:
                values[outs[0]] = result
        return values[self.outputs[0]]


class EagerDecoder:
    """``run(feeds) -> float32 [n, 3, H, W]`` on the host, like a runtime backend, via ``EagerGraph``.

    ``device`` is ``cpu`` or ``cuda``; ``sync()`` waits for the device (``torch.cuda.synchronize``),
    which ``run`` does before it returns, as the official code's timing does.
    """

    def __init__(self, pkg, device: str = "cpu"):
        self.device = torch.device(device)
        self.embed_names = pkg.embed_names
        self.module = EagerGraph(load_graph(pkg), pkg.weights()).to(self.device).eval()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.inference_mode()
    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        inputs = [torch.from_numpy(feeds[n]).to(self.device) for n in self.embed_names]
        out = self.module(*inputs)
        self.sync()
        return out.float().cpu().numpy()

    def close(self) -> None:
        self.module = None
