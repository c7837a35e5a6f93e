"""Quilting synthesis on real textures: repeatable with a seed, and the cut shows the least seam."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import UserError
from impasto.runtime.quilting import QuiltConfig, quilt_texture
from impasto.runtime.quilting.seams import seam_discontinuity, seam_error

SIZE = (192, 192)


def test_same_seed_same_bytes_other_seed_other_bytes(textures):
    tex = textures["brushstrokes"]
    a = quilt_texture(tex, (100, 130), seed=5)
    b = quilt_texture(tex, (100, 130), seed=5)
    c = quilt_texture(tex, (100, 130), seed=6)
    assert a.image.shape == (100, 130, 3) and a.image.dtype == np.uint8
    assert a.image.tobytes() == b.image.tobytes() and a.seed == 5
    assert a.image.tobytes() != c.image.tobytes()
    assert quilt_texture(tex, (100, 130)).seed != quilt_texture(tex, (100, 130)).seed  # drawn, and reported


def test_blocks_are_copied_from_the_texture(textures):
    """The block whose left and top neighbours are cut into it keeps its bottom-right part intact."""
    tex = textures["mosaic"]
    res = quilt_texture(tex, (64, 64), QuiltConfig(patch=32, overlap=6), seed=1)
    inner = res.image[32:58, 32:58].astype(np.float32)  # block (26, 26): rows/cols 26..57, past its overlaps
    diff = ((np.lib.stride_tricks.sliding_window_view(tex.astype(np.float32), (26, 26), axis=(0, 1))
             .transpose(0, 1, 3, 4, 2) - inner) ** 2).sum(axis=(2, 3, 4))
    assert diff.min() == 0.0


def test_cut_lowers_the_seam_error_against_blending_and_random_placement(textures):
    """Seam error (:func:`seam_error`, the mean of 6 seeds since single runs vary): |log| of the joins'
    gradient energy over the block interiors' (0: the joins are as busy as the rest)."""
    table = {}
    for name, tex in textures.items():
        table[name] = {join: np.mean([seam_error(quilt_texture(tex, SIZE, QuiltConfig(patch=32, join=join),
                                                               seed=seed).image, 32, 5) for seed in range(6)])
                       for join in ("random", "blend", "cut")}
    for name, errs in table.items():
        assert errs["cut"] < errs["blend"] and errs["cut"] < errs["random"], (name, errs)


def test_overlap_matching_lowers_the_discontinuity_against_random_placement(textures):
    tex = textures["swirls"]
    errs = {join: seam_discontinuity(quilt_texture(tex, (128, 128), QuiltConfig(patch=24, join=join), seed=2).image,
                                     tex, 24, 4) for join in ("random", "cut")}
    assert errs["cut"] < 0.5 * errs["random"], errs


def test_mean_boundary_error_is_the_cut_cost(textures):
    res = quilt_texture(textures["stars"], (96, 96), QuiltConfig(patch=24, tolerance=0.0), seed=0)
    assert 0.0 < res.mean_boundary_error < 0.1 and res.patches == [24] and res.overlaps == [4]
    assert res.blocks == 25  # 5 x 5 blocks of 24 with a step of 20 cover 96 + 8


@pytest.mark.parametrize("kwargs,size,message", [
    ({"patch": 200}, (256, 256), "smaller than one 200x200 block"),
    ({"patch": 16, "overlap": 16}, (64, 64), "overlap: expected an integer from 1 to patch - 1"),
    ({"patch": 3}, (64, 64), "patch: expected an integer >= 4"),
    ({"tolerance": -0.1}, (64, 64), "tolerance"),
    ({"join": "glue"}, (64, 64), "join: expected one of cut, blend, random"),
    ({}, (16, 64), "size: expected each side from the patch size (32)"),
    ({}, (64, 9000), "to 8192 pixels, got 9000x64"),
])
def test_bad_config_is_one_line_user_error(textures, kwargs, size, message):
    with pytest.raises(UserError, match=None) as info:
        quilt_texture(textures["brushstrokes"], size, QuiltConfig(**kwargs), seed=0)
    assert message in str(info.value) and "\n" not in str(info.value)
