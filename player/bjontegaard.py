"""Bjontegaard delta rate and PSNR between two rate-distortion curves (VCEG-M33, 2001).

Each curve is a few ``(rate, PSNR)`` points. BD-PSNR fits PSNR as a function of ``log10(rate)`` on
each curve and averages the test-minus-anchor difference over the rates both curves cover. BD-rate
fits ``log10(rate)`` as a function of PSNR and averages the difference over the PSNR both cover;
``10 ** mean - 1`` is the rate the test curve needs relative to the anchor at equal quality
(negative: it saves bits). The fit is ``cubic`` (VCEG-M33's third-order polynomial through all points;
a curve of fewer than four points gets the polynomial of degree points - 1 through them, and the
result says so) or ``pchip`` (piecewise-cubic Hermite, monotone between points: SciPy's
``PchipInterpolator``, the interpolation of the later piecewise-cubic BD variants).
"""

from __future__ import annotations

import numpy as np

METHODS = ("cubic", "pchip")


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Mean of the curve fitted to ``y(x)`` over ``[lo, hi]``: its exact integral divided by ``hi - lo``."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, min(3, len(x) - 1)))
        area = np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo)
    else:
        try:
            from scipy.interpolate import PchipInterpolator
        except ImportError:
            raise RuntimeError("the pchip fit needs SciPy: pip install 'nervkit[rd]'") from None
        if np.any(np.diff(x) <= 0):
            raise ValueError("pchip needs distinct points along the fitted axis")
        area = PchipInterpolator(x, y).integrate(lo, hi)
    return float(area) / (hi - lo)


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    return (float(lo), float(hi)) if hi > lo else None


def _curves(anchor, test):
    return ([np.asarray(v, np.float64) for v in c] for c in (anchor, test))


def fit_name(method: str, points: int) -> str:
    """The fit a curve of ``points`` points gets: ``cubic`` needs four."""
    if points < 2:
        return "none (one point)"
    return method if method == "pchip" or points >= 4 else f"polynomial of degree {points - 1} ({points} points)"


def bd_rate(anchor: tuple, test: tuple, method: str = "cubic") -> tuple[float | None, list | None]:
    """Rate change in percent of ``test`` against ``anchor`` at equal PSNR, each a ``(rates, psnrs)``
    pair, and the PSNR interval it is averaged over; ``(None, None)`` when the curves share no PSNR
    or either has fewer than two points. Rates in any unit common to both (bits per pixel here)."""
    (ra, pa), (rt, pt) = _curves(anchor, test)
    iv = _overlap(pa, pt) if min(len(ra), len(rt)) >= 2 else None
    if iv is None:
        return None, None
    delta = _mean_over(pt, np.log10(rt), *iv, method) - _mean_over(pa, np.log10(ra), *iv, method)
    return 100.0 * (10.0**delta - 1.0), list(iv)


def bd_psnr(anchor: tuple, test: tuple, method: str = "cubic") -> tuple[float | None, list | None]:
    """PSNR change in dB of ``test`` against ``anchor`` at equal rate, and the ``log10(rate)`` interval
    it is averaged over; ``(None, None)`` when the curves share no rate or a curve has one point."""
    (ra, pa), (rt, pt) = _curves(anchor, test)
    la, lt = np.log10(ra), np.log10(rt)
    iv = _overlap(la, lt) if min(len(ra), len(rt)) >= 2 else None
    if iv is None:
        return None, None
    return _mean_over(lt, pt, *iv, method) - _mean_over(la, pa, *iv, method), list(iv)
