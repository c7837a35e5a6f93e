"""Stylizer on an exported model: sizes, strength, colour preservation, bad models and inputs."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from impasto.errors import BackendUnavailableError, ImageError, InputMismatchError, ModelError, UserError
from impasto.runtime import Stylizer
from impasto.runtime.pipelines.postprocess import blend, preserve_color


@pytest.fixture
def stylizer(tiny_model):
    with Stylizer.load(tiny_model) as s:
        yield s


@pytest.mark.parametrize("shape", [(300, 451), (31, 17), (64, 64), (5, 9)])
def test_output_keeps_input_size(stylizer, photo, shape):
    img = cv2.resize(photo, shape[::-1], interpolation=cv2.INTER_AREA)
    out = stylizer(img)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_matches_a_direct_onnxruntime_run(stylizer, photo, tiny_model):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tiny_model), providers=["CPUExecutionProvider"])
    x = photo.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    ref = np.clip(np.rint(sess.run(None, {"image": x})[0][0].transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    # the Stylizer's session enables all graph optimisations: rounding may differ by one 8-bit step
    assert np.abs(stylizer(photo).astype(int) - ref).max() <= 1


def test_strength(stylizer, photo):
    full = stylizer(photo).astype(np.float32)
    np.testing.assert_array_equal(stylizer(photo, strength=0.0), photo)
    half = stylizer(photo, strength=0.5).astype(np.float32)
    assert np.abs(half - (full + photo) / 2).max() <= 1.0
    with pytest.raises(UserError, match=r"strength: expected a number in \[0, 1\], got 1.5"):
        stylizer(photo, strength=1.5)


def test_preserve_colors_keeps_the_content_chroma(stylizer, photo):
    out = stylizer(photo, preserve_colors=True)
    chroma_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)
    chroma_in = cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)
    luma_styled = cv2.cvtColor(stylizer(photo), cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    luma_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
    # away from black and white, where the RGB gamut clips chroma, the content's chroma survives exactly
    mid = (luma_out > 40) & (luma_out < 215)
    assert mid.mean() > 0.2
    assert np.abs(chroma_out - chroma_in)[mid].mean() < 1.5
    assert np.abs(luma_out - luma_styled)[mid].mean() < 1.5


def test_converts_other_layouts(stylizer, photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    assert stylizer(gray).shape == photo.shape
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(stylizer(rgba), stylizer(photo))
    assert stylizer(photo.astype(np.uint16) * 257).shape == photo.shape
    with pytest.raises(ImageError, match="expected HxW, HxWx1, HxWx3 or HxWx4"):
        stylizer(np.zeros((4, 4, 2), np.uint8))


def test_reports_provider_and_card(stylizer):
    assert stylizer.provider == "CPUExecutionProvider"
    assert stylizer.name == "tiny"
    assert stylizer.card.method == "feedforward"
    assert stylizer.describe()["provider"] == "CPUExecutionProvider"


def test_unknown_style_lists_the_built_ins():
    with pytest.raises(ModelError, match="unknown style 'no_such_style': expected one of"):
        Stylizer.load("no_such_style")


def test_unknown_backend(tiny_model):
    with pytest.raises(UserError, match="backend: expected one of"):
        Stylizer.load(tiny_model, backend="magic")


def test_unavailable_backend_is_reported(tiny_model):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA provider is available here")
    with pytest.raises(BackendUnavailableError, match="CUDAExecutionProvider"):
        Stylizer.load(tiny_model, backend="ort-cuda")


def test_wrong_graph_signature_is_rejected(tmp_path, identity_graph):
    p = tmp_path / "two_inputs.onnx"
    identity_graph(p, inputs=2)
    with pytest.raises(ModelError, match="expected one input Nx3xHxW"):
        Stylizer.load(p)


def test_model_without_metadata_warns_and_assumes_unit_range(tmp_path, photo, caplog, identity_graph):
    p = tmp_path / "identity.onnx"
    identity_graph(p)
    with caplog.at_level(logging.WARNING, logger="impasto.runtime"), Stylizer.load(p) as s:
        np.testing.assert_array_equal(s(photo), photo)
    assert "no impasto.input metadata" in caplog.text


def test_0_255_models_are_scaled(tmp_path, photo, identity_graph):
    p = tmp_path / "identity255.onnx"
    identity_graph(p, metadata={"impasto.input": '{"range": [0, 255]}'})
    with Stylizer.load(p) as s:
        assert s.input_range == 255.0
        np.testing.assert_array_equal(s(photo), photo)


def test_unreadable_metadata(tmp_path, identity_graph):
    p = tmp_path / "bad_meta.onnx"
    identity_graph(p, metadata={"impasto.input": "not json"})
    with pytest.raises(ModelError, match="unreadable impasto.input"):
        Stylizer.load(p)


def test_blend_and_preserve_color_helpers(photo):
    white = np.full_like(photo, 255)
    assert blend(white, photo, 1.0) is white
    np.testing.assert_array_equal(blend(white, photo, 0.0), photo)
    with pytest.raises(UserError):
        blend(white, photo, -0.1)
    gray = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    recolored = preserve_color(gray, photo)
    assert np.abs(recolored.astype(int) - photo.astype(int)).mean() < 3.0


def test_images_outside_an_engine_profile_are_scaled_into_it(stylizer, photo, caplog):
    """An engine's optimisation profile bounds the sizes it runs; the Stylizer fits images into it."""
    from impasto.runtime.tensorrt.profile import EngineProfile

    stylizer.backend.profiles = {"image": EngineProfile("image", (1, 3, 16, 16), (1, 3, 64, 64), (1, 3, 100, 160))}
    assert stylizer.model_size(80, 120) == (80, 120)  # inside: untouched
    with caplog.at_level(logging.WARNING, logger="impasto.runtime"):
        assert stylizer.model_size(300, 451) == (100, 150)  # too large: scaled down, aspect kept
        stylizer.model_size(300, 451)
    assert caplog.text.count("outside the engine profile") == 1  # warned once per size
    assert stylizer.model_size(8, 12) == (16, 24)  # too small: scaled up
    assert stylizer(photo).shape == photo.shape  # and resized back
    with pytest.raises(InputMismatchError, match="rebuild the engine with wider --shapes"):
        stylizer.model_size(10, 400)  # no size with this aspect fits
