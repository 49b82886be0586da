"""The TDS enhancer (paper 003) module by module against direct computations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nervkit.trainer.errors import TrainerError
from nervkit.trainer.tds.deform import deform_conv
from nervkit.trainer.tds.enhancer import IQEM, SIZES, Enhancer, PCDAlign, charbonnier, config_for
from nervkit.trainer.tds.mtsa import MTA, PSA, AdaNorm, TemporalAttention


def bilinear_zero(img, y, x):
    """Bilinear sample of ``img [H, W]`` at (y, x); each neighbour outside the image reads 0."""
    h, w = img.shape
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    val = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                val += wy * wx * img[yy, xx]
    return val


def deform_conv_loops(x, offset, mask, weight, bias):
    """DCNv2 / ONNX DeformConv written as loops over every output, channel and tap."""
    n, c, h, w = x.shape
    o, _, k, _ = weight.shape
    groups = mask.shape[1] // (k * k)
    out = np.zeros((n, o, h, w))
    for b in range(n):
        for yy in range(h):
            for xx in range(w):
                cols = np.zeros((c, k, k))
                for ch in range(c):
                    g = ch // (c // groups)
                    for i in range(k):
                        for j in range(k):
                            t = i * k + j
                            dy = offset[b, (g * k * k + t) * 2, yy, xx]
                            dx = offset[b, (g * k * k + t) * 2 + 1, yy, xx]
                            cols[ch, i, j] = mask[b, g * k * k + t, yy, xx] * bilinear_zero(
                                x[b, ch], yy + i - k // 2 + dy, xx + j - k // 2 + dx)
                out[b, :, yy, xx] = (weight * cols[None]).sum(axis=(1, 2, 3)) + bias
    return out


def test_deform_conv_matches_loops():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 5, 6, generator=g, dtype=torch.float64)
    offset = torch.randn(2, 2 * 2 * 9, 5, 6, generator=g, dtype=torch.float64) * 1.5  # some taps leave the frame
    mask = torch.rand(2, 2 * 9, 5, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 4, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    got = deform_conv(x, offset, mask, weight, bias).numpy()
    want = deform_conv_loops(*(t.numpy() for t in (x, offset, mask, weight, bias)))
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_deform_conv_without_offsets_is_a_convolution():
    x = torch.rand(1, 4, 7, 9, dtype=torch.float64)
    weight, bias = torch.randn(5, 4, 3, 3, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    got = deform_conv(x, torch.zeros(1, 36, 7, 9, dtype=torch.float64), torch.ones(1, 18, 7, 9, dtype=torch.float64),
                      weight, bias)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, padding=1))


def test_adanorm_is_modulated_layernorm():
    torch.manual_seed(0)
    norm = AdaNorm(6)
    torch.nn.init.normal_(norm.mod.weight)
    torch.nn.init.normal_(norm.mod.bias)
    x = torch.randn(2, 3, 6, 4, 5)
    ln = F.layer_norm(x.permute(0, 1, 3, 4, 2), (6,)).permute(0, 1, 4, 2, 3)
    s = x.mean(dim=(3, 4))
    mod = s @ norm.mod.weight.T + norm.mod.bias
    gamma, beta = mod[..., :6], mod[..., 6:]
    torch.testing.assert_close(norm(x), ln * (1 + gamma[..., None, None]) + beta[..., None, None])


def test_temporal_attention_matches_multihead_attention_per_pixel():
    torch.manual_seed(0)
    attn = TemporalAttention(8, heads=2)
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(attn.qkv.weight)
        ref.in_proj_bias.copy_(attn.qkv.bias)
        ref.out_proj.weight.copy_(attn.out.weight)
        ref.out_proj.bias.copy_(attn.out.bias)
    x = torch.randn(2, 3, 8, 4, 5)
    got = attn(x)
    for b in range(2):
        for i in range(4):
            for j in range(5):
                tokens = x[b, :, :, i, j][None]  # [1, T, C]
                want, _ = ref(tokens, tokens, tokens, need_weights=False)
                torch.testing.assert_close(got[b, :, :, i, j], want[0], atol=1e-6, rtol=1e-5)


def test_mta_against_direct_computation():
    torch.manual_seed(0)
    mta = MTA(8, frames=3, heads=2)
    for norm in mta.norms:
        torch.nn.init.normal_(norm.mod.weight, std=0.1)
    x = torch.randn(2, 3, 8, 8, 12)
    branches = []
    for s, norm, attn in zip((1, 2, 4), mta.norms, mta.attns):
        # s x s block means, written as a reshape instead of pooling
        xs = x.reshape(2, 3, 8, 8 // s, s, 12 // s, s).mean(dim=(4, 6))
        y = xs + attn(norm(xs))
        y = y.reshape(2, 24, 8 // s, 12 // s)
        branches.append(F.interpolate(y, size=(8, 12), mode="bilinear", align_corners=False))
    want = F.leaky_relu(F.conv2d(torch.cat(branches, 1), mta.fuse.weight, mta.fuse.bias), 0.1)
    torch.testing.assert_close(mta(x), want)


def test_psa_against_direct_computation():
    torch.manual_seed(0)
    psa = PSA(6)
    f = torch.randn(2, 6, 8, 12)

    def conv(m, x):
        return F.conv2d(x, m.weight, m.bias, padding=m.weight.shape[-1] // 2)

    def pooled(x):  # 3x3 windows, stride 2, padding 1: max ignores padding, mean counts it as 0
        padded_max = F.pad(x, (1, 1, 1, 1), value=-float("inf")).unfold(2, 3, 2).unfold(3, 3, 2)
        padded_avg = F.pad(x, (1, 1, 1, 1)).unfold(2, 3, 2).unfold(3, 3, 2)
        return torch.cat((padded_max.amax(dim=(-1, -2)), padded_avg.mean(dim=(-1, -2))), 1)

    def up(x):
        return F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear", align_corners=False)

    lrelu = torch.nn.LeakyReLU(0.1)
    a1 = lrelu(conv(psa.sa1, f))
    a2 = lrelu(conv(psa.sa2, pooled(a1)))
    r = a2 + lrelu(conv(psa.up1, up(pooled(a2))))
    a3 = lrelu(conv(psa.sa3, r))
    want = f * torch.sigmoid(conv(psa.up2, up(a3)))
    torch.testing.assert_close(psa(f), want)


def test_iqem_is_conv_relu_stack():
    torch.manual_seed(0)
    iqem = IQEM(5, 7, layers=4)
    x = torch.randn(1, 5, 6, 6)
    convs = [m for m in iqem.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [7, 7, 7, 3]
    y = x
    for i, c in enumerate(convs):
        y = F.conv2d(y, c.weight, c.bias, padding=1)
        if i < 3:
            y = F.relu(y)
    torch.testing.assert_close(iqem(x), y)


def test_pcd_with_zero_offsets_is_plain_convolutions():
    """Untrained offset convs are zero: every DCN is then conv * mask 0.5 (sigmoid(0)) + bias."""
    torch.manual_seed(0)
    c = 4
    pcd = PCDAlign(c, groups=2)
    nbr = [torch.randn(1, c, 8 // 2 ** i, 8 // 2 ** i) for i in range(3)]
    ref = [torch.randn(1, c, 8 // 2 ** i, 8 // 2 ** i) for i in range(3)]

    def dcn(m, x):
        return 0.5 * F.conv2d(x, m.weight, None, padding=1) + m.bias.view(1, -1, 1, 1)

    def conv(m, x):
        return F.conv2d(x, m.weight, m.bias, padding=1)

    def up(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    lr = torch.nn.LeakyReLU(0.1)
    a3 = lr(dcn(pcd.dcn[2], nbr[2]))
    a2 = lr(conv(pcd.feat_conv[1], torch.cat((dcn(pcd.dcn[1], nbr[1]), up(a3)), 1)))
    a1 = conv(pcd.feat_conv[0], torch.cat((dcn(pcd.dcn[0], nbr[0]), up(a2)), 1))
    torch.testing.assert_close(pcd(nbr, ref), lr(dcn(pcd.cas_dcn, a1)))


@pytest.mark.parametrize("fusion", ["mtsa", "conv"])
def test_enhancer_adds_a_residual_to_the_target(fusion):
    torch.manual_seed(0)
    g = Enhancer(config_for("test", fusion))
    frames = [torch.rand(2, 3, 16, 24) for _ in range(3)]
    last = [m for m in g.iqem.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    out = g(*frames)
    assert out.shape == (2, 3, 16, 24)
    out.mean().backward()
    assert all(p.grad is not None for p in g.parameters())
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        torch.testing.assert_close(g(*frames), frames[1])


def test_sizes_and_bad_config():
    counts = {s: sum(p.numel() for p in Enhancer(config_for(s)).parameters()) for s in ("test", "tiny", "small")}
    assert counts["test"] < counts["tiny"] < counts["small"]
    assert SIZES["paper"].channels == 128
    with pytest.raises(TrainerError):
        config_for("huge")
    with pytest.raises(TrainerError):
        config_for("test", "tsa")


def test_charbonnier():
    a, b = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    want = np.mean(np.sqrt((a.numpy() - b.numpy()) ** 2 + 1e-6))
    assert abs(charbonnier(a, b).item() - want) < 1e-6
