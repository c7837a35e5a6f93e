"""Texture transfer follows the target's luminance, repeatably, and refuses impossible passes."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.runtime.quilting import QuiltConfig, TransferConfig, quilt_texture, transfer_texture
from impasto.runtime.quilting.transfer import luminance


def _lum_corr(a: np.ndarray, b: np.ndarray) -> float:
    la, lb = luminance(a / 255.0, 2.0), luminance(b / 255.0, 2.0)
    return float(np.corrcoef(la.ravel(), lb.ravel())[0, 1])


@pytest.fixture
def target(photo):
    from impasto.runtime.io.images import fit_max_size

    return fit_max_size(photo, 128)


def test_transfer_follows_the_target_more_than_synthesis(textures, target):
    tex = textures["mosaic"]
    config = TransferConfig(patch=24, passes=2)
    res = transfer_texture(tex, target, config, seed=0)
    plain = quilt_texture(tex, target.shape[:2], QuiltConfig(patch=24), seed=0)
    assert res.image.shape == target.shape and res.patches == [24, 16] and res.extra["alphas"] == [0.1, 0.9]
    follows, ignores = _lum_corr(res.image, target), _lum_corr(plain.image, target)
    assert follows > 0.5 and follows > ignores + 0.3, (follows, ignores)
    again = transfer_texture(tex, target, config, seed=0)
    assert again.image.tobytes() == res.image.tobytes()


def test_schedule_shrinks_blocks_by_a_third_and_raises_alpha():
    assert TransferConfig(patch=36, passes=3).schedule() == [(36, 6, 0.1), (24, 4, 0.5), (16, 3, 0.9)]
    assert [round(a, 3) for *_, a in TransferConfig(passes=5, alpha=0.5).schedule()] == [0.1, 0.2, 0.3, 0.4, 0.5]


@pytest.mark.parametrize("kwargs,message", [
    ({"passes": 6}, "passes: expected an integer from 1 to 5"),
    ({"patch": 6, "passes": 3}, "passes: 3 passes from a 6-pixel patch end at 3 pixels"),
    ({"alpha": 1.5}, "alpha: expected a number in [0, 1]"),
    ({"patch": 300}, "smaller than one 300x300 block"),
])
def test_bad_transfer_config_is_one_line_user_error(textures, target, kwargs, message):
    with pytest.raises(UserError) as info:
        transfer_texture(textures["mosaic"], target, TransferConfig(**kwargs), seed=0)
    assert message in str(info.value)
