"""The mask-restricted whitening and colouring transform in NumPy, square roots by ``eigh`` (torch-free).

The staged WCT graphs (:mod:`impasto.models.wct_stages`) leave the transform between the
encoder and each decoder to the runtime. This module computes exactly what
:func:`impasto.models.wct.wct_eigh` computes (the PyTorch reference, float64), but:

- the covariances and the transform are float32 matrix products, and only the square
  roots are float64 (``numpy.linalg.eigh`` of a ``C x C`` matrix: about 25 ms at C = 512
  on one CPU core, against about 80 ms for the 25 Newton–Schulz steps a graph needs);
- a label's statistics are computed on the pixels where its weight is non-zero, so their
  cost grows with the pixel count, not with pixels x labels; the transform is applied to
  every pixel once per label up to :data:`DENSE_LABELS` labels (full passes cost less than
  a gather and a scatter), and to each label's own pixels above; a label absent at a level
  costs nothing.

Convention:
    As :mod:`impasto.models.wct`: features ``(1, C, h, w)`` float32; label weights
    ``(1, L, h, w)`` in ``[0, 1]`` summing to 1 at every pixel; the covariance of label
    ``l`` is ``Σ_n w_ln (f_n − μ_l)(f_n − μ_l)ᵀ / Σ_n w_ln``, regularised with
    ``(eps · (tr Σ_l + tr Σ) / (2C) + EPS_FLOOR) · I`` (``Σ``: the whole image's covariance); a
    content label whose style counterpart has fewer than ``min_pixels`` weighted pixels
    at the level takes the whole style image's statistics.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Threads that compute the content's and the style's statistics and the square roots side by side
#: (NumPy and LAPACK release the GIL), each with one BLAS thread.
WORKERS = max(1, min(4, os.cpu_count() or 1))
#: Up to this many labels present at a level, the transform is applied to every pixel once per label
#: (full passes); with more, to each label's own pixels (a gather and a scatter per label).
DENSE_LABELS = 4
#: Absolute floor of the regularisation (as :data:`impasto.models.wct.EPS_FLOOR`).
EPS_FLOOR = 1e-5


def pool_mask(mask: np.ndarray) -> np.ndarray:
    """Label weights one VGG level down: 2x2 average pooling on the encoder's (floor) grid."""
    _, labels, h, w = mask.shape
    h2, w2 = h // 2, w // 2
    cut = mask[:, :, : 2 * h2, : 2 * w2].reshape(1, labels, h2, 2, w2, 2)
    return cut.mean(axis=(3, 5), dtype=np.float32)


class Workspace:
    """Named float32 buffers reused from one transform to the next (grown when a larger one is asked for).

    First-touch page faults of fresh memory cost about as much as the transform's
    arithmetic (measured on this project's VM: 0.35 s for a new 78 MB array), so a caller
    that runs many transforms (:class:`~impasto.runtime.pipelines.wct_staged.StagedWCT`)
    keeps one workspace. An array :func:`wct` returns then lives in the workspace: it is
    overwritten by the next call. Not for use by two threads at once.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous float32 array of ``shape`` in buffer ``name`` (contents undefined)."""
        n = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.size < n:
            buf = self._buffers[name] = np.empty(n, np.float32)
        return buf[:n].reshape(shape)


def _fresh(name: str, shape: tuple[int, ...], workspace: Workspace | None) -> np.ndarray:
    return workspace.array(name, shape) if workspace is not None else np.empty(shape, np.float32)


class _Stats:
    """Per-label means, regularised covariances and weight sums of ``(C, N)`` features.

    ``f`` is centred in place (the caller gives it up; :attr:`centre` restores it). A
    label's pixels are gathered into an array of their own, centred and weighted in place
    (``√w ⊙ (f − μ_l)`` for the covariance, then ``w ⊙ (f − μ_l)`` kept for the transform
    with ``keep=True``): fresh arrays are few, because first-touch page faults of new
    memory cost as much as the arithmetic (measured: 2.5–4.5 ms per MB on this project's
    VM, where ONNX Runtime's arena reuses its memory).
    """

    def __init__(self, f: np.ndarray, w: np.ndarray, eps: float, labels: list[int], keep: bool = False,
                 workspace: Workspace | None = None, side: str = "") -> None:
        c, n = f.shape
        self.centre = f.mean(axis=1, dtype=np.float64).astype(np.float32)
        f -= self.centre[:, None]
        self.f0 = f
        total = float(np.einsum("ij,ij->", f, f, dtype=np.float64)) / n  # trace of the whole covariance
        self.count = w.sum(axis=1, dtype=np.float64)
        self.cols: dict[int, np.ndarray | slice] = {}
        self.mean0: dict[int, np.ndarray] = {}  # label means, relative to the centre
        self.cov: dict[int, np.ndarray] = {}
        self.dw: dict[int, np.ndarray] = {}
        for lab in labels:
            cols = _support(w[lab])
            denom = max(self.count[lab], 1e-6)
            if isinstance(cols, slice) and bool((w[lab] == 1).all()):  # the whole image, weight 1: f0 itself
                m0 = f.mean(axis=1, dtype=np.float64).astype(np.float32)  # ~0, kept for exactness
                cov = (f @ f.T).astype(np.float64) / n - np.outer(m0, m0)
                dw = f
            else:
                wl = w[lab, cols]
                # a gathered copy: kept per label for the transform, else one scratch buffer per side
                d = _fresh(f"{side}{lab if keep else ''}", (c, wl.size), workspace)
                if isinstance(cols, slice):
                    np.copyto(d, f)
                else:
                    np.take(f, cols, axis=1, out=d)
                m0 = (d @ wl) / np.float32(denom)
                d -= m0[:, None]
                root = np.sqrt(wl)
                d *= root
                cov = (d @ d.T).astype(np.float64) / denom
                d *= root
                dw = d
            reg = eps * (np.trace(cov) + total) / (2 * c) + EPS_FLOOR
            cov[np.diag_indices(c)] += reg
            self.cols[lab], self.mean0[lab], self.cov[lab] = cols, m0, cov
            if keep:
                self.dw[lab] = dw


def _support(weights: np.ndarray) -> np.ndarray | slice:
    """The pixels where a label's weight is non-zero (a slice for all of them: no gather)."""
    nz = np.flatnonzero(weights > 0)
    return slice(None) if nz.size == weights.size else nz


_CONTROLLER: list[object] = []


def one_blas_thread():
    """A context in which NumPy's BLAS / LAPACK runs on one thread (``threadpoolctl``).

    The statistics and square roots run in :data:`WORKERS` threads of their own, each
    with one BLAS thread. LAPACK's eigendecomposition of a 512 x 512 matrix is a chain of
    small BLAS calls: on OpenBLAS's two threads, next to another busy process, it took 50x
    the time of one thread (measured: 1.56 s against 28 ms).
    """
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _roots(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ^{1/2}, Σ^{-1/2})`` of a symmetric positive definite float64 matrix, by ``eigh``."""
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, np.finfo(np.float64).tiny)
    root = np.sqrt(vals)
    return (vecs * root) @ vecs.T, (vecs / root) @ vecs.T


def wct(fc: np.ndarray, fs: np.ndarray, wc: np.ndarray, ws: np.ndarray, alpha: float, *, eps: float,
        min_pixels: float, overwrite_input: bool = False, workspace: Workspace | None = None) -> np.ndarray:
    """Mask-restricted WCT of content features towards style features, blended by ``alpha``.

    Args:
        fc: ``(1, C, h, w)`` content features.
        fs: ``(1, C, hs, ws)`` style features.
        wc: ``(1, L, h, w)`` content label weights (one all-ones channel: no masks).
        ws: ``(1, L, hs, ws)`` style label weights, the same labels in the same order.
        alpha: 0 keeps the content features, 1 is the full transform.
        eps: relative covariance regularisation.
        min_pixels: weighted style pixels a label needs at this level to be used.
        overwrite_input: ``fc`` and ``fs`` (float32, C-contiguous) may be used as work space
            and are left changed: two feature-sized copies fewer.
        workspace: reuse its buffers (the result then lives in it, see :class:`Workspace`).

    Returns:
        ``(1, C, h, w)`` float32: ``alpha * WCT(fc) + (1 - alpha) * fc``.

    Raises:
        ValueError: shapes that do not fit together (expected ... got ...).
    """
    if fc.ndim != 4 or fs.ndim != 4 or fc.shape[1] != fs.shape[1]:
        raise ValueError(f"wct: expected content and style features 1xCxHxW with the same C, "
                         f"got {fc.shape} and {fs.shape}")
    if wc.shape[1] != ws.shape[1] or wc.shape[2:] != fc.shape[2:] or ws.shape[2:] != fs.shape[2:]:
        raise ValueError(f"wct: expected label weights 1xLxhxw matching the features, got {wc.shape} for "
                         f"{fc.shape} and {ws.shape} for {fs.shape}")
    return _wct(fc, fs, wc, ws, alpha, eps, min_pixels, overwrite_input, workspace)


def _work_copy(a: np.ndarray, overwrite: bool) -> np.ndarray:
    """``a`` as ``(C, N)`` float32 that the statistics may centre in place."""
    c = a.shape[1]
    if overwrite and a.dtype == np.float32 and a.flags.c_contiguous:
        return a.reshape(c, -1)
    return a.reshape(c, -1).astype(np.float32)


def _wct(fc: np.ndarray, fs: np.ndarray, wc: np.ndarray, ws: np.ndarray, alpha: float, eps: float,
         min_pixels: float, overwrite: bool, workspace: Workspace | None) -> np.ndarray:
    c = fc.shape[1]
    shape = fc.shape
    f = _work_copy(fc, overwrite)
    g = _work_copy(fs, overwrite)
    w = wc.reshape(wc.shape[1], -1).astype(np.float32, copy=False)
    v = ws.reshape(ws.shape[1], -1).astype(np.float32, copy=False)
    n_labels = w.shape[0]
    v = np.concatenate([v, np.ones_like(v[:1])], axis=0)  # the last row: the whole style image
    present = [lab for lab in range(n_labels) if w[lab].max() > 0]
    style_count = v.sum(axis=1, dtype=np.float64)
    chosen = {lab: lab if style_count[lab] >= min_pixels else n_labels for lab in present}
    with one_blas_thread(), ThreadPoolExecutor(max_workers=WORKERS) as pool:  # content and style side by side
        dense = 1 < len(present) <= DENSE_LABELS
        c_job = pool.submit(_Stats, f, w, eps, present, not dense, workspace, "content")
        style = _Stats(g, v, eps, sorted(set(chosen.values())), False, workspace, "style")
        del g
        content = c_job.result()
        keys = [("s", s) for s in sorted(set(chosen.values()))] + [("c", lab) for lab in present]
        mats = [style.cov[k] if side == "s" else content.cov[k] for side, k in keys]
        solved = dict(zip(keys, pool.map(_roots, mats)))
    transforms = {lab: ((solved[("s", chosen[lab])][0] @ solved[("c", lab)][1]).astype(np.float32),
                        style.mean0[chosen[lab]] + style.centre) for lab in present}
    out = None
    if dense:  # Σ_l w_l ⊙ (T_l f0 + b_l) over every pixel: a few full passes, no gather or scatter
        out, tmp = _fresh("out", f.shape, workspace), _fresh("part", f.shape, workspace)
        bias = np.zeros((c, n_labels), np.float32)
        for i, lab in enumerate(present):
            t, ms = transforms[lab]
            target = out if i == 0 else tmp
            np.matmul(t, content.f0, out=target)
            target *= w[lab]
            if i:
                out += target
            bias[:, lab] = ms - t @ content.mean0[lab]
        np.matmul(bias, w, out=tmp)
        out += tmp
    for lab in present if not dense else ():
        t, ms = transforms[lab]
        cols = content.cols[lab]
        dw = content.dw.pop(lab)
        if dw is content.f0:  # one label over the whole image: T (f − μc) + μs, one new array
            out = _fresh("out", f.shape, workspace)
            np.matmul(t, dw, out=out)
            out += (ms - t @ content.mean0[lab])[:, None]
            continue
        if out is None:
            out = _fresh("out", f.shape, workspace)
            out.fill(0.0)
        part = _fresh("part", (c, dw.shape[1]), workspace)
        np.matmul(t, dw, out=part)
        del dw
        part += ms[:, None] * w[lab, cols]
        out[:, cols] += part
    if out is None:
        out = _fresh("out", f.shape, workspace)
        out.fill(0.0)
    if n_labels > 1:
        out /= np.maximum(w.sum(axis=0), np.float32(1e-6))
    if alpha != 1.0:  # alpha · out + (1 − alpha) · fc, with fc = f0 + centre, in place
        out *= np.float32(alpha)
        f0 = content.f0
        f0 *= np.float32(1.0 - alpha)
        out += f0
        out += (np.float32(1.0 - alpha) * content.centre)[:, None]
    return out.reshape(shape)
