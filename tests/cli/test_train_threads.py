"""``impasto train METHOD --threads N``: one flag for every trainer, recorded in the model card."""

from __future__ import annotations

import json

import pytest

from impasto.cli.main import main

torch = pytest.importorskip("torch")


@pytest.fixture
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("method", ["feedforward", "decoder", "bank", "warpnet", "multimodal", "munit"])
def test_every_trainer_has_the_threads_flag(method, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", method, "--help"])
    assert exc.value.code == 0 and "--threads" in capsys.readouterr().out


def test_negative_threads_is_one_line_exit_2_and_writes_nothing(data, capsys):
    out = data / "ff.pt"
    assert main(["train", "feedforward", "--style", str(data / "style.png"), "--data", str(data / "photos"),
                 "-o", str(out), "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads: expected an integer >= 0, got -1" in err
    assert not out.exists()


def test_feedforward_runs_on_the_threads_asked_for(data, vgg_weights, capsys, keep_torch_threads):
    out = data / "ff.pt"
    assert main(["train", "feedforward", "--style", str(data / "style.png"), "--data", str(data / "photos"),
                 "-o", str(out), "--iters", "1", "--size", "32", "--batch", "1", "--preset", "fast", "--threads",
                 "1", "--vgg-weights", vgg_weights, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["iterations"] == 1 and torch.get_num_threads() == 1
    card = torch.load(out, weights_only=True)["card"]
    assert card["hardware"].endswith("(1 torch threads)")
