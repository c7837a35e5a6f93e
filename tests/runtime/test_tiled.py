"""Tiled inference of the built-in bank: the plan under a small budget, the output against the untiled run.

Bounds: with statistics from the image itself (an image no larger than the thumbnail),
tiled and untiled outputs differ only where a tile's receptive field crosses its border
inside the zero-weight margin; tools/measure_seams.py measured max 1 and mean 3e-5 levels
at 768x576 with 256 px tiles. With a thumbnail's statistics (images over 1024 px), the
tiled output follows the thumbnail's normalisation: measured mean ~0.5, p99.9 ~4 levels
at 1100x824 (see docs/tiling.md); the bounds below leave room for ONNX Runtime builds.
Sizes are multiples of 4: an untiled run of a side 4k + 2 paints a slightly stretched
texture (see :func:`impasto.runtime.pipelines.tiled.pad_to_align`), so it is no reference.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image
from impasto.runtime.memory import Budget, graph_cost, whole_peak
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.pipelines.tiled import border_energy_ratio, border_lines, plan_image


@pytest.fixture(scope="module")
def bank():
    with Stylizer.load(backend="ort-cpu") as s:
        yield s


def _photo(photo: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC)


def test_forced_tiles_match_the_untiled_run_when_the_statistics_are_the_images_own(photo, bank):
    image = _photo(photo, 520, 392)
    whole = bank(image)
    assert bank.last_plan.mode == "whole"
    with Stylizer.load(backend="ort-cpu", tile=256) as tiled:
        out = tiled(image)
        plan = tiled.last_plan
    assert plan.mode == "tiled" and plan.tile == 256 and plan.tiles == 3 * 4
    d = np.abs(out.astype(int) - whole.astype(int))
    assert d.max() <= 3 and d.mean() < 0.05, (d.max(), d.mean())
    assert plan.measured_peak > 0


def test_tiles_without_the_shared_statistics_would_show(photo, bank, monkeypatch):
    """The control: each tile normalised by its own statistics differs from the untiled run far more."""
    import impasto.runtime.pipelines.tiled as tiled_mod

    image = _photo(photo, 520, 392)
    whole = bank(image)
    real = tiled_mod.run_tiled

    def own_stats(rgb, run, stats, *a, **k):
        return real(rgb, lambda x, s, f: run(x, s, np.ones(1, np.float32)), stats, *a, **k)

    monkeypatch.setattr("impasto.runtime.pipelines.tiled_graph.run_tiled", own_stats)
    with Stylizer.load(backend="ort-cpu", tile=256) as tiled:
        out = tiled(image)
    assert np.abs(out.astype(int) - whole.astype(int)).mean() > 0.5


def test_a_small_max_memory_tiles_the_image_and_reports_the_plan(photo, tmp_path, capsys, monkeypatch):
    # a 512 px thumbnail (1024 by default) so that a small image already tiles cheaper than it runs whole
    monkeypatch.setattr("impasto.runtime.pipelines.tiled.THUMBNAIL", 512)
    h, w = 824, 1100
    src, dst = tmp_path / "big.png", tmp_path / "out.png"
    image = _photo(photo, w, h)
    write_image(src, image)
    from impasto.runtime.builtins import MODELS_DIR

    whole, tiled = graph_cost(MODELS_DIR / "bank.onnx"), graph_cost(MODELS_DIR / "bank.tiled.onnx")
    peak = whole_peak(whole, h, w)
    budget = None
    for mib in range(peak >> 20, 0, -8):  # the largest budget under the whole run's that tiles
        if plan_image(whole, tiled, Budget(mib << 20, "test"), h, w).mode == "tiled":
            budget = mib
            break
    assert budget is not None
    assert main(["stylize", str(src), "-o", str(dst), "--max-memory", f"{budget}M", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    plan = report["images"][0]["memory"]
    assert plan["mode"] == "tiled" and plan["tiles"] >= 4 and plan["budget_mib"] == budget
    assert plan["estimated_peak_mib"] <= budget and plan["measured_peak_mib"] > 0
    out = read_image(dst)
    with Stylizer.load(backend="ort-cpu") as s:
        ref = s(image)
    d = np.abs(out.astype(int) - ref.astype(int))
    # the thumbnail's statistics shift the tone evenly (measured mean 9.7 levels at this size), never at the borders:
    # the gradient energy across the tile borders is what the untiled output has there (measured 1.02x)
    assert d.mean() < 15, d.mean()
    rows, cols = border_lines(h, plan["tile"]), border_lines(w, plan["tile"])
    assert border_energy_ratio(out, rows, cols) < 1.25 * border_energy_ratio(ref, rows, cols) + 0.1


def test_a_request_that_cannot_fit_and_has_no_bounded_path_is_refused_in_one_line(photo, tmp_path, capsys):
    src, dst = tmp_path / "photo.png", tmp_path / "out.png"
    write_image(src, _photo(photo, 400, 300))
    style = tmp_path / "style.png"
    write_image(style, _photo(photo, 64, 48))
    code = main(["stylize", str(src), "--style-image", str(style), "-o", str(dst), "--max-memory", "100M"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not dst.exists() and not list(tmp_path.glob("*.tmp*"))
    assert len(err.splitlines()) == 1 and "over the memory budget" in err and "the largest this size fits is" in err


def test_the_refusal_comes_from_the_header_before_decoding(photo, tmp_path, capsys, monkeypatch):
    src, dst = tmp_path / "photo.png", tmp_path / "out.png"
    write_image(src, _photo(photo, 400, 300))
    style = tmp_path / "style.png"
    write_image(style, _photo(photo, 64, 48))
    decoded = []
    real = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1) or real(*a))
    assert main(["stylize", str(src), "--style-image", str(style), "-o", str(dst), "--max-memory", "100M"]) == 2
    assert len(decoded) == 1  # the painting only


def test_tile_on_a_model_without_a_stats_form_is_a_user_error(tiny_model, photo, tmp_path, capsys):
    src = tmp_path / "p.png"
    write_image(src, _photo(photo, 100, 80))
    assert main(["stylize", str(src), "--model", str(tiny_model), "--tile", "256", "-o", str(tmp_path / "o.png")]) == 2
    assert "--tile: this model has no stats form" in capsys.readouterr().err
