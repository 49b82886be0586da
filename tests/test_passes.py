"""Graph passes, each on its own small graph, and every family's exported graph through the pipeline.

References: eager PyTorch (the exportable modules equal pytorch_wavelets, see test_haar.py), PyWavelets for
the lowered Haar nodes, ONNX Runtime for running the rewritten graphs, onnx.checker inside the pipeline.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import pywt
import torch
from torch import nn

from nervkit.export.haar_onnx import HAAR_DOMAIN
from nervkit.export.onnx_graph import export_decoder_onnx
from nervkit.export.passes.cleanup import constants_to_initializers, remove_noops
from nervkit.export.passes.fold_constants import fold_constants
from nervkit.export.passes.fold_haar import fold_haar
from nervkit.export.passes.fp16 import to_fp16
from nervkit.export.passes.lower_haar import lower_haar
from nervkit.export.passes.merge_convs import merge_convs
from nervkit.export.passes.pipeline import optimize_for
from nervkit.export.trt.onnx_ops import TRT_ONNX_OPS
from nervkit.trainer.registry import create_model, model_names
from nervkit.trainer.wavelets import HAAR_MODES, HaarDWT, HaarIDWT

FP32_TOL = 1e-4


def export(module: nn.Module, *inputs: torch.Tensor) -> onnx.ModelProto:
    buf = io.BytesIO()
    names = [f"x{i}" for i in range(len(inputs))]
    outputs = ["y0", "y1"] if isinstance(module(*inputs), tuple) else ["y0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), inputs, buf, dynamo=False, opset_version=17, input_names=names,
                          output_names=outputs, custom_opsets={HAAR_DOMAIN: 1},
                          dynamic_axes={n: {0: "n"} for n in names})
    return constants_to_initializers(onnx.load_from_string(buf.getvalue()))


def run(model: onnx.ModelProto, *inputs) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: np.asarray(x) for i, x in zip(sess.get_inputs(), inputs, strict=True)})


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


class TinyWavelet(nn.Module):
    """conv -> HaarDWT and conv -> HaarIDWT patterns, a gated attention scale and a residual scale."""

    def __init__(self, c: int = 6):
        super().__init__()
        self.conv = nn.Conv2d(4, c, 3, 1, 1)
        self.dwt = HaarDWT(exportable=True)
        self.ll_head = nn.Conv2d(4 * c, c, 3, 1, 1)
        self.high_head = nn.Conv2d(4 * c, 3 * c, 3, 1, 1)
        self.idwt = HaarIDWT(exportable=True)
        self.gate = nn.Conv2d(c, c, 1)
        self.gain, self.shift = nn.Parameter(torch.tensor(1.7)), nn.Parameter(torch.tensor(-0.2))
        self.out = nn.Conv2d(c, 3, 3, 1, 1)
        self.res_scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, x):
        ll, high = self.dwt(self.conv(x))
        z = torch.nn.functional.gelu(torch.cat([ll, high.flatten(1, 2)], 1))
        n, _, h, w = z.shape
        y = self.idwt(self.ll_head(z), self.high_head(z).view(n, -1, 3, h, w))
        y = y * torch.sigmoid(self.gate(y) * self.gain + self.shift)
        return torch.tanh(self.out(y) * self.res_scale)


def test_fold_haar_turns_conv_dwt_into_one_strided_conv_and_idwt_into_conv_depth_to_space():
    torch.manual_seed(0)
    m, x = TinyWavelet(), torch.randn(2, 4, 8, 10)
    folded = fold_haar(export(m, x))
    assert not [n for n in folded.graph.node if n.domain == HAAR_DOMAIN]
    convs = [n for n in folded.graph.node if n.op_type == "Conv"]
    geometry = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in convs]
    strided = [g for g in geometry if g["strides"] == [2, 2]]
    assert len(strided) == 1 and strided[0]["kernel_shape"] == [4, 4]  # conv -> DWT: one stride-2 conv
    assert len(convs) == 4 and ops(folded).count("DepthToSpace") == 1  # heads + IDWT: one conv + D2S
    assert np.abs(run(folded, x.numpy())[0] - m(x).detach().numpy()).max() < FP32_TOL


def test_fold_haar_leaves_what_is_not_exact():
    class OddAndShared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.dwt = nn.Conv2d(2, 3, 3, 1, 1), HaarDWT(exportable=True)

        def forward(self, x):
            r = self.conv(x)
            ll, _ = self.dwt(r)  # odd sides: the pad row is not a padding of the conv input
            return ll.sum() + r.sum()

    graph = fold_haar(export(OddAndShared(), torch.randn(1, 2, 7, 9)))
    assert "HaarDWT" in ops(graph)


@pytest.mark.parametrize("mode", HAAR_MODES)
def test_lower_haar_equals_pywavelets(mode):
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.dwt, self.idwt = HaarDWT(exportable=True, mode=mode), HaarIDWT(exportable=True)

        def forward(self, x):
            ll, high = self.dwt(x)
            return ll, self.idwt(ll, high)

    x = np.random.default_rng(1).standard_normal((2, 3, 7, 10)).astype(np.float32)
    lowered = lower_haar(export(Pair(), torch.from_numpy(x)))
    assert {n.domain for n in lowered.graph.node} == {""}
    ll, back = run(lowered, x)
    ca, details = pywt.dwt2(x.astype(np.float64), "haar", mode=mode)
    assert np.abs(ll - ca).max() < 1e-5
    assert np.abs(back - pywt.idwt2((ca, details), "haar")).max() < 1e-5


def test_merge_convs_merges_linear_chains_only():
    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 4, 1)
            self.c, self.d = nn.Conv2d(4, 4, 3, 1, 1), nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.d(torch.relu(self.c(self.b(self.a(x)))))

    m, x = Chain(), torch.randn(1, 3, 6, 6)
    merged = merge_convs(export(m, x))
    assert ops(merged) == ["Conv", "Conv", "Relu", "Conv"]
    assert np.abs(run(merged, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_fold_constants_moves_scales_and_shifts_into_conv_weights():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.conv2 = nn.Conv2d(3, 5, 3, 1, 1), nn.Conv2d(5, 2, 3, 1, 1)
            self.w = nn.Parameter(torch.randn(1, 5, 1, 1))

        def forward(self, x):
            g = torch.sigmoid((self.conv(x * 0.5) * self.w - 0.3) / 2.0)
            return self.conv2(g) * 0.25 + 1.0

    m, x = Scaled(), torch.randn(2, 3, 5, 7)
    folded = fold_constants(export(m, x))
    assert ops(folded) == ["Conv", "Sigmoid", "Conv"]
    assert np.abs(run(folded, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_remove_noops_drops_identity_and_same_shape_reshapes():
    class Noops(nn.Module):
        def forward(self, x):
            return torch.relu(nn.Identity()(x).reshape(x.shape[0], 3, 4, 4).flatten(2).view(-1, 3, 4, 4))

    x = torch.randn(2, 3, 4, 4)
    graph = export(Noops(), x)
    cleaned = remove_noops(graph)
    assert "Identity" not in ops(cleaned) and ops(cleaned).count("Reshape") <= 1
    assert np.array_equal(run(cleaned, x.numpy())[0], torch.relu(x).numpy())


def test_fp16_variant_types_the_graph_keeps_sin_in_fp32_and_reports_its_error():
    class Harmonic(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, 1, 1)

        def forward(self, x):
            y = self.conv(x) * 40.0
            return torch.sin(y) + torch.cos(y)

    m, x = Harmonic(), torch.randn(1, 3, 8, 8)
    half = to_fp16(export(m, x))
    onnx.checker.check_model(half)
    inferred = onnx.shape_inference.infer_shapes(half)
    values = (*inferred.graph.value_info, *inferred.graph.output)
    types = {v.name: v.type.tensor_type.elem_type for v in values}
    conv = next(n for n in half.graph.node if n.op_type == "Conv")
    sin = next(n for n in half.graph.node if n.op_type == "Sin")
    assert types[conv.output[0]] == onnx.TensorProto.FLOAT16
    assert types[sin.output[0]] == onnx.TensorProto.FLOAT and types["y0"] == onnx.TensorProto.FLOAT
    err = np.abs(run(half, x.numpy())[0] - m(x).detach().numpy()).max()
    print(f"fp16 error of a sin/cos head at |arg| ~ 40: {err:.3g}")
    assert err < 0.5  # the fp16 conv output feeds an fp32 sin: phase error ~ 40 * 2^-11


FAMILIES = [n for n in model_names() if n.startswith("test-")]


@pytest.mark.parametrize("name", FAMILIES)
def test_family_graph_after_passes_matches_eager(name, record_property):
    torch.manual_seed(0)
    model = create_model(name, (32, 64), 2).eval()
    with torch.no_grad():
        embeds = model.encode(model.clip_input(torch.rand(2, 3, 32, 64)))
        feeds = [embeds[k] for k in model.embed_names]
        eager = model.decode(*feeds).numpy()
    raw = export_decoder_onnx(model, embeds)
    numpy_feeds = [f.numpy() for f in feeds]
    # fold=False is the graph a package stores (weights unchanged, Haar nodes lowered, not folded)
    for precision, fold in (("fp32", True), ("fp16", True), ("fp32", False)):
        graph = optimize_for(raw, "ort", precision, fold=fold)
        assert not [
            n for n in graph.graph.node if n.domain == HAAR_DOMAIN or n.op_type.startswith("Haar")]
        err = float(np.abs(run(graph, *numpy_feeds)[0] - eager).max())
        label = precision if fold else f"{precision}_unfolded"
        record_property(f"{label}_max_abs_error", err)
        print(f"{name} {label}: max abs error against eager fp32 = {err:.3g}")
        if precision == "fp32":
            assert err <= FP32_TOL
        else:
            assert err < 0.05
    trt = optimize_for(raw, "trt")
    plain = {n.op_type for n in trt.graph.node if n.domain != HAAR_DOMAIN}
    assert plain <= TRT_ONNX_OPS
    for node in trt.graph.node:
        if node.domain == HAAR_DOMAIN:
            names = {a.name for a in node.attribute}
            assert {"plugin_namespace", "plugin_version"} <= names


def test_harmonic_to_phase_is_one_sine_for_every_sign_of_the_weights():
    from nervkit.export.passes.harmonic import harmonic_to_phase
    from nervkit.trainer.families.hfe_hnerv import Harmonic

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = nn.Conv2d(3, 8, 3, 1, 1), Harmonic(8)

        def forward(self, x):
            return self.act(self.conv(x) * 4.0)  # arguments over several periods

    torch.manual_seed(0)
    m = Block()
    with torch.no_grad():  # every quadrant, the axes and the (0, 0) corner
        m.act.w1.copy_(torch.tensor([1.3, -0.7, 0.0, -1.1, 0.4, 0.0, -2e-6, 0.9]))
        m.act.w2.copy_(torch.tensor([0.2, 0.5, -0.8, 0.0, -1.5, 0.0, 1e-7, -0.0]))
    x = torch.randn(2, 3, 6, 7)
    graph = harmonic_to_phase(export(m, x))
    assert ops(graph).count("Sin") == 1 and "Cos" not in ops(graph)
    eager = m(x).detach().numpy()
    assert np.abs(run(graph, x.numpy())[0] - eager).max() < 1e-5
    folded = optimize_for(export(m, x), "ort")  # A and phi evaluated at export
    assert not {"Atan", "Where", "Cos"} & set(ops(folded))
    assert np.abs(run(folded, x.numpy())[0] - eager).max() < 1e-5


def test_factor_gates_reads_the_feature_map_once():
    from nervkit.export.passes.factor_gates import factor_gates
    from nervkit.trainer.families.cf_nerv import Calibration

    class Gates(nn.Module):
        def __init__(self):
            super().__init__()
            self.calib, self.conv = Calibration(8, 4), nn.Conv2d(8, 8, 1)

        def forward(self, x):
            y = self.calib(x)
            return y * torch.sigmoid(self.conv(y)) + y  # HFS-HNeRV's residual gate

    torch.manual_seed(0)
    m, x = Gates(), torch.randn(2, 8, 5, 6)
    factored = factor_gates(export(m, x))
    muls = [t for n in factored.graph.node if n.op_type == "Mul" for t in n.input]
    assert len(muls) == 4 and len(set(muls)) == 4  # x and y: each read by one Mul, with its summed gates
    assert np.abs(run(factored, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_merge_parallel_convs_makes_the_error_head_one_conv():
    from nervkit.export.passes.merge_parallel_convs import merge_parallel_convs
    from nervkit.trainer.families.cf_nerv import ERRH

    torch.manual_seed(0)
    m, x = ERRH(6, 0.37), torch.randn(2, 6, 5, 7)
    merged = merge_parallel_convs(export(m, x))
    assert ops(merged).count("Conv") == 1
    assert np.abs(run(merged, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_sink_depth_to_space_moves_the_activation_before_it():
    from nervkit.export.passes.sink_depth_to_space import sink_depth_to_space
    from nervkit.trainer.layers import NeRVBlock, UpConv

    class Stage(nn.Module):
        def __init__(self):
            super().__init__()
            self.block, self.next = NeRVBlock(UpConv(4, 3, 3, 2)), nn.Conv2d(3, 2, 3, 1, 1)

        def forward(self, x):
            y = self.block(x)
            return self.next(y) + y.mean()

    torch.manual_seed(0)
    m, x = Stage(), torch.randn(2, 4, 5, 6)
    moved = sink_depth_to_space(export(m, x))
    order = ops(moved)
    assert order.index("Erf") < order.index("DepthToSpace") and order.count("DepthToSpace") == 1
    assert np.abs(run(moved, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-6


def test_split_narrow_convs_keeps_a_7x7_attention_conv_exact():
    from nervkit.export.passes.split_narrow_convs import split_narrow_convs

    class Narrow(nn.Module):
        def __init__(self):
            super().__init__()
            self.reduce = nn.Conv2d(9, 3, 7, 1, 3)
            self.attend = nn.Conv2d(12, 1, 7, 1, (2, 4))  # unequal pads
            self.head = nn.Conv2d(12, 3, 3, 1, 1)  # small kernel: stays whole

        def forward(self, x):
            r = self.reduce(x)
            y = torch.cat([x, r], 1)
            return torch.sigmoid(self.attend(y))[..., :, 1:-1] * self.head(y)[..., 1:-1, :]  # 9 x 13

    torch.manual_seed(0)
    m, x = Narrow(), torch.randn(2, 9, 11, 13)
    split = split_narrow_convs(export(m, x))
    kernels = sorted(tuple(n.attribute[[a.name for a in n.attribute].index("kernel_shape")].ints)
                     for n in split.graph.node if n.op_type == "Conv")
    assert kernels == [(1, 7), (1, 7), (3, 3), (7, 1), (7, 1)]
    assert np.abs(run(split, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_split_concat_conv_merges_farm_fuse_into_its_bands():
    from nervkit.export.passes.split_concat_conv import split_concat_conv
    from nervkit.trainer.families.cf_nerv import FARM, CFNeRVConfig

    torch.manual_seed(0)
    m, x = FARM(6, CFNeRVConfig((32, 64), [2, 2], [6, 6, 6])), torch.randn(2, 6, 9, 11)
    with torch.no_grad():
        m.res_scale.fill_(0.8)  # make the refinement visible next to x
    split = split_concat_conv(export(m, x))
    assert "Concat" not in ops(split)
    # the fuse's low half merged into the dilated conv; its high half a 1x1 conv: three convs, not four
    assert ops(split).count("Conv") == 3
    assert np.abs(run(split, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_residual_sums_adds_the_residual_inside_the_convolutions():
    from nervkit.export.passes.residual_sums import residual_sums
    from nervkit.export.passes.split_concat_conv import split_concat_conv
    from nervkit.trainer.families.cf_nerv import FARM, CFNeRVConfig

    torch.manual_seed(0)
    m, x = FARM(6, CFNeRVConfig((32, 64), [2, 2], [6, 6, 6])), torch.randn(2, 6, 9, 11)
    with torch.no_grad():
        m.res_scale.fill_(0.8)
    graph = residual_sums(split_concat_conv(export(m, x)))
    made = {t: n for n in graph.graph.node for t in n.output}
    adds = [n for n in graph.graph.node if n.op_type == "Add"]
    # F + s (low + high) -> high' + (low' + F): each addition reads one convolution's output
    assert len(adds) == 2 and all(sum(made.get(t) is not None and made[t].op_type == "Conv" for t in a.input) == 1
                                  for a in adds)
    # the scale is in the convolutions' weights and biases, not a pass over the features
    scaled = {n.output[0] for n in graph.graph.node if n.op_type == "Mul" and "res_scale" in n.input[0]}
    slots = {t for n in graph.graph.node if n.op_type == "Conv" for t in n.input[1:]}
    assert len(scaled) == 4 and scaled <= slots
    assert np.abs(run(graph, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_exp_gates_writes_the_conv_gates_as_exp_and_keeps_their_values():
    from nervkit.export.passes.exp_gates import exp_gates
    from nervkit.trainer.families.cf_nerv import FARM, Calibration, CFNeRVConfig

    class Gates(nn.Module):
        def __init__(self):
            super().__init__()
            self.calib, self.farm = Calibration(6, 2), FARM(6, CFNeRVConfig((32, 64), [2, 2], [6, 6, 6]))

        def forward(self, x):
            return self.farm(self.calib(x))

    torch.manual_seed(0)
    m, x = Gates(), torch.randn(2, 6, 9, 11)
    with torch.no_grad():
        m.farm.gate.weight.mul_(300.0)  # gate arguments far past +-88, where exp(-z) is inf or 0
        m.farm.res_scale.fill_(0.8)
    graph = exp_gates(export(m, x))
    # the spatial and FARM gates (convs over the map) as exp; the channel gate of one pixel stays a Sigmoid
    assert ops(graph).count("Exp") == 2 and ops(graph).count("Sigmoid") == 1
    assert np.abs(run(graph, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5
