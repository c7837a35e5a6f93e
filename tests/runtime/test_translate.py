"""MUNITTranslator (torch-free): direction resolution, random / reference / given codes, repeatability, errors."""

from __future__ import annotations

import numpy as np
import pytest

from impasto.errors import ImageError, ModelError, UserError
from impasto.runtime.pipelines.translate import MUNITTranslator, resolve_direction


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((45, 61, 3)) * 255).astype(np.uint8)


def test_the_stem_resolves_by_letter_or_domain_name(munit_model) -> None:
    stem = munit_model.path
    assert resolve_direction(stem, "b").name == "munit.a2b.onnx"
    assert resolve_direction(stem, "edges").name == "munit.b2a.onnx"
    assert resolve_direction(stem.with_name("munit.b2a.onnx"), None).name == "munit.b2a.onnx"
    with pytest.raises(UserError, match="domain name among \\['bags', 'edges'\\], got 'shoes'"):
        resolve_direction(stem, "shoes")
    with pytest.raises(UserError, match="--to: expected the target domain"):
        resolve_direction(stem, None)
    with pytest.raises(ModelError, match="no such files"):
        resolve_direction(stem.with_name("other.onnx"), "b")
    with pytest.raises(UserError, match="translates 'edges' -> 'bags'"):
        MUNITTranslator.load(stem.with_name("munit.a2b.onnx"), to="a", backend="ort-cpu")


def test_random_styles_are_repeatable_and_distinct(munit_model, image) -> None:
    with MUNITTranslator.load(munit_model.path, to="bags", backend="ort-cpu") as model:
        first = model.run(image, random=3, seed=11)
        again = model.run(image, random=3, seed=11)
        other = model.run(image, random=3, seed=12)
        drawn = model.run(image)
    assert len(first["images"]) == 3 and first["images"][0].shape == (45, 61, 3) and first["seed"] == 11
    assert all(np.array_equal(a, b) for a, b in zip(first["images"], again["images"]))
    assert np.abs(first["images"][0].astype(int) - first["images"][1]).max() > 0
    assert first["codes"] != other["codes"]
    np.testing.assert_allclose(first["codes"], np.random.default_rng(11).standard_normal((3, 3)), atol=1e-5)
    assert len(drawn["images"]) == 1 and isinstance(drawn["seed"], int)  # a fresh seed, reported


def test_reference_style_equals_its_code_given_directly(munit_model, image) -> None:
    rng = np.random.default_rng(1)
    ref = (rng.random((40, 30, 3)) * 255).astype(np.uint8)
    with MUNITTranslator.load(munit_model.path, to="b", backend="ort-cpu") as model:
        by_ref = model.run(image, reference=ref)
        by_code = model.run(image, codes=np.array([by_ref["reference_style"]], np.float32))
    assert by_ref["seed"] is None and by_ref["codes"] == [by_ref["reference_style"]]
    assert np.abs(by_ref["images"][0].astype(int) - by_code["images"][0]).max() <= 1


def test_bad_requests_are_one_line_errors(munit_model, image) -> None:
    with MUNITTranslator.load(munit_model.path, to="b", backend="ort-cpu") as model:
        with pytest.raises(UserError, match="got several"):
            model.run(image, random=2, reference=image)
        with pytest.raises(UserError, match="--random: expected an integer in \\[1, 64\\], got 0"):
            model.run(image, random=0)
        with pytest.raises(UserError, match="shape \\(1..64, 3\\), got shape \\[2, 4\\]"):
            model.run(image, codes=np.zeros((2, 4), np.float32))
        with pytest.raises(UserError, match="--seed"):
            model.run(image, seed=-1)
        with pytest.raises(ImageError, match="too small"):
            model.run(image[:10])
        with pytest.raises(ImageError, match="reference image 12x40: too small"):
            model.run(image, reference=image[:40, :12])


def test_a_graph_of_another_method_is_refused(tiny_model) -> None:
    with pytest.raises(ModelError, match="expected a munit graph"):
        MUNITTranslator.load(tiny_model, backend="ort-cpu")
