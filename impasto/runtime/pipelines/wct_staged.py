"""Run a staged WCT / PhotoWCT set: the graphs convolve, NumPy transforms (torch-free).

``impasto export photowct|wct --staged`` (:mod:`impasto.export.methods.wct_staged`) writes an
encoder graph (``photowct.onnx``, carrying the set's metadata) and one graph per level
beside it. :class:`StagedWCT` opens them all on one backend and runs the pipeline of
:class:`impasto.models.photowct.StylePipeline` with the same inputs and outputs as the
one-graph export: encode the style and the content once, then from the coarsest level
on: the transform (:func:`impasto.runtime.pipelines.wct_transform.wct`, square roots by
``eigh``), that level's graph (decode, re-encode at the next level), and so on; the last
level's graph returns the outputs. :class:`~impasto.runtime.pipelines.photoreal.WCTStylizer`
uses it when its graph is a staged set's encoder.

Example:
    >>> with StagedWCT.open("photowct.onnx", backend="ort-cpu") as staged:
    ...     out = staged.run({"content": c, "style": s, "content_mask": cm, "style_mask": sm, "alpha": a})
    ...     out["stylized"]                            # (1, 3, H, W) float32 in [0, 1]

Convention:
    Feeds and outputs as :data:`impasto.contracts.PHOTOWCT` / :data:`impasto.contracts.WCT`.
    The set's files lie in one folder; the encoder's ``impasto.wct`` metadata names them
    (``"stages"``: level -> file name), and each level graph's ``impasto.wct_stage`` says
    which method, level and next level it is.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from impasto.contracts import (
    WCT_LEVEL_CHANNELS,
    WCT_STAGE_KEY,
    GraphContract,
    wct_encoder_contract,
    wct_level_contract,
)
from impasto.errors import BackendRuntimeError, ModelError
from impasto.runtime.backends.base import Backend
from impasto.runtime.backends.selection import make_backend, open_backend
from impasto.runtime.pipelines import wct_transform

#: The WCT levels, fine to coarse (as :data:`impasto.models.photowct.LEVELS`).
LEVELS: tuple[str, ...] = tuple(WCT_LEVEL_CHANNELS)


def is_staged(metadata: dict[str, str]) -> bool:
    """Whether a graph's metadata is a staged set's encoder (its ``impasto.wct`` names stages)."""
    try:
        return "stages" in json.loads(metadata.get("impasto.wct", "{}"))
    except (TypeError, ValueError):
        return False


def _check_io(backend: Backend, want: GraphContract, what: str) -> None:
    """The graph's input and output names must be the contract's, in order.

    Raises:
        ModelError: naming the file, ``what`` it should be, and both lists.
    """
    got_in, got_out = [s.name for s in backend.inputs], [s.name for s in backend.outputs]
    if got_in != list(want.input_names) or got_out != list(want.output_names):
        raise ModelError(f"model {str(backend.model_path)!r}: expected {what} with inputs {list(want.input_names)} "
                         f"and outputs {list(want.output_names)}, got {got_in} and {got_out}")


class StagedWCT:
    """An opened staged set: the encoder's backend, one backend per level, and the set's settings.

    Use :meth:`open` (a path) or :meth:`from_encoder` (an opened encoder backend).
    """

    def __init__(self, encoder: Backend, stages: dict[str, Backend], settings: dict[str, Any]) -> None:
        self.encoder, self.stages, self.settings = encoder, stages, settings
        #: The transforms' buffers, reused from run to run (:class:`wct_transform.Workspace`).
        self.workspace = wct_transform.Workspace()
        self._lock = threading.Lock()  # the workspace serves one run at a time
        self._pools = [s.name for s in encoder.outputs if s.name.startswith("pool")]
        self.levels: tuple[str, ...] = tuple(settings["levels"])
        self.photo = settings.get("kind") == "photo"
        self.output_names = list(settings.get("outputs") or (["stylized", "unsmoothed"] if self.photo
                                                              else ["stylized"]))

    @classmethod
    def open(cls, path: str | os.PathLike, backend: str = "auto", *, threads: int = 0) -> StagedWCT:
        """Open the set whose encoder graph is ``path``.

        Raises:
            ModelError: not a staged set, a missing or foreign stage graph.
            BackendUnavailableError: the backend cannot run here.
        """
        opened, selection = open_backend(path, backend, threads=threads)
        try:
            return cls.from_encoder(opened, selection.chosen, threads=threads)
        except BaseException:
            opened.close()
            raise

    @classmethod
    def from_encoder(cls, encoder: Backend, backend: str, *, threads: int = 0) -> StagedWCT:
        """The set around an opened encoder backend; its level graphs are opened on ``backend`` (a name).

        Raises:
            ModelError: see :meth:`open`; the level graphs opened here are closed again.
        """
        where = f"model {str(encoder.model_path)!r}"
        if not backend.startswith("ort"):
            raise ModelError(f"{where}: a staged WCT set runs on ONNX Runtime (its level graphs are .onnx files), "
                             f"got backend {backend!r}; export a one-graph photowct/wct for TensorRT")
        try:
            settings = json.loads(encoder.metadata["impasto.wct"])
            levels = tuple(settings["levels"])
            files = dict(settings["stages"])
            method = encoder.metadata.get("impasto.method", "")
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{where}: expected a staged WCT set's encoder graph "
                             "(impasto.wct metadata with levels and stages)") from None
        if not levels or set(files) != set(levels) or not set(levels) <= set(LEVELS):
            raise ModelError(f"{where}: expected one stage graph per level {list(levels)}, got {sorted(files)}")
        photo = settings.get("kind") == "photo"
        ordered = tuple(sorted(levels, key=LEVELS.index))
        pools = LEVELS.index(ordered[-1]) if photo else 0
        _check_io(encoder, wct_encoder_contract(ordered, pools), "a staged encoder")
        stages: dict[str, Backend] = {}
        try:
            for i, level in enumerate(levels):
                path = Path(encoder.model_path).parent / files[level]
                if Path(files[level]).name != files[level] or not path.is_file():
                    raise ModelError(f"{where}: its {level} stage graph {files[level]!r} is missing; expected it "
                                     "beside the encoder (a staged set is several files: keep them together)")
                stage = stages[level] = make_backend(path, backend, threads=threads).open()
                nxt = levels[i + 1] if i + 1 < len(levels) else None
                _check_stage(stage, method, level, nxt, LEVELS.index(level) if photo else 0, photo)
        except BaseException:
            for stage in stages.values():
                stage.close()
            raise
        return cls(encoder, stages, settings)

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Stylise: ``feed`` and the result as the one-graph form's (see the module's Convention).

        Raises:
            BackendRuntimeError: non-finite features, or a transform that cannot be computed from them.
            InputMismatchError: a feed that does not fit a graph.
        """
        with self._lock:
            return self._run(feed)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        content, style = feed["content"], feed["style"]
        alpha = float(np.asarray(feed["alpha"]).reshape(-1)[0])
        s_feats = self.encoder.run({"image": style}, list(self.levels))
        c_feats = self.encoder.run({"image": content}, [self.levels[0], *self._pools])
        c_masks, s_masks = {LEVELS[0]: feed["content_mask"]}, {LEVELS[0]: feed["style_mask"]}
        for a, b in zip(LEVELS[:-1], LEVELS[1:]):
            c_masks[b] = wct_transform.pool_mask(c_masks[a])
            s_masks[b] = wct_transform.pool_mask(s_masks[a])
        eps, min_pixels = float(self.settings["eps"]), float(self.settings["min_pixels"])
        f = c_feats[self.levels[0]]
        out: dict[str, np.ndarray] = {}
        for i, level in enumerate(self.levels):
            if not np.isfinite(f).all():
                raise BackendRuntimeError(f"model {str(self.stages[level].model_path)!r}: non-finite {level} features")
            try:
                t = wct_transform.wct(f, s_feats[level], c_masks[level], s_masks[level], alpha, eps=eps,
                                      min_pixels=min_pixels, overwrite_input=True,  # both used up here
                                      workspace=self.workspace)
            except np.linalg.LinAlgError as exc:
                raise BackendRuntimeError(f"WCT at {level}: the square roots did not converge ({exc})") from None
            del s_feats[level]
            pools = {s.name: c_feats[s.name] for s in self.stages[level].inputs if s.name.startswith("pool")}
            out = self.stages[level].run({"features": t, "content": content, **pools})
            if i + 1 < len(self.levels):
                f = out[self.levels[i + 1]]
        return out

    def close(self) -> None:
        for stage in self.stages.values():
            stage.close()
        self.encoder.close()

    def __enter__(self) -> StagedWCT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_stage(stage: Backend, method: str, level: str, nxt: str | None, pools: int, photo: bool) -> None:
    """A level graph must say it is this method's ``level`` stage and follow its contract.

    Raises:
        ModelError: naming the file, what was expected and what was got.
    """
    where = f"model {str(stage.model_path)!r}"
    try:
        info = json.loads(stage.metadata[WCT_STAGE_KEY])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{where}: expected a staged WCT level graph ({WCT_STAGE_KEY} metadata), got none") from None
    want_info = {"method": method, "level": level, "next": nxt}
    got_info = {k: info.get(k) for k in want_info}
    if got_info != want_info:
        raise ModelError(f"{where}: expected the stage {want_info}, got {got_info}")
    _check_io(stage, wct_level_contract(level, nxt, pools, photo), f"the {level} stage")
