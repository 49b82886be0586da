"""The pass pipeline: one exported decoder graph -> the graph a runtime runs.

``optimize_for(model, target, precision)``:

1. cleanup (constants as initializers, no-ops removed), then the rewrites that make the same function
   cheaper to run without changing any weight: the harmonic activation as one sine
   (:mod:`.harmonic`), gated residuals with one multiply (:mod:`.factor_gates`), summed convolutions
   of one input as one (:mod:`.merge_parallel_convs`), a 1x1 convolution of a concatenation as a sum
   merged into its sources (:mod:`.split_concat_conv`), a scaled sum of convolutions added to a residual
   as one addition per convolution (:mod:`.residual_sums`), HFS-HNeRV's up-sampled Haar band branches as
   one half-resolution convolution (:mod:`.haar_bands`), element-wise chains moved onto the parts of a
   concatenation (:mod:`.sink_concat`) and before ``DepthToSpace`` so they fuse into the convolution
   (:mod:`.sink_depth_to_space`);
2. with ``fold=True``: constant folding into conv weights, Haar folding, and merging of conv pairs that
   folding or the model left next to each other. ``fold=False`` changes no weight: the package keeps its
   weights entropy-coded by name (a rewritten weight would be stored inline), and the benchmark measures
   what folding saves against it;
3. ``target="ort"``: every remaining Haar node is lowered to standard ops and narrow large-kernel
   convolutions are split by rows (:mod:`.split_narrow_convs`, measured on the CPU backends), a column
   sum read only by a strided per-channel convolution merged into it (:mod:`.merge_column_sum`), and
   sigmoid gates of convolutions become ``1 / (1 + exp(-z))`` (:mod:`.exp_gates`, for OpenVINO);
   ``target="trt"``: remaining Haar nodes stay and are tagged for the nervkit TensorRT plugins (an IDWT
   followed by a [0, 1] clamp becomes the fused plugin, :mod:`.fuse_trt`);
4. ``precision="fp16"``: the fp16 variant (:mod:`.fp16`).

The result is checked: ``onnx.checker`` passes, and every op is one the target runs
(:func:`unsupported_ops`).
"""

from __future__ import annotations

import onnx
from onnx import helper

from ..haar_onnx import HAAR_DOMAIN, PLUGIN_VERSION, is_haar
from ..trt.onnx_ops import TRT_ONNX_OPS
from .cleanup import constants_to_initializers, remove_noops
from .exp_gates import exp_gates
from .factor_gates import factor_gates
from .fold_constants import fold_constants
from .fold_haar import fold_haar
from .fp16 import to_fp16
from .fuse_trt import fuse_idwt_clamp
from .haar_bands import haar_bands
from .harmonic import harmonic_to_phase
from .lower_haar import lower_haar
from .merge_column_sum import merge_column_sum
from .merge_convs import merge_convs
from .merge_parallel_convs import merge_parallel_convs
from .onnx_edit import remove_unused
from .residual_sums import residual_sums
from .sink_concat import sink_concat
from .sink_depth_to_space import sink_depth_to_space
from .split_concat_conv import split_concat_conv
from .split_narrow_convs import split_narrow_convs

TARGETS = ("ort", "trt")
PRECISIONS = ("fp32", "fp16")


def tag_plugins(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every Haar node the attributes the ONNX-TensorRT parser uses to find its plugin creator."""
    for node in model.graph.node:
        if is_haar(node) and not any(a.name == "plugin_namespace" for a in node.attribute):
            node.attribute.extend([helper.make_attribute("plugin_namespace", HAAR_DOMAIN),
                                   helper.make_attribute("plugin_version", PLUGIN_VERSION)])
    return model


def unsupported_ops(model: onnx.ModelProto, target: str) -> set[str]:
    """Op types in ``model`` that ``target`` cannot run (empty when the graph is fine)."""
    bad = set()
    for node in model.graph.node:
        if target == "trt" and is_haar(node):
            continue
        if node.domain not in ("", "ai.onnx") or (target == "trt" and node.op_type not in TRT_ONNX_OPS):
            bad.add(f"{node.domain}::{node.op_type}" if node.domain else node.op_type)
    return bad


def _drop_unused_domains(model: onnx.ModelProto) -> None:
    used = {n.domain for n in model.graph.node} | {"", "ai.onnx"}
    keep = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def optimize_for(model: onnx.ModelProto, target: str = "ort", precision: str = "fp32",
                 fold: bool = True) -> onnx.ModelProto:
    """Return an optimised copy of ``model`` for ``target`` at ``precision`` (module docstring)."""
    if target not in TARGETS or precision not in PRECISIONS:
        raise ValueError(f"target must be one of {TARGETS} and precision one of {PRECISIONS}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    opset = next(o.version for o in out.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        raise ValueError(f"the passes need ONNX opset >= 13, the graph has {opset}")
    remove_noops(constants_to_initializers(out))
    residual_sums(split_concat_conv(merge_parallel_convs(factor_gates(harmonic_to_phase(out)))))
    sink_depth_to_space(sink_concat(haar_bands(out)))
    if fold:
        merge_convs(fold_haar(fold_constants(out)))
    if target == "ort":
        exp_gates(merge_column_sum(split_narrow_convs(lower_haar(out))))
    else:
        tag_plugins(fuse_idwt_clamp(out))
    remove_noops(out)
    remove_unused(out)
    _drop_unused_domains(out)
    if precision == "fp16":
        to_fp16(out)
    del out.graph.value_info[:]
    onnx.checker.check_model(out)
    bad = unsupported_ops(out, target)
    if bad:
        raise ValueError(f"graph for {target} still holds unsupported ops: {', '.join(sorted(bad))}")
    return out
