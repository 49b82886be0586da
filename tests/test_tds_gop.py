"""Algorithm 1 (paper 003) against an independent enumeration, and GOP/scale validation."""

import pytest

from nervkit.export.tds_streams import check_match, make_layout
from nervkit.runtime.errors import UserError
from nervkit.runtime.gop import Step, frame_plan


def paper_algorithm_1(n):
    """Algorithm 1 transcribed with the paper's 1-based indices: (target, references) in execution order."""
    mid = (n + 1) // 2
    order = [(mid, {1, n})]
    for i in range(2, mid):  # "for i = 2 to mid - 1": references x_1 and the enhanced middle
        order.append((i, {1, mid}))
    for i in range(mid + 1, n):  # "for i = mid + 1 to N - 1": the enhanced middle and x_N
        order.append((i, {mid, n}))
    return order


@pytest.mark.parametrize("n", [3, 5, 7, 11])
def test_order_and_references_match_the_paper(n):
    plan = frame_plan(n)
    assert [(s.target + 1, {s.earlier + 1, s.later + 1}) for s in plan] == paper_algorithm_1(n)


@pytest.mark.parametrize("n", [3, 5, 7, 11])
def test_every_reference_is_available_and_in_temporal_order(n):
    available = {0, n - 1}  # decoded HR key frames
    for s in frame_plan(n):
        assert s.earlier in available and s.later in available
        assert s.earlier < s.target < s.later
        assert s.target not in available
        available.add(s.target)
    assert available == set(range(n))


def test_gop_3_is_one_step():
    assert frame_plan(3) == [Step(1, 0, 2)]


def test_layout_keys_and_tail():
    lay = make_layout(12, 160, 320, gop=5, scale=2)
    assert lay.key_frames() == [0, 4, 5, 9, 10, 11]
    assert lay.lr_frames() == [1, 2, 3, 6, 7, 8]
    assert lay.group_of(7) == 1 and lay.group_of(11) is None


@pytest.mark.parametrize("kwargs", [
    dict(gop=4), dict(gop=1), dict(gop=0), dict(gop=2.0), dict(scale=3), dict(scale=1),
    dict(num_frames=4), dict(height=162), dict(width=324, scale=4),
])
def test_bad_settings_are_user_errors(kwargs):
    args = dict(num_frames=12, height=160, width=320, gop=5, scale=2) | kwargs
    with pytest.raises(UserError):
        make_layout(**args)


def test_mismatched_enhancer_settings():
    check_match({"gop": 5, "scale": 2}, {"gop": 5, "scale": 2})
    with pytest.raises(UserError, match="scale 2"):
        check_match({"gop": 5, "scale": 2}, {"scale": 4})
