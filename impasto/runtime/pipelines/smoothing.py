"""Exact photorealistic smoothing: FastPhotoStyle's matting-affinity solve (CPU, scipy, torch-free).

Li et al. (2018), eq. 5: with ``W`` the matting affinity of the content photo (Levin,
Lischinski & Weiss 2008: ``3x3`` windows, ``eps``), ``D`` its degree matrix,
``S = D^{-1/2} W D^{-1/2}`` and ``α = 1 / (1 + λ)``, the smoothed image is::

    R = (1 − α) (I − α S)^{-1} Y

for the stylised image ``Y`` (each colour channel a right-hand side). ``I − α S`` is
sparse (25 entries per row) and factorised once with SuperLU
(``scipy.sparse.linalg.splu``), then solved for the three channels. Both images are
first reflect-padded by :data:`PAD` pixels (and the result cropped): a border pixel lies
in fewer ``3x3`` windows, so its degree is smaller and the ``D^{-1/2}`` normalisation
would darken a one-pixel frame around the image.

Memory grows faster than the pixel count (the LU factor's fill-in: ~2e8 non-zeros for a
700x437 photo; ``impasto photoreal --smooth exact`` on it peaked at 4.7 GB resident, the
graph's session included), so images over :data:`DEFAULT_MAX_PIXELS` are refused with a
message that points to ``--smooth fast`` (the guided filter inside the graph) or
``--max-size``. ``impasto photoreal`` runs this solve at its working size (at most this
limit by default) and upsamples the result
(:mod:`impasto.runtime.pipelines.guided_upsample`), so larger photos get here shrunk.

scipy is imported only when this runs (``pip install "impasto[photoreal]"``).

Convention:
    Images are ``HxWx3`` uint8 RGB; the result has the stylised image's size, which
    must equal the content's.
"""

from __future__ import annotations

import numpy as np

from impasto.errors import ImageError, UserError

#: Largest image (pixels) the exact solve accepts by default.
DEFAULT_MAX_PIXELS = 500_000
#: FastPhotoStyle's defaults: data-term weight λ and the matting regulariser (on [0, 1] colours).
DEFAULT_LAMBDA = 1e-4
DEFAULT_MATTING_EPS = 1e-7
#: Reflect padding around the solve (see the module docstring).
PAD = 2


def _scipy():
    try:
        import scipy.sparse
        import scipy.sparse.linalg
    except ImportError:
        raise UserError("--smooth exact: needs scipy (pip install 'impasto[photoreal]'); "
                        "or use --smooth fast") from None
    return scipy


def check_size(height: int, width: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise :class:`ImageError` if a ``height x width`` image is too large for the exact solve."""
    if height * width > max_pixels:
        raise ImageError(f"--smooth exact: {width}x{height} = {height * width / 1e6:.2f} MP exceeds its limit of "
                         f"{max_pixels / 1e6:.2f} MP "
                         "(the sparse factorisation's memory grows faster than the pixel count); "
                         "use --smooth fast, or --max-size to shrink the image")


def matting_affinity(image: np.ndarray, eps: float = DEFAULT_MATTING_EPS):
    """The matting affinity ``W`` of an RGB image (float in ``[0, 1]``), as a scipy CSR matrix.

    ``W_ij = Σ_k 1/|w_k| (1 + (I_i − μ_k)ᵀ (Σ_k + eps/|w_k| U)^{-1} (I_j − μ_k))`` over the
    ``3x3`` windows ``w_k`` that contain both pixels (Levin et al. 2008, eq. 12 without
    the ``δ_ij`` term: ``L = D − W``).
    """
    sp = _scipy().sparse
    h, w, _ = image.shape
    img = image.astype(np.float64)
    n_win = 9
    # the 9 pixels of every interior window, as flat indices: (K, 9)
    idx = np.arange(h * w).reshape(h, w)
    win_idx = np.stack([idx[dy:h - 2 + dy, dx:w - 2 + dx].ravel() for dy in range(3) for dx in range(3)], axis=1)
    win = img.reshape(-1, 3)[win_idx]  # (K, 9, 3)
    mu = win.mean(axis=1, keepdims=True)  # (K, 1, 3)
    d = win - mu
    cov = np.einsum("kni,knj->kij", d, d) / n_win + (eps / n_win) * np.eye(3)
    inv = np.linalg.inv(cov)  # (K, 3, 3)
    vals = (1.0 + np.einsum("kni,kij,kmj->knm", d, inv, d)) / n_win  # (K, 9, 9)
    rows = np.repeat(win_idx, n_win, axis=1).ravel()
    cols = np.tile(win_idx, (1, n_win)).ravel()
    return sp.csr_matrix((vals.ravel(), (rows, cols)), shape=(h * w, h * w))


def matting_smooth(stylized: np.ndarray, content: np.ndarray, *, lam: float = DEFAULT_LAMBDA,
                   eps: float = DEFAULT_MATTING_EPS, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Smooth ``stylized`` with the content's matting affinity (see the module docstring).

    Args:
        stylized: ``HxWx3`` uint8 RGB, the raw stylisation.
        content: ``HxWx3`` uint8 RGB of the same size: the photo whose edges to keep.
        lam: data-term weight λ (smaller: smoother, closer to an affine function of the
            content in every window).
        eps: matting regulariser.
        max_pixels: refuse larger images (memory of the sparse factorisation).

    Raises:
        ImageError: sizes differ, or the image exceeds ``max_pixels``.
        UserError: scipy is not installed.
    """
    if stylized.shape != content.shape:
        raise ImageError(f"--smooth exact: expected the stylised image and the content to have one size, "
                         f"got {stylized.shape[1]}x{stylized.shape[0]} and {content.shape[1]}x{content.shape[0]}")
    h, w = content.shape[:2]
    check_size(h, w, max_pixels)
    if h < 3 or w < 3:
        raise ImageError(f"--smooth exact: expected an image of at least 3x3 pixels, got {w}x{h}")
    scipy = _scipy()
    sp = scipy.sparse
    import cv2

    content = cv2.copyMakeBorder(content, PAD, PAD, PAD, PAD, cv2.BORDER_REFLECT_101)
    stylized = cv2.copyMakeBorder(stylized, PAD, PAD, PAD, PAD, cv2.BORDER_REFLECT_101)
    h, w = content.shape[:2]
    weights = matting_affinity(content.astype(np.float64) / 255.0, eps)
    degree = np.asarray(weights.sum(axis=0)).ravel()
    dinv = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    dm = sp.diags(dinv)
    s = dm @ weights @ dm
    alpha = 1.0 / (1.0 + lam)
    a = (sp.identity(h * w, format="csr") - alpha * s).tocsc()
    y = stylized.reshape(-1, 3).astype(np.float64) / 255.0
    lu = scipy.sparse.linalg.splu(a)
    r = (1.0 - alpha) * lu.solve(y)
    r = r.reshape(h, w, 3)[PAD:h - PAD, PAD:w - PAD]
    return np.clip(np.rint(r * 255.0), 0, 255).astype(np.uint8)
