"""``impasto train multimodal``, ``export`` of an MT-Net and ``stylize --scale``: flags and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impasto.cli.main import main
from impasto.runtime.io.images import read_image, write_image


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


def _expected_scale_output(photo: np.ndarray, downsample: int) -> np.ndarray:
    """What the fixture's output at ``downsample`` (1, 2 or 4) becomes on the CLI: ``1 - image``, box-averaged
    ``downsample`` x ``downsample`` (ceil sizes), rounded to uint8 and resized back to the photo with cv2's cubic."""
    import cv2

    y = 1.0 - photo.astype(np.float32) / 255.0
    h, w = photo.shape[:2]
    for _ in range(downsample.bit_length() - 1):  # one 2x2 ceil-mode average per halving, as in the graph
        hh, ww = -(-y.shape[0] // 2) * 2, -(-y.shape[1] // 2) * 2
        padded = np.full((hh, ww, 3), np.nan, np.float32)
        padded[:y.shape[0], :y.shape[1]] = y
        y = np.nanmean(padded.reshape(hh // 2, 2, ww // 2, 2, 3), axis=(1, 3))
    small = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    return small if small.shape[:2] == (h, w) else cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def test_stylize_scale_returns_the_output_asked_for(multiscale_model, photo, tmp_path, capsys):
    """Each --scale gives its own output back: 1 - image at 1024, its 2x2 average at 512, its 4x4 average at 256."""
    src = tmp_path / "in.png"
    write_image(src, photo)
    expected = {scale: _expected_scale_output(photo, down).astype(int)
                for scale, down in ((256, 4), (512, 2), (1024, 1))}
    # the three are far apart, so only the right one can match
    assert min(np.abs(expected[a] - expected[b]).mean() for a, b in ((256, 512), (512, 1024), (256, 1024))) > 2
    for scale in (256, 512, 1024):
        out = tmp_path / f"out_{scale}.png"
        assert main(["stylize", str(src), "--model", str(multiscale_model), "--scale", str(scale), "-o", str(out)]) == 0
        got = read_image(out).astype(int)
        assert got.shape == photo.shape
        diff = np.abs(got - expected[scale])
        # averages of k/255 values often sit exactly halfway between two levels, so float32 sums taken in another
        # order round some pixels (up to 5 %) the other way; the cubic resize can stretch that to 2 levels
        assert diff.max() <= 2 and diff.mean() < 0.2, (scale, diff.max(), diff.mean())
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
