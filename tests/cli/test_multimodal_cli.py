"""``impasto train multimodal``, ``export`` of an MT-Net and ``stylize --scale``: flags and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for i in range(2):
        write_image(tmp_path / "photos" / f"p{i}.png", rng.integers(0, 256, (72, 80, 3), dtype=np.uint8))
    write_image(tmp_path / "style.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    return tmp_path


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "multimodal", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--style", "--data", "--loss-crop", "--scale-weights", "--style-scale", "--preset", "--resume"):
        assert flag in text


@pytest.mark.parametrize("bad", ["1,2", "1,x,2", "1,-1,1"])
def test_bad_scale_weights_exit_2(data, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "multimodal", "--style", str(data / "style.png"), "--data", str(data / "photos"),
              "-o", str(data / "m.pt"), "--scale-weights", bad])
    assert exc.value.code == 2
    assert "--scale-weights" in capsys.readouterr().err


def test_missing_inputs_exit_2_with_one_line(data, capsys):
    args = ["train", "multimodal", "--data", str(data / "photos"), "-o", str(data / "m.pt")]
    assert main([*args, "--style", str(data / "nope.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--style: expected an image file" in err
    assert main(["train", "multimodal", "--style", str(data / "style.png"), "--data", str(data / "nowhere"),
                 "-o", str(data / "m.pt")]) == 2
    assert "--data: expected a folder" in capsys.readouterr().err
    assert main([*args, "--style", str(data / "style.png"), "--size", "66"]) == 2
    assert "divisible by 4" in capsys.readouterr().err
    assert not (data / "m.pt").exists()


def test_one_iteration_json_then_export_refuses_fp16(data, vgg_weights, capsys):
    pytest.importorskip("torch")
    out = data / "m.pt"
    assert main(["train", "multimodal", "--style", str(data / "style.png"), "--data", str(data / "photos"),
                 "-o", str(out), "--iters", "1", "--size", "64", "--loss-crop", "32", "--threads", "1",
                 "--vgg-weights", vgg_weights, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["iterations"] == 1 and out.is_file()
    assert set(summary["final_losses"]) >= {"style_256", "style_512", "style_1024"}
    # the export recognises the checkpoint kind (and refuses fp16 before any work)
    assert main(["export", str(out), "-o", str(data / "m.onnx"), "--fp16"]) == 2
    assert "an MT-Net exports in fp32 only" in capsys.readouterr().err
    assert not (data / "m.onnx").exists()


def test_stylize_scale(multiscale_model, photo, tmp_path, capsys):
    src = tmp_path / "in.png"
    write_image(src, photo)
    out = tmp_path / "out.png"
    assert main(["stylize", str(src), "--model", str(multiscale_model), "--scale", "512", "-o", str(out)]) == 0
    assert read_image(out).shape == photo.shape
    capsys.readouterr()
    bad = tmp_path / "bad.png"
    assert main(["stylize", str(src), "--model", str(multiscale_model), "--scale", "300", "-o", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "expected one of 256, 512, 1024" in err and err.count("\n") == 1 and not bad.exists()


def test_stylize_scale_on_single_output_model_exit_2(tiny_model, photo, tmp_path, capsys):
    src = tmp_path / "in.png"
    write_image(src, photo)
    assert main(["stylize", str(src), "--model", str(tiny_model), "--scale", "256", "-o", str(tmp_path / "o.png")]) == 2
    assert "single output" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
