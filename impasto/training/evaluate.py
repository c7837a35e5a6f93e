"""``impasto eval``: run style models on content photos and score them against paintings.

What "a model" is (one ``--model`` each, one row of the table each):

- ``builtin``: every built-in style, each one row, scored against the painting it was
  trained on (the bank's card names it; found by file name in ``--style DIR``);
- a built-in style name (``starry_night``): that style, likewise;
- ``microast`` / ``photowct``: the built-in arbitrary-style / photorealistic graph, which
  takes the painting as an input: scored against every painting of ``--style``;
- ``PATH.onnx``: a graph of any pipeline the runtime runs: an arbitrary-style
  (``microast``) or WCT graph takes the painting like the keywords above; any other is a
  fixed-style model (a bank runs its default style), scored against the painting its card
  names (``style_image``) when ``--style`` is a folder, else against the one ``--style`` file.

``--outputs DIR`` scores images made elsewhere: one row per folder, each file matched to
the content photo whose stem starts its name (``photo.jpg`` -> ``photo_starry_night.png``,
``impasto stylize``'s naming) and to the painting named by the rest of its stem (a painting's
stem or a built-in style's name) or the one ``--style`` file.

Convention:
    Images are ``HxWx3`` uint8 RGB. Models run on the content at
    :data:`~impasto.training.metrics.EVAL_SIDE` px longest side; seconds per image is the
    model call alone (median over its calls), not the scoring.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import UserError
from impasto.runtime.io.images import IMAGE_SUFFIXES, read_image
from impasto.training.metrics import Judge

#: Keywords for the built-in graphs that take the painting as an input.
PAINTING_GRAPHS = ("microast", "photowct")
#: Runs the whole built-in bank, one row per style.
ALL_BUILTINS = "builtin"
#: ONNX ``impasto.method`` values whose graphs take the painting as an input, by the runtime class that runs them.
_ARBITRARY_METHODS, _WCT_METHODS = ("microast",), ("wct", "photowct")


@dataclass(frozen=True)
class ModelSpec:
    """One row of the table: what to run, and which painting it belongs to.

    Attributes:
        label: the row's name.
        takes_painting: the model takes the painting as an input (scored against every painting).
        source: a built-in style name, a keyword of :data:`PAINTING_GRAPHS`, or a graph path.
        painting: file name of the painting a fixed-style model was trained on ("" if unknown).
        method: the runtime method for graphs that take the painting (``microast``, ``wct``, ``photowct``).
    """

    label: str
    takes_painting: bool
    source: str
    painting: str = ""
    method: str = ""


def image_files(folder: Path, what: str) -> list[Path]:
    """The images directly in ``folder``, sorted; a one-line error when there are none."""
    if not folder.is_dir():
        raise UserError(f"{what}: expected a folder of images, got {str(folder)!r} (no such folder)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"{what}: expected images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {str(folder)!r}, got none")
    return files


def parse_models(specs: list[str]) -> list[ModelSpec]:
    """``--model`` values -> rows (see the module docstring); a one-line error for anything else."""
    from impasto.runtime.builtins import builtin_styles, read_metadata

    builtins = builtin_styles()
    rows: list[ModelSpec] = []
    for spec in specs:
        if spec == ALL_BUILTINS:
            rows += [ModelSpec(s.name, False, s.name, s.source) for s in builtins.values()]
        elif spec in builtins:
            rows.append(ModelSpec(spec, False, spec, builtins[spec].source))
        elif spec in PAINTING_GRAPHS:
            rows.append(ModelSpec(spec, True, spec, method=spec))
        elif spec.lower().endswith(".onnx"):
            path = Path(spec)
            if not path.is_file():
                raise UserError(f"--model {spec}: expected an .onnx graph, got no such file")
            meta = read_metadata(path)
            method = meta.get("impasto.method", "")
            if method in _ARBITRARY_METHODS + _WCT_METHODS:
                rows.append(ModelSpec(path.stem, True, str(path), method=method))
            else:
                from impasto.runtime.builtins import ModelCard

                painting = str(ModelCard.from_metadata(path, meta).card.get("style_image", ""))
                rows.append(ModelSpec(path.stem, False, str(path), Path(painting).name if painting else ""))
        else:
            raise UserError(f"--model {spec}: expected {ALL_BUILTINS!r}, a built-in style ({', '.join(builtins)}), "
                            f"{' or '.join(map(repr, PAINTING_GRAPHS))}, or an .onnx graph")
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        raise UserError(f"--model: expected each model once, got {sorted({x for x in labels if labels.count(x) > 1})} "
                        "twice")
    return rows


def paintings_for(spec: ModelSpec, paintings: list[Path]) -> list[Path]:
    """The paintings ``spec`` is scored against (see the module docstring)."""
    if spec.takes_painting or len(paintings) == 1:
        return paintings
    found = [p for p in paintings if spec.painting and (p.name == spec.painting or p.stem == Path(spec.painting).stem)]
    if not found:
        want = f"its painting {spec.painting!r}" if spec.painting else "a painting (its card names none)"
        raise UserError(f"--model {spec.label}: expected {want} in --style, got {[p.name for p in paintings]}; "
                        "pass --style PAINTING to score it against one painting")
    return found[:1]


class Renderer:
    """Opens each model file once and renders ``(content, painting) -> output``; a context manager."""

    def __init__(self, backend: str = "auto") -> None:
        self.backend = backend
        self._stack = ExitStack()
        self._open: dict[tuple[str, str], Any] = {}

    def _model(self, spec: ModelSpec) -> Any:
        from impasto.runtime.builtins import builtin_styles

        if spec.takes_painting:
            key = (spec.method, "" if spec.source in PAINTING_GRAPHS else spec.source)
        else:
            builtin = builtin_styles().get(spec.source)
            key = ("style", str(builtin.path) if builtin else spec.source)
        if key not in self._open:
            self._open[key] = self._stack.enter_context(self._load(key))
        return self._open[key]

    def _load(self, key: tuple[str, str]) -> Any:
        from impasto.runtime.pipelines.arbitrary import ArbitraryStylizer
        from impasto.runtime.pipelines.photoreal import WCTStylizer
        from impasto.runtime.pipelines.stylizer import Stylizer

        method, path = key
        if method in _ARBITRARY_METHODS:
            return ArbitraryStylizer.load(path or None, backend=self.backend)
        if method in _WCT_METHODS:
            return WCTStylizer.load(path or None, method=method, backend=self.backend)
        return Stylizer.load(path, backend=self.backend)

    def __call__(self, spec: ModelSpec, content: np.ndarray, painting: np.ndarray) -> np.ndarray:
        from impasto.runtime.builtins import builtin_styles

        model = self._model(spec)
        if spec.takes_painting:
            return model(content, painting, **({"smooth": "none"} if spec.method == "wct" else {}))
        builtin = builtin_styles().get(spec.source)
        return model(content, style=spec.source) if builtin is not None and builtin.bank else model(content)

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


@dataclass
class Row:
    """One model's medians over its (content, painting) pairs, and the pairs' own scores."""

    model: str
    pairs: int = 0
    style_ratio: float | None = None
    multiscale_style_ratio: float | None = None
    content_distance: float | None = None
    edge_ssim: float | None = None
    seconds_per_image: float | None = None
    warping_error: float | None = None
    images: list[dict[str, Any]] = field(default_factory=list)

    def finish(self, seconds: list[float]) -> None:
        self.pairs = len(self.images)
        for key in ("style_ratio", "multiscale_style_ratio", "content_distance", "edge_ssim"):
            setattr(self, key, round(statistics.median(i[key] for i in self.images), 4))
        self.seconds_per_image = round(statistics.median(seconds), 4) if seconds else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_models(specs: list[ModelSpec], contents: list[Path], paintings: list[Path], judge: Judge,
                 renderer: Renderer, tick: Callable[[], None],
                 keep: Callable[[str, Path, np.ndarray], None]) -> list[Row]:
    """Run every model on every content photo against its paintings and score the outputs.

    ``tick`` is called once per output (a progress bar), ``keep(label, content path, output)``
    receives each content's first output per model (the contact sheet).
    """
    rows = []
    for spec in specs:
        row, seconds = Row(spec.label), []
        for painting in paintings_for(spec, paintings):
            style = read_image(painting)
            judge.add_painting(str(painting), style)
            for content in contents:
                key = str(content)
                image = judge.content_image(key) if judge.has_content(key) else \
                    judge.add_content(key, read_image(content))
                t0 = time.perf_counter()
                out = renderer(spec, image, style)
                seconds.append(time.perf_counter() - t0)
                s = judge.score(out, key, str(painting))
                row.images.append({"content": content.name, "painting": painting.name,
                                   **{k: round(v, 4) for k, v in asdict(s).items()}})
                keep(spec.label, content, out)
                tick()
        row.finish(seconds)
        rows.append(row)
    return rows


def match_outputs(folder: Path, contents: list[Path], paintings: list[Path]) -> Iterator[tuple[Path, Path, Path]]:
    """``(output, content, painting)`` for each image of ``folder`` (see the module docstring)."""
    from impasto.runtime.builtins import builtin_styles

    sources = {name: s.source for name, s in builtin_styles().items()}
    for out in image_files(folder, "--outputs"):
        content = max((c for c in contents if out.stem == c.stem or out.stem.startswith(c.stem + "_")),
                      key=lambda c: len(c.stem), default=None)
        if content is None:
            raise UserError(f"--outputs: expected {out.name} to be named after a --content photo "
                            f"(PHOTO.ext or PHOTO_STYLE.ext), got no match")
        rest = out.stem[len(content.stem) + 1:]
        named = [p for p in paintings if rest and (p.stem == rest or p.name == sources.get(rest))]
        if not named and len(paintings) != 1:
            raise UserError(f"--outputs: expected {out.name} to name its painting after {content.stem}_ "
                            "(a painting's stem or a built-in style), or one --style painting")
        yield out, content, (named or paintings)[0]


def score_outputs(folder: Path, contents: list[Path], paintings: list[Path], judge: Judge,
                  tick: Callable[[], None], keep: Callable[[str, Path, np.ndarray], None]) -> Row:
    """Score the images of ``folder`` (one row, named after the folder)."""
    row = Row(folder.name)
    for out, content, painting in match_outputs(folder, contents, paintings):
        judge.add_painting(str(painting), read_image(painting))
        if not judge.has_content(str(content)):
            judge.add_content(str(content), read_image(content))
        image = read_image(out)
        s = judge.score(image, str(content), str(painting))
        row.images.append({"content": content.name, "painting": painting.name, "output": out.name,
                           **{k: round(v, 4) for k, v in asdict(s).items()}})
        keep(row.model, content, image)
        tick()
    row.finish([])
    return row


def read_clip(clip: Path, max_frames: int, side: int) -> list[np.ndarray]:
    """Up to ``max_frames`` consecutive frames of a video file or a folder of frames, at ``side`` px longest side
    (:func:`impasto.runtime.stream.flicker.read_clip`)."""
    from impasto.runtime.stream.flicker import read_clip as read_frames

    return read_frames(clip, max_frames=max_frames, max_side=side, what="--video")


def clip_warping_error(frames: list[np.ndarray], outputs: list[np.ndarray], motions: list[Any]) -> float:
    """Mean warping error (0-255) of ``outputs`` along the content ``frames``' flow
    (:func:`impasto.runtime.stream.temporal.sequence_warping_error`, as ``tools/eval_temporal.py``)."""
    from impasto.runtime.stream.temporal import sequence_warping_error

    return sequence_warping_error(frames, outputs, motions=motions)
