"""Shared fixtures: where the real data lives, and skips with a reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"
OFFICIAL_CKPT = DATA / "hnerv-official" / "bunny-1.5m-quant_vid.pth"
FRAMES_720P = DATA / "bunny" / "frames-720p"
FRAMES_SMALL = DATA / "bunny" / "frames-160x320"

# PSNR (dB) of the official decode against the 640x1280 crop of frames 1-8, from shared/data's README.
OFFICIAL_PSNR_FLOAT = [32.895, 32.985, 32.989, 33.061, 32.807, 33.357, 33.861, 33.884]
OFFICIAL_PSNR_UINT8 = [32.884, 32.974, 32.977, 33.050, 32.797, 33.346, 33.846, 33.870]


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (tests read ../shared/data beside the checkout)")
    return path


@pytest.fixture
def official_ckpt() -> Path:
    return _need(OFFICIAL_CKPT)


@pytest.fixture
def frames_720p() -> Path:
    return _need(FRAMES_720P)


@pytest.fixture
def frames_small() -> Path:
    return _need(FRAMES_SMALL)
