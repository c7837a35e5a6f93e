"""The memory planner's arithmetic, budget parsing and the tiling geometry (torch-free, no graphs run)."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import MemoryBudgetError, UserError
from impasto.runtime import memory
from impasto.runtime.memory import (
    IMAGE_BYTES_PER_PIXEL,
    Budget,
    MemoryCost,
    check_whole,
    largest_fitting,
    parse_size,
    require_fits,
    whole_peak,
)
from impasto.runtime.pipelines.tiled import ALIGN, SECOND_SESSION_BYTES, TILE_SIDES, plan_image, spans, tiled_peak

MiB = 1 << 20
GiB = 1 << 30


@pytest.mark.parametrize("text, expected", [("2G", 2 * GiB), ("512M", 512 * MiB), ("1.5g", int(1.5 * GiB)),
                                            ("800K", 800 * 1024), ("2GB", 2 * GiB), ("2GiB", 2 * GiB),
                                            ("123", 123), (" 64 M ", 64 * MiB), (4096, 4096)])
def test_sizes_parse_in_powers_of_1024(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "2X", "-1G", "0", "0M", "two gigs", "1e9", "2 G B"])
def test_bad_sizes_are_one_line_user_errors(text):
    with pytest.raises(UserError, match="--max-memory: expected") as err:
        parse_size(text)
    assert "\n" not in str(err.value)


def test_the_default_budget_is_a_share_of_the_available_ram(monkeypatch):
    monkeypatch.setattr(memory, "available_ram", lambda: 10 * GiB)
    b = Budget.resolve(None, "ort-cpu")
    assert b.nbytes == int(10 * GiB * memory.DEFAULT_SHARE) and "available RAM" in b.source
    assert Budget.resolve("2G").nbytes == 2 * GiB and Budget.resolve("2G").source == "--max-memory"


def test_a_gpu_backend_budgets_the_gpu_memory_where_it_can_be_read(monkeypatch):
    monkeypatch.setattr(memory, "available_ram", lambda: 10 * GiB)
    monkeypatch.setattr(memory, "gpu_memory", lambda: 80 * GiB)
    assert Budget.resolve(None, "tensorrt").nbytes == int(80 * GiB * memory.DEFAULT_SHARE)
    monkeypatch.setattr(memory, "gpu_memory", lambda: None)
    assert "RAM" in Budget.resolve(None, "tensorrt").source  # said, not silent


def test_available_ram_reads_meminfo():
    assert 0 < memory.available_ram() < 1 << 50


def test_the_estimate_is_fixed_plus_per_pixel_plus_the_images():
    cost = MemoryCost(fixed=100 * MiB, per_pixel=200.0)
    assert cost.peak(1000) == 100 * MiB + 200_000
    assert whole_peak(cost, 100, 10) == cost.peak(1000) + IMAGE_BYTES_PER_PIXEL * 1000
    assert cost.max_pixels(100 * MiB + 2000) == 10 and cost.max_pixels(MiB) == 0


def test_the_largest_fitting_size_keeps_the_aspect_and_fits():
    cost = MemoryCost(fixed=100 * MiB, per_pixel=986.0)
    budget = 2 * GiB
    text = largest_fitting(cost, budget, 20000, 20000)
    w, h = map(int, text.split("x"))
    assert w == h and whole_peak(cost, h, w) <= budget < whole_peak(cost, h + 2, w + 2)


def test_a_graph_that_does_not_fit_is_refused_in_one_line_naming_the_largest_size():
    cost = MemoryCost(fixed=100 * MiB, per_pixel=1000.0)
    assert check_whole(cost, Budget(GiB, "--max-memory"), 100, 100).mode == "whole"
    with pytest.raises(MemoryBudgetError) as err:
        require_fits(cost, Budget(2 * GiB, "--max-memory"), 20000, 20000, "model x.onnx")
    message = str(err.value)
    assert "\n" not in message and "20000x20000" in message and "the largest this size fits is" in message
    assert "2.0 GiB" in message


def test_spans_cover_the_axis_with_weights_summing_to_one_and_aligned_starts():
    for n, tile in ((1000, 256), (4000, 1024), (257, 256), (300, 256), (5003, 768)):
        total = np.zeros(n)
        for s in spans(n, tile):
            assert s.start % ALIGN == 0 and s.end - s.start >= tile - ALIGN or s.end == n
            assert len(s.weights) == s.end - s.start and (s.weights >= 0).all()
            total[s.start:s.end] += s.weights
        np.testing.assert_allclose(total, 1.0, atol=1e-6)
    assert [(s.start, s.end) for s in spans(200, 256)] == [(0, 200)]


def test_tile_borders_get_no_weight_where_a_neighbour_covers_them():
    first, second = spans(1000, 256)[:2]
    assert first.weights[-1] == 0 and second.weights[0] == 0 and first.weights[0] == 1


def test_the_plan_runs_whole_when_it_fits_else_tiles_else_refuses():
    whole = MemoryCost(fixed=100 * MiB, per_pixel=900.0)
    tiled = MemoryCost(fixed=120 * MiB, per_pixel=900.0)
    roomy = Budget(8 * GiB, "--max-memory")
    assert plan_image(whole, tiled, roomy, 1000, 1000).mode == "whole"
    small = Budget(2 * GiB, "--max-memory")
    plan = plan_image(whole, tiled, small, 6000, 8000)
    assert plan.mode == "tiled" and plan.tile in TILE_SIDES and plan.estimated_peak <= small.nbytes
    assert plan.tiles > 1 and plan.thumbnail == 1024
    both = MemoryCost(tiled.fixed + SECOND_SESSION_BYTES, tiled.per_pixel)  # the plain graph's session stays open
    assert plan.estimated_peak == tiled_peak(both, 6000, 8000, plan.tile)
    assert plan_image(whole, None, small, 6000, 8000).mode == "refused"
    refused = plan_image(whole, tiled, Budget(200 * MiB, "--max-memory"), 20000, 20000)
    assert refused.mode == "refused" and refused.largest_fitting


def test_a_forced_tile_needs_a_stats_form_and_a_side_above_the_overlap():
    cost = MemoryCost(fixed=100 * MiB, per_pixel=900.0)
    assert plan_image(cost, cost, Budget(8 * GiB, "x"), 600, 800, tile=256).mode == "tiled"
    with pytest.raises(UserError, match="--tile: this model has no stats form"):
        plan_image(cost, None, Budget(8 * GiB, "x"), 600, 800, tile=256)
    with pytest.raises(UserError, match="--tile: expected at least 136"):
        plan_image(cost, cost, Budget(8 * GiB, "x"), 600, 800, tile=64)


def test_the_shipped_graphs_have_measured_costs():
    from impasto.runtime.builtins import MODELS_DIR

    for name in ("bank.onnx", "bank.tiled.onnx", "arbitrary/microast.onnx", "vgg16/photowct.onnx"):
        cost = memory.graph_cost(MODELS_DIR / name)
        assert cost.source.startswith("measured") and cost.per_pixel > 0, name
    assert memory.graph_cost("elsewhere/bank.onnx") == memory.UNMEASURED  # not the shipped file


def test_with_a_stats_form_a_large_image_runs_tiled_even_when_the_budget_allows_the_whole_run():
    from impasto.runtime.pipelines.tiled import PREFER_TILED_BYTES

    cost = MemoryCost(fixed=150 * MiB, per_pixel=240.0)
    plan = plan_image(cost, cost, Budget(64 * GiB, "x"), 6000, 8000)
    assert whole_peak(cost, 6000, 8000) > PREFER_TILED_BYTES
    assert plan.mode == "tiled" and plan.estimated_peak <= PREFER_TILED_BYTES
    assert plan_image(cost, None, Budget(64 * GiB, "x"), 6000, 8000).mode == "whole"
