"""``impasto bench``: size parsing, statistics, rows per backend and size, CLI output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.errors import UserError
from impasto.runtime.bench import markdown_table, parse_sizes, run_bench, summarize, synthetic_image, timings_ms


def test_parse_sizes():
    assert parse_sizes("256, 512,1920x1080") == [(256, 256), (512, 512), (1080, 1920)]
    for bad in ("", "0", "12x", "axb", "1x2x3", "-5"):
        with pytest.raises(UserError, match="expected N or WxH"):
            parse_sizes(bad)


def test_summarize():
    s = summarize([4.0, 1.0, 2.0, 3.0, 100.0])
    assert s["median_ms"] == 3.0 and s["min_ms"] == 1.0
    assert s["p95_ms"] == pytest.approx(80.8)  # position 3.8 of 4: 4 + 0.8 * (100 - 4)
    assert s["fps"] == pytest.approx(1000 / 3)


def test_timings_count_only_timed_runs():
    calls = []
    ms = timings_ms(lambda: calls.append(1), runs=4, warmup=2)
    assert len(calls) == 6 and len(ms) == 4 and all(t >= 0 for t in ms)


def test_synthetic_image_is_deterministic():
    a, b = synthetic_image(30, 41), synthetic_image(30, 41)
    assert a.shape == (30, 41, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert a.std() > 20  # not a flat picture


def test_run_bench_rows(tiny_model):
    rows, sel = run_bench(str(tiny_model), ["ort-cpu", "auto"], [(32, 48), (20, 20)], runs=3, warmup=1)
    assert [(r.backend, r.height, r.width) for r in rows] == [
        ("ort-cpu", 32, 48), ("ort-cpu", 20, 20), ("ort-cpu", 32, 48), ("ort-cpu", 20, 20)]
    assert all(r.min_ms <= r.median_ms <= r.p95_ms and r.fps > 0 and r.runs == 3 for r in rows)
    assert sel["auto"]["requested"] == "auto" and sel["ort-cpu"]["fallbacks"] == []
    table = markdown_table(rows)
    assert table.count("\n") == 5 and "| ort-cpu | CPUExecutionProvider | 48x32 |" in table
    assert "| auto → ort-cpu | CPUExecutionProvider | 20x20 |" in table
    assert [r.requested for r in rows] == ["ort-cpu", "ort-cpu", "auto", "auto"]
    with pytest.raises(UserError, match="runs >= 1"):
        run_bench(str(tiny_model), ["ort-cpu"], [(8, 8)], runs=0)


def test_cli_json(tiny_model, capsys):
    assert main(["bench", str(tiny_model), "--backend", "ort-cpu", "--sizes", "24,40x30", "--runs", "2",
                 "--warmup", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["width"], r["height"]) for r in out["rows"]] == [(24, 24), (40, 30)]
    assert out["env"]["batch"] == 1 and out["backends"]["ort-cpu"]["chosen"] == "ort-cpu"


def test_cli_errors(tiny_model, capsys):
    assert main(["bench", str(tiny_model), "--backend", "ort-cpu,warp-drive"]) == 2
    assert "--backend: expected names from" in capsys.readouterr().err
    assert main(["bench", str(tiny_model), "--style", "x"]) == 2
    assert "not both" in capsys.readouterr().err
