"""MUNIT image-to-image translation (contract ``translate``; torch-free).

Example:
    >>> from impasto.runtime.pipelines.translate import MUNITTranslator
    >>> with MUNITTranslator.load("munit.onnx", to="b") as model:     # opens munit.a2b.onnx
    ...     images = model.run(edges_rgb, random=4, seed=0)["images"]    # four handbags
    ...     image = model.run(edges_rgb, reference=bag_rgb)["images"][0]  # the reference's style

A MUNIT model is two graphs with a shared stem (:func:`impasto.contracts.munit_graph_path`):
``munit.a2b.onnx`` and ``munit.b2a.onnx``. Each holds one direction: the source domain's
content encoder, the target domain's style encoder (for a reference) and its decoder.

Convention:
    Images are ``HxWx3`` uint8 RGB (other layouts converted as in
    :mod:`impasto.runtime.io.images`); each output has the input's size. Random styles are
    style codes drawn from the prior ``N(0, I)`` with numpy ``default_rng(seed)`` (one
    ``codes x style_dim`` draw: a seed repeats a run). A reference image is downscaled (never
    upscaled) so its longest side is at most ``max(image's longest side, 512)``. Both images
    need the graph's ``min_side`` on each side. Codes run ``batch`` at a time.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from impasto.contracts import MUNIT_DIRECTIONS, TRANSLATE, munit_graph_path
from impasto.errors import ModelError, UserError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import Selection
from impasto.runtime.io.images import to_rgb8
from impasto.runtime.onnx_metadata import read_onnx_metadata
from impasto.runtime.pipelines.arbitrary import fit_style
from impasto.runtime.pipelines.base import Pipeline, check_min_side
from impasto.runtime.pipelines.tensors import image_to_nchw, nchw_to_image

#: The most random styles one run draws.
MAX_CODES = 64
#: Style codes decoded per graph call.
BATCH = 4
HOW = "impasto export munit CKPT -o munit.onnx, or impasto convert munit GEN.pt --config CONFIG.yaml -o munit.onnx"


def read_settings(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``impasto.munit`` metadata of a graph file, or None where it has none (read from the file, no session)."""
    try:
        return json.loads(read_onnx_metadata(path)["impasto.munit"])
    except (ModelError, KeyError, ValueError):  # not a graph, or not a MUNIT graph: the caller says what it expected
        return None


def resolve_direction(model: str | os.PathLike, to: str | None) -> Path:
    """The graph file of the direction ending in domain ``to`` (a letter or a domain's name).

    ``model`` is a stem (``munit.onnx``; the graphs are ``munit.a2b.onnx`` / ``munit.b2a.onnx``)
    or one direction's file (then ``to``, if given, must be its target; checked on load).

    Raises:
        ModelError: no such graphs, or ``to`` naming no domain of the model.
    """
    path = Path(model).expanduser()
    if path.is_file():
        return path
    files = {t: munit_graph_path(path, s, t) for s, t in MUNIT_DIRECTIONS}
    existing = [p for p in files.values() if p.is_file()]
    if not existing:
        raise ModelError(f"--model: expected a MUNIT graph or the stem of {files['b'].name} and {files['a'].name} "
                         f"({HOW}), got {str(model)!r} (no such files)")
    if to is None:
        raise UserError(f"--to: expected the target domain ('a' or 'b') for the MUNIT model {str(model)!r}")
    letter = to
    if to not in files:
        settings = read_settings(existing[0]) or {}
        names = settings.get("domains") or {}
        letter = next((k for k, v in names.items() if v == to), "")
        if letter not in files:
            raise UserError(f"--to: expected 'a', 'b' or a domain name among {sorted(names.values())}, got {to!r}")
    if not files[letter].is_file():
        raise ModelError(f"--model: expected {str(files[letter])!r} for the translation to {to!r} (no such file)")
    return files[letter]


class MUNITTranslator(Pipeline):
    """One direction of a MUNIT model, ready to run; use :meth:`load`."""

    def __init__(self, backend: Backend, selection: Selection | None = None, to: str | None = None) -> None:
        super().__init__(backend, selection)
        self._require_method(("munit",), HOW)
        self._require_names(TRANSLATE.input_names, TRANSLATE.output_names)
        self.settings = self._json_metadata("impasto.munit", ints=("style_dim", "min_side"))
        self.style_dim = int(self.settings["style_dim"])
        self.min_side = int(self.settings["min_side"])
        self.source, self.target = str(self.settings.get("source")), str(self.settings.get("target"))
        self.domains: dict[str, str] = dict(self.settings.get("domains") or {"a": "a", "b": "b"})
        if to is not None and to not in (self.target, self.domains.get(self.target)):
            raise UserError(f"--to: {self.where} translates {self.domains.get(self.source)!r} -> "
                            f"{self.domains.get(self.target)!r} (to {self.target!r}), got --to {to!r}")

    @classmethod
    def load(cls, model: str | os.PathLike, *, to: str | None = None, backend: str = "auto",
             threads: int = 0) -> MUNITTranslator:
        """Open the direction of ``model`` that ends in domain ``to`` (see :func:`resolve_direction`).

        Raises:
            ModelError: no such graph, or not a MUNIT graph.
            UserError: ``to`` naming no domain of the model, or another direction than the file's.
            BackendUnavailableError: the backend cannot run here.
        """
        return cls.from_file(resolve_direction(model, to), backend, threads=threads, to=to)

    def random_codes(self, count: int, seed: int) -> np.ndarray:
        """``count x style_dim`` float32 codes from ``N(0, I)`` (numpy ``default_rng(seed)``)."""
        return np.random.default_rng(seed).standard_normal((count, self.style_dim)).astype(np.float32)

    def run(self, image: np.ndarray, *, random: int | None = None, seed: int | None = None,
            reference: np.ndarray | None = None, codes: np.ndarray | None = None,
            progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Translate ``image`` with random styles, a reference's style, or given codes (exactly one).

        Args:
            random: how many random styles (1..:data:`MAX_CODES`); the default with nothing else given: 1.
            seed: the random styles' seed; default a fresh one (reported, so the run can be repeated).
            reference: an image of the target domain whose style code is used.
            codes: ``N x style_dim`` style codes.
            progress: called with the number of codes done after each graph call.

        Returns:
            ``{"images": [HxWx3 uint8 per code], "codes": [[float] per code], "seed": int or None,
            "reference_style": [float] or None, "size": [h, w], "seconds": {"prepare", "graph", "total"}}``.

        Raises:
            UserError: more than one style source, a bad count or seed, codes of the wrong shape.
            ImageError: an image too small.
            ModelError: an output of the wrong shape or range.
            BackendRuntimeError: non-finite values.
        """
        t0 = time.perf_counter()
        given = sum(x is not None for x in (random, reference, codes))
        if given > 1:
            raise UserError("translate: expected one of random styles, a reference or style codes, got several")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise UserError(f"--seed: expected a non-negative integer, got {seed!r}")
        image = to_rgb8(image, name="image")
        check_min_side(image, self.min_side, "input")
        ref_feed = np.zeros((1, 3, self.min_side, self.min_side), np.float32)
        weight = 0.0
        if reference is not None:
            ref = fit_style(to_rgb8(reference, name="reference"), image.shape)
            check_min_side(ref, self.min_side, "reference")
            ref_feed, weight, seed = image_to_nchw(ref), 1.0, None
            codes = np.zeros((1, self.style_dim), np.float32)
        elif codes is not None:
            codes = np.asarray(codes, dtype=np.float32)
            if codes.ndim != 2 or codes.shape[1] != self.style_dim or not 1 <= codes.shape[0] <= MAX_CODES \
                    or not np.isfinite(codes).all():
                raise UserError(f"translate: expected finite style codes of shape (1..{MAX_CODES}, {self.style_dim}), "
                                f"got shape {list(codes.shape)}")
            seed = None
        else:
            count = 1 if random is None else random
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_CODES:
                raise UserError(f"--random: expected an integer in [1, {MAX_CODES}], got {random!r}")
            seed = secrets.randbelow(2 ** 31) if seed is None else int(seed)
            codes = self.random_codes(int(count), seed)
        feed = {"image": image_to_nchw(image), "reference": ref_feed,
                "reference_weight": np.array([weight], np.float32)}
        t1 = time.perf_counter()
        images: list[np.ndarray] = []
        used: list[np.ndarray] = []
        ref_style = None
        for start in range(0, len(codes), BATCH):
            out = self._run_checked({**feed, "style": codes[start:start + BATCH]}, image,
                                    {"translated": (3, image.shape[:2], (0.0, 1.0))})
            translated, ref_style = out["translated"], out["reference_style"][0]
            images += [nchw_to_image(translated[i:i + 1]) for i in range(translated.shape[0])]
            used += [codes[start + i] + weight * ref_style for i in range(translated.shape[0])]
            if progress is not None:
                progress(len(images))
        t2 = time.perf_counter()
        return {"images": images, "codes": [[round(float(v), 6) for v in c] for c in used], "seed": seed,
                "reference_style": None if reference is None else [round(float(v), 6) for v in ref_style],
                "size": list(image.shape[:2]),
                "seconds": {"prepare": round(t1 - t0, 4), "graph": round(t2 - t1, 4), "total": round(t2 - t0, 4)}}

    def describe(self) -> dict[str, Any]:
        return {"method": "munit", "source": self.domains.get(self.source), "target": self.domains.get(self.target),
                "style_dim": self.style_dim, **super().describe()}
