"""The one list of built-in method graphs (torch-free): lookup, missing files, cards, the pipelines' use of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import load_module

from impasto.errors import ModelError
from impasto.runtime import builtin_graphs
from impasto.runtime.builtin_graphs import (
    BUILTIN_GRAPHS,
    builtin_graph,
    builtin_graph_cards,
    card_summary,
    describe_builtin_graph,
    require_builtin_graph,
)
from impasto.runtime.pipelines import arbitrary, photoreal, warp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vgg16_dir(tmp_path, monkeypatch) -> Path:
    """An empty VGG16 folder the built-in lookup reads instead of the package's."""
    d = tmp_path / "vgg16"
    d.mkdir()
    monkeypatch.setattr(builtin_graphs, "VGG16_DIR", d)
    return d


def test_the_list_names_every_method_graph_and_its_folder():
    assert list(BUILTIN_GRAPHS) == ["microast", "wct", "photowct", "warpnet"]
    assert BUILTIN_GRAPHS["warpnet"].path == builtin_graphs.VGG16_DIR / "warpnet.onnx"
    assert BUILTIN_GRAPHS["microast"].path == builtin_graphs.ARBITRARY_DIR / "microast.onnx"
    with pytest.raises(ModelError, match="expected one of .*'warpnet'.*got 'nope'"):
        builtin_graph("nope")


def test_a_missing_graph_is_none_and_its_error_names_the_file_and_the_export(vgg16_dir):
    for name in ("wct", "photowct", "warpnet"):
        assert builtin_graph(name) is None
        with pytest.raises(ModelError) as e:
            require_builtin_graph(name)
        msg = str(e.value)
        assert "\n" not in msg and f"no built-in {name} graph is installed" in msg
        assert repr(str(vgg16_dir / f"{name}.onnx")) in msg and f"impasto export {name}" in msg
    # every pipeline goes through the list: the same message, not its own
    with pytest.raises(ModelError, match="impasto export wct DECODER.pt .*--kind artistic"):
        photoreal.resolve_graph(None, "wct")
    with pytest.raises(ModelError, match="impasto export warpnet CKPT .*impasto train warpnet"):
        warp.resolve_graph(None)
    assert arbitrary.resolve_graph(None) == BUILTIN_GRAPHS["microast"].path  # its own folder is untouched


def test_cards_report_missing_unreadable_and_installed_graphs(vgg16_dir, identity_graph):
    card = {"relu2_1": {"data": "photos", "iterations": 7, "heldout_psnr_db": 21.5, "command": "x"}}
    identity_graph(vgg16_dir / "wct.onnx", metadata={"impasto.method": "wct", "impasto.description": "tiny wct",
                                                     "impasto.card": json.dumps(card)})
    (vgg16_dir / "warpnet.onnx").write_bytes(b"not an onnx file")
    cards = {c["name"]: c for c in builtin_graph_cards()}
    assert list(cards) == list(BUILTIN_GRAPHS)
    wct = cards["wct"]
    assert wct["installed"] and wct["method"] == "wct" and wct["description"] == "tiny wct"
    assert wct["card"] == card and wct["summary"] == {"relu2_1": {"data": "photos", "iterations": 7,
                                                                  "heldout_psnr_db": 21.5}}
    assert wct["licence"] == builtin_graphs.VGG16_LICENCE and wct["command"].endswith("--method wct")
    assert cards["warpnet"]["installed"] and cards["warpnet"]["error"].startswith("model ")  # listed, not crashed on
    photo = cards["photowct"]
    assert not photo["installed"] and "impasto export photowct" in photo["build"] and photo["card"] == {}
    microast = cards["microast"]  # the shipped one: its licence comes from its card
    assert microast["installed"] and microast["licence"] == "MIT, Copyright (c) 2022 Zhizhong Wang"


def test_card_summary_and_a_stated_licence(vgg16_dir, identity_graph):
    assert card_summary({"iterations": 3, "heldout_epe_px": 1.2, "holdout": ["a.jpg"], "command": "c"}) == {
        "iterations": 3, "heldout_epe_px": 1.2}
    identity_graph(vgg16_dir / "photowct.onnx", metadata={"impasto.card": json.dumps({"license": "CC0"})})
    assert describe_builtin_graph(BUILTIN_GRAPHS["photowct"])["licence"] == "CC0"


def test_warper_without_a_model_runs_the_builtin_graph(vgg16_dir, photo):
    """``Warper.load()`` opens ``VGG16_DIR/warpnet.onnx``: the same pixels as loading that file by path."""
    write_shift_graph = load_module(ROOT / "tests" / "runtime" / "test_warp.py", "_warp_graph").write_shift_graph
    path = write_shift_graph(vgg16_dir / "warpnet.onnx", shift_x=0.1)
    content, guide = photo[:96, :128], photo[100:196, 100:228]
    with warp.Warper.load() as builtin, warp.Warper.load(path) as explicit:
        assert Path(builtin.backend.model_path) == path
        a, b = builtin(content, guide), explicit(content, guide)
    assert np.array_equal(a, b)
    assert np.abs(a[:, :100].astype(int) - content[:, 6:106].astype(int)).mean() < 3  # +0.1 in x = 6.4 px
