"""``impasto.runtime.pipelines.base``: the lifecycle and graph checks every front-end shares (hand-built graphs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impasto.errors import ModelError
from impasto.runtime.pipelines import base
from impasto.runtime.pipelines.base import Pipeline
from impasto.runtime.pipelines.photoreal import WCTStylizer
from impasto.runtime.pipelines.stylizer import Stylizer
from impasto.runtime.pipelines.tensors import image_to_nchw, nchw_to_image
from impasto.runtime.pipelines.warp import Warper


@pytest.fixture()
def spy_backends(monkeypatch) -> list:
    """Every backend :meth:`Pipeline.from_file` opens."""
    opened = []
    real = base.open_backend

    def spy(*args, **kwargs):
        backend, selection = real(*args, **kwargs)
        opened.append(backend)
        return backend, selection

    monkeypatch.setattr(base, "open_backend", spy)
    return opened


def test_a_front_end_is_a_pipeline_and_closes_with_its_block(tmp_path, spy_backends, identity_graph):
    path = identity_graph(tmp_path / "id.onnx", metadata={"impasto.description": "identity"})
    image = (np.arange(5 * 7 * 3) % 256).astype(np.uint8).reshape(5, 7, 3)
    with Stylizer.load(path, backend="ort-cpu") as stylizer:
        assert isinstance(stylizer, Pipeline) and stylizer.backend is spy_backends[0] and stylizer.backend.is_open
        assert stylizer.provider == "CPUExecutionProvider" and stylizer.metadata["impasto.description"] == "identity"
        assert stylizer.describe() == {"style": "id", "model": str(path), "provider": "CPUExecutionProvider",
                                       "backend": {"requested": "ort-cpu", "chosen": "ort-cpu", "fallbacks": []},
                                       "description": "identity"}
        np.testing.assert_array_equal(stylizer(image), image)
    assert not spy_backends[0].is_open


@pytest.mark.parametrize("load, metadata, message", [
    (lambda p: Warper.load(p, backend="ort-cpu"), {"impasto.method": "bank"},
     r"expected a warpnet graph \(impasto export warpnet\), got impasto.method 'bank'"),
    (lambda p: Warper.load(p, backend="ort-cpu"), {"impasto.method": "warpnet"},
     r"expected inputs \['content', 'guide'\] and outputs \['field', 'warped'\], got \['x0'\] and \['y'\]"),
    (lambda p: WCTStylizer.load(p, method="wct", backend="ort-cpu"), {"impasto.method": ""},
     r"expected a photowct or wct graph \(impasto export photowct\|wct\), got impasto.method ''"),
    (lambda p: WCTStylizer.load(p, method="wct", backend="ort-cpu"), {"impasto.method": "photowct"},
     "expected a wct graph, got a photowct graph"),
    (lambda p: WCTStylizer.load(p, method="wct", backend="ort-cpu"), {"impasto.method": "wct"},
     r"expected inputs \['content', 'style', 'content_mask', 'style_mask', 'alpha'\], got \['x0'\]"),
])
def test_a_refused_graph_says_why_and_closes_its_backend(tmp_path, spy_backends, identity_graph, load, metadata,
                                                         message):
    path = identity_graph(tmp_path / "g.onnx", metadata=metadata)
    with pytest.raises(ModelError, match=f"^model '{path}': {message}"):
        load(path)
    assert len(spy_backends) == 1 and not spy_backends[0].is_open


@pytest.mark.parametrize("text", [None, "not json", "[32]", json.dumps({"min_side": 16}), json.dumps({"size": "x"})])
def test_json_metadata_must_be_an_object_with_its_integers(tmp_path, identity_graph, text):
    meta = {"impasto.method": "warpnet"} if text is None else {"impasto.method": "warpnet", "impasto.warpnet": text}
    with Stylizer.load(identity_graph(tmp_path / "g.onnx", metadata=meta), backend="ort-cpu") as pipeline:
        with pytest.raises(ModelError, match="missing or unreadable impasto.warpnet metadata"):
            pipeline._json_metadata("impasto.warpnet", ints=("size",))
    with Stylizer.load(identity_graph(tmp_path / "ok.onnx", metadata={"impasto.warpnet": '{"size": "32"}'}),
                       backend="ort-cpu") as pipeline:
        assert pipeline._json_metadata("impasto.warpnet", ints=("size",)) == {"size": "32"}


def test_image_tensor_round_trip_in_both_value_ranges():
    rgb = (np.arange(4 * 6 * 3) * 7 % 256).astype(np.uint8).reshape(4, 6, 3)
    x = image_to_nchw(rgb)
    assert x.dtype == np.float32 and x.shape == (1, 3, 4, 6) and x.flags.c_contiguous
    np.testing.assert_allclose(x[0, 1], rgb[..., 1] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(nchw_to_image(x), rgb)
    x255 = image_to_nchw(rgb, 255.0)
    np.testing.assert_allclose(x255[0].transpose(1, 2, 0), rgb, rtol=1e-6)
    np.testing.assert_array_equal(nchw_to_image(x255.astype(np.float16), 255.0), rgb)  # fp16 outputs too
    assert nchw_to_image(np.array([[[[-0.5]], [[0.5]], [[2.0]]]], np.float32)).tolist() == [[[0, 128, 255]]]
